package io.securejeebs.monitor.tcp;

/**
 * One decoded TCP segment. The payload is not copied: it is {@code payloadLength} bytes of {@code frame}
 * from {@code payloadOffset}, valid only while the frame is. A single instance is reused by
 * {@link FrameDecoder} for every frame, so consumers must copy what they keep.
 */
public final class TcpSegment {
    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;

    public int srcAddress;
    public int dstAddress;
    public int srcPort;
    public int dstPort;
    public int seq;
    public int ack;
    public int flags;
    /** The raw 16-bit window field, not yet scaled. */
    public int window;

    /** Options; -1 (or false) when the option is absent. */
    public int mss;
    public int windowScale;
    public boolean sackPermitted;
    public boolean hasTimestamp;
    public int tsVal;
    public int tsEcr;

    public byte[] frame;
    public int payloadOffset;
    /** Bytes of payload present in the frame. */
    public int payloadLength;
    /** True when the IP header claims more payload than the capture holds (snaplen cut it). */
    public boolean payloadTruncated;
    /** Capture time, microseconds since the epoch. */
    public long timestampMicros;

    public boolean has(int flag) {
        return (flags & flag) != 0;
    }

    void reset() {
        flags = 0;
        mss = -1;
        windowScale = -1;
        sackPermitted = false;
        hasTimestamp = false;
        tsVal = 0;
        tsEcr = 0;
        payloadTruncated = false;
        payloadLength = 0;
    }

    /** A copy that owns its payload (a new frame holding only the payload), for keeping past this frame. */
    public TcpSegment copy() {
        TcpSegment c = new TcpSegment();
        c.srcAddress = srcAddress;
        c.dstAddress = dstAddress;
        c.srcPort = srcPort;
        c.dstPort = dstPort;
        c.seq = seq;
        c.ack = ack;
        c.flags = flags;
        c.window = window;
        c.mss = mss;
        c.windowScale = windowScale;
        c.sackPermitted = sackPermitted;
        c.hasTimestamp = hasTimestamp;
        c.tsVal = tsVal;
        c.tsEcr = tsEcr;
        c.frame = java.util.Arrays.copyOfRange(frame == null ? new byte[0] : frame, payloadOffset,
                payloadOffset + payloadLength);
        c.payloadOffset = 0;
        c.payloadLength = payloadLength;
        c.payloadTruncated = payloadTruncated;
        c.timestampMicros = timestampMicros;
        return c;
    }

    public Endpoint source() {
        return new Endpoint(srcAddress, srcPort);
    }

    public Endpoint destination() {
        return new Endpoint(dstAddress, dstPort);
    }
}
