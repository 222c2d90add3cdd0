package io.securejeebs.monitor.tcp;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/** What the capture path saw and skipped. Skipped frames are counted here, never thrown. */
public final class FrameCounters {
    public final LongAdder frames = new LongAdder();
    public final LongAdder bytes = new LongAdder();
    public final LongAdder tcpSegments = new LongAdder();
    public final LongAdder notIpv4 = new LongAdder();
    public final LongAdder notTcp = new LongAdder();
    public final LongAdder fragments = new LongAdder();
    public final LongAdder malformed = new LongAdder();
    public final LongAdder truncatedHeaders = new LongAdder();
    public final LongAdder truncatedPayloads = new LongAdder();
    public final LongAdder notWatched = new LongAdder();
    public final LongAdder withoutConnection = new LongAdder();
    /** Segments of a tracked connection that its receiver's kernel ignores too (out of window, spoofed…). */
    public final LongAdder ignoredSegments = new LongAdder();
    /** Handshakes forgotten to make room for newer ones (a SYN flood), or after the SYN-RECV timeout. */
    public final LongAdder handshakesEvicted = new LongAdder();
    public final LongAdder handshakesExpired = new LongAdder();

    public Map<String, Long> asMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("frames", frames.sum());
        m.put("bytes", bytes.sum());
        m.put("tcp-segments", tcpSegments.sum());
        m.put("skipped-not-ipv4", notIpv4.sum());
        m.put("skipped-not-tcp", notTcp.sum());
        m.put("skipped-ip-fragments", fragments.sum());
        m.put("skipped-malformed", malformed.sum());
        m.put("skipped-truncated-headers", truncatedHeaders.sum());
        m.put("truncated-payloads", truncatedPayloads.sum());
        m.put("not-watched", notWatched.sum());
        m.put("without-connection", withoutConnection.sum());
        m.put("ignored-unacceptable", ignoredSegments.sum());
        m.put("handshakes-evicted", handshakesEvicted.sum());
        m.put("handshakes-expired", handshakesExpired.sum());
        return m;
    }

    @Override
    public String toString() {
        return asMap().toString();
    }
}
