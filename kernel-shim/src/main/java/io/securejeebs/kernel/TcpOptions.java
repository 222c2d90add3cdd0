package io.securejeebs.kernel;

/**
 * TCP options negotiated on the SYN / SYN-ACK of a connection.
 *
 * @param mss           the peer's MSS (what our segments may carry), 1..65535. The kernel itself
 *                      rejects values below 88 (TCP_MIN_MSS) when a socket is restored.
 * @param sackPermitted both sides sent SACK-permitted
 * @param windowScaling both sides sent the window-scale option
 * @param sndWscale     the shift the PEER advertised; it scales the windows we receive (0..14)
 * @param rcvWscale     the shift WE advertised; it scales the windows we send (0..14)
 * @param timestamps    both sides use RFC 7323 timestamps
 */
public record TcpOptions(int mss, boolean sackPermitted, boolean windowScaling, int sndWscale, int rcvWscale,
                         boolean timestamps) {

    /** Largest window-scale shift allowed by RFC 7323 (and TCP_MAX_WSCALE in Linux). */
    public static final int MAX_WSCALE = 14;

    public TcpOptions {
        if (mss < 1 || mss > 65535) {
            throw new IllegalArgumentException("mss out of range 1..65535: " + mss);
        }
        if (sndWscale < 0 || sndWscale > MAX_WSCALE) {
            throw new IllegalArgumentException("sndWscale out of range 0..14: " + sndWscale);
        }
        if (rcvWscale < 0 || rcvWscale > MAX_WSCALE) {
            throw new IllegalArgumentException("rcvWscale out of range 0..14: " + rcvWscale);
        }
    }
}
