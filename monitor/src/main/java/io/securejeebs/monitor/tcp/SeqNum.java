package io.securejeebs.monitor.tcp;

/** TCP sequence-number arithmetic modulo 2^32 (RFC 793 / RFC 1982 serial comparison). */
public final class SeqNum {
    private SeqNum() {}

    /** Signed distance from {@code from} to {@code to}, valid while |distance| < 2^31. */
    public static int diff(int to, int from) {
        return to - from;
    }

    public static boolean after(int a, int b) {
        return a - b > 0;
    }

    public static boolean afterOrEqual(int a, int b) {
        return a - b >= 0;
    }

    public static boolean before(int a, int b) {
        return a - b < 0;
    }

    /** Renders a sequence number as the unsigned value tcpdump prints. */
    public static String toString(int seq) {
        return Integer.toUnsignedString(seq);
    }
}
