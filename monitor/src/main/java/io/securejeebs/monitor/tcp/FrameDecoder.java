package io.securejeebs.monitor.tcp;

/**
 * Decodes captured link-layer frames down to a {@link TcpSegment} by hand, without building packet
 * objects: the capture path must keep up with line rate on two shared cores. Anything that is not a
 * well-formed IPv4/TCP segment is counted in {@link FrameCounters} and skipped.
 *
 * <p>Checksums are deliberately not verified: with checksum offload the captured copy of a locally
 * sent segment carries a partial checksum.
 */
public final class FrameDecoder {
    /** pcap link types we understand. */
    public static final int DLT_EN10MB = 1;
    public static final int DLT_RAW = 12;
    public static final int DLT_IPV4 = 228;
    public static final int DLT_LINUX_SLL = 113;
    public static final int DLT_RAW_ALT = 101;

    private static final int ETHERTYPE_IPV4 = 0x0800;
    private static final int ETHERTYPE_VLAN = 0x8100;
    private static final int ETHERTYPE_QINQ = 0x88a8;

    private final int linkType;
    private final FrameCounters counters;
    private final TcpSegment segment = new TcpSegment();

    public FrameDecoder(int linkType, FrameCounters counters) {
        if (linkType != DLT_EN10MB && linkType != DLT_LINUX_SLL && linkType != DLT_RAW
                && linkType != DLT_RAW_ALT && linkType != DLT_IPV4) {
            throw new IllegalArgumentException("unsupported pcap link type " + linkType
                    + " (supported: Ethernet, Linux cooked, raw IPv4)");
        }
        this.linkType = linkType;
        this.counters = counters;
    }

    /**
     * @param frame the captured bytes (caplen = {@code frame.length})
     * @return the decoded segment (a reused instance), or null if the frame was counted and skipped
     */
    public TcpSegment decode(byte[] frame, long timestampMicros) {
        return decode(frame, frame.length, timestampMicros);
    }

    public TcpSegment decode(byte[] frame, int caplen, long timestampMicros) {
        counters.frames.increment();
        counters.bytes.add(caplen);
        int ip;
        switch (linkType) {
            case DLT_EN10MB -> {
                if (caplen < 14) {
                    counters.truncatedHeaders.increment();
                    return null;
                }
                int type = u16(frame, 12);
                ip = 14;
                while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) {
                    if (caplen < ip + 4) {
                        counters.truncatedHeaders.increment();
                        return null;
                    }
                    type = u16(frame, ip + 2);
                    ip += 4;
                }
                if (type != ETHERTYPE_IPV4) {
                    counters.notIpv4.increment();
                    return null;
                }
            }
            case DLT_LINUX_SLL -> {
                if (caplen < 16) {
                    counters.truncatedHeaders.increment();
                    return null;
                }
                if (u16(frame, 14) != ETHERTYPE_IPV4) {
                    counters.notIpv4.increment();
                    return null;
                }
                ip = 16;
            }
            default -> ip = 0;
        }
        return decodeIpv4(frame, caplen, ip, timestampMicros);
    }

    private TcpSegment decodeIpv4(byte[] f, int caplen, int ip, long ts) {
        if (caplen < ip + 20) {
            counters.truncatedHeaders.increment();
            return null;
        }
        int vihl = f[ip] & 0xff;
        if ((vihl >>> 4) != 4) {
            counters.notIpv4.increment();
            return null;
        }
        int ihl = (vihl & 0x0f) * 4;
        int totalLength = u16(f, ip + 2);
        if (ihl < 20 || totalLength < ihl) {
            counters.malformed.increment();
            return null;
        }
        int fragment = u16(f, ip + 6);
        if ((fragment & 0x3fff) != 0) { // MF set or a non-zero offset
            counters.fragments.increment();
            return null;
        }
        if ((f[ip + 9] & 0xff) != 6) {
            counters.notTcp.increment();
            return null;
        }
        int tcp = ip + ihl;
        int ipEnd = ip + totalLength; // Ethernet padding after this is ignored
        if (caplen < tcp + 20) {
            counters.truncatedHeaders.increment();
            return null;
        }
        int dataOffset = ((f[tcp + 12] & 0xff) >>> 4) * 4;
        if (dataOffset < 20 || tcp + dataOffset > ipEnd) {
            counters.malformed.increment();
            return null;
        }
        if (caplen < tcp + dataOffset) {
            counters.truncatedHeaders.increment();
            return null;
        }
        TcpSegment s = segment;
        s.reset();
        s.srcAddress = i32(f, ip + 12);
        s.dstAddress = i32(f, ip + 16);
        s.srcPort = u16(f, tcp);
        s.dstPort = u16(f, tcp + 2);
        s.seq = i32(f, tcp + 4);
        s.ack = i32(f, tcp + 8);
        s.flags = f[tcp + 13] & 0x3f;
        s.window = u16(f, tcp + 14);
        if (!parseOptions(f, tcp + 20, tcp + dataOffset, s)) {
            counters.malformed.increment();
            return null;
        }
        int payload = tcp + dataOffset;
        int claimed = ipEnd - payload;
        int present = Math.max(0, Math.min(caplen, ipEnd) - payload);
        s.frame = f;
        s.payloadOffset = payload;
        s.payloadLength = present;
        if (present < claimed) {
            s.payloadTruncated = true;
            counters.truncatedPayloads.increment();
        }
        s.timestampMicros = ts;
        counters.tcpSegments.increment();
        return s;
    }

    private static boolean parseOptions(byte[] f, int p, int end, TcpSegment s) {
        while (p < end) {
            int kind = f[p] & 0xff;
            if (kind == 0) {
                return true; // end of option list
            }
            if (kind == 1) {
                p++;
                continue;
            }
            if (p + 1 >= end) {
                return false;
            }
            int len = f[p + 1] & 0xff;
            if (len < 2 || p + len > end) {
                return false;
            }
            switch (kind) {
                case 2 -> {
                    if (len != 4) return false;
                    s.mss = u16(f, p + 2);
                }
                case 3 -> {
                    if (len != 3) return false;
                    s.windowScale = Math.min(14, f[p + 2] & 0xff); // RFC 7323 §2.3: clamp to 14
                }
                case 4 -> s.sackPermitted = true;
                case 8 -> {
                    if (len != 10) return false;
                    s.hasTimestamp = true;
                    s.tsVal = i32(f, p + 2);
                    s.tsEcr = i32(f, p + 6);
                }
                default -> { /* SACK blocks and others: not needed for state */ }
            }
            p += len;
        }
        return true;
    }

    static int u16(byte[] b, int i) {
        return ((b[i] & 0xff) << 8) | (b[i + 1] & 0xff);
    }

    static int i32(byte[] b, int i) {
        return ((b[i] & 0xff) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
    }
}
