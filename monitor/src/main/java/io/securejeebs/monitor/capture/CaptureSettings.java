package io.securejeebs.monitor.capture;

import java.time.Duration;

/**
 * How to open the live capture.
 *
 * @param interfaceName the interface that sees the primary's traffic (mirror port, hub, flooding bridge)
 * @param snaplen bytes kept per frame; must cover a whole TSO/GRO super-frame (up to ~64 KiB), or payload is lost
 * @param bufferBytes the kernel ring buffer size
 * @param promiscuous needed when the frames are not addressed to this host (bridge, mirror port)
 * @param blockTimeout how long the kernel fills a block of the capture ring before handing it over anyway: the
 *                     most a captured frame waits before the monitor sees it on a quiet link (see {@link LiveCapture})
 */
public record CaptureSettings(String interfaceName, int snaplen, int bufferBytes, boolean promiscuous,
                              Duration blockTimeout) {
    public static final Duration DEFAULT_BLOCK_TIMEOUT = Duration.ofMillis(10);

    public CaptureSettings(String interfaceName, int snaplen, int bufferBytes, boolean promiscuous) {
        this(interfaceName, snaplen, bufferBytes, promiscuous, DEFAULT_BLOCK_TIMEOUT);
    }

    public CaptureSettings {
        if (interfaceName == null || interfaceName.isBlank()) {
            throw new IllegalArgumentException("capture interface is required");
        }
        if (snaplen < 1514) {
            throw new IllegalArgumentException("snaplen " + snaplen + " is too small to hold one full frame");
        }
        if (bufferBytes < 1 << 20) {
            throw new IllegalArgumentException("capture buffer " + bufferBytes + " is below 1 MiB");
        }
        if (blockTimeout == null || blockTimeout.toMillis() < 1 || blockTimeout.toMillis() > 1000) {
            throw new IllegalArgumentException("capture block timeout " + blockTimeout + " is not within 1 ms .. 1 s");
        }
    }
}
