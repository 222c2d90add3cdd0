package io.securejeebs.monitor.tcp;

/**
 * TCP options as the handshake settled them.
 *
 * @param clientMss the MSS the client advertised: the largest segment a restored server socket may send
 * @param clientWindowScale the shift the client advertised (scales windows the client sends), or 0
 * @param serverWindowScale the shift the server advertised, or 0
 */
public record NegotiatedOptions(int clientMss, boolean sackPermitted, boolean windowScaling,
                                int clientWindowScale, int serverWindowScale, boolean timestamps) {

    /** RFC 9293 §3.7.1: without the option, the MSS defaults to 536 for IPv4. */
    public static final int DEFAULT_MSS = 536;

    static NegotiatedOptions of(TcpSegment syn, TcpSegment synAck) {
        boolean wscale = syn.windowScale >= 0 && synAck.windowScale >= 0;
        return new NegotiatedOptions(
                syn.mss > 0 ? syn.mss : DEFAULT_MSS,
                syn.sackPermitted && synAck.sackPermitted,
                wscale,
                wscale ? syn.windowScale : 0,
                wscale ? synAck.windowScale : 0,
                syn.hasTimestamp && synAck.hasTimestamp);
    }
}
