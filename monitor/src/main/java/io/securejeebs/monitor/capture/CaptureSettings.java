package io.securejeebs.monitor.capture;

/**
 * How to open the live capture.
 *
 * @param interfaceName the interface that sees the primary's traffic (mirror port, hub, flooding bridge)
 * @param snaplen bytes kept per frame; must cover a whole TSO/GRO super-frame (up to ~64 KiB), or payload is lost
 * @param bufferBytes the kernel ring buffer size
 * @param promiscuous needed when the frames are not addressed to this host (bridge, mirror port)
 */
public record CaptureSettings(String interfaceName, int snaplen, int bufferBytes, boolean promiscuous) {
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
    }
}
