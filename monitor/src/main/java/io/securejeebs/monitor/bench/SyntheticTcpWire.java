package io.securejeebs.monitor.bench;

import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;

/**
 * The frames of one synthetic IPv4 TCP connection to port 22, built in memory (Ethernet, IPv4, TCP with
 * timestamps; both sequence spaces kept) and fed through the live {@link FrameDecoder} into a
 * {@link ConnectionTable}: a recorded session replayed as if captured, for benchmarks and the warm-up.
 */
public final class SyntheticTcpWire {
    private static final int ANNOUNCED_MSS = 1460;

    private final ConnectionTable table;
    private final FrameDecoder decoder;
    private final int server;
    private final int clientAddress;
    private final int clientPort;
    private int clientSeq = 0x1000_0000;
    private int serverSeq = 0x7000_0000;
    private int ts = 1000;
    private long micros = 1_700_000_000_000_000L;

    public SyntheticTcpWire(ConnectionTable table, FrameDecoder decoder, int server, int clientAddress, int clientPort) {
        this.server = server;
        this.table = table;
        this.decoder = decoder;
        this.clientAddress = clientAddress;
        this.clientPort = clientPort;
    }

    /** SYN, SYN-ACK, ACK, with MSS, SACK-permitted, timestamps and window scale. */
    public void handshake() {
        send(true, clientSeq, 0, TcpSegment.SYN, true, null, 0, 0);
        clientSeq++;
        send(false, serverSeq, clientSeq, TcpSegment.SYN | TcpSegment.ACK, true, null, 0, 0);
        serverSeq++;
        ack(true);
    }

    /** The receive window each side advertises: 502 << 7 (window scale 7). */
    public static final int WINDOW = 502 << 7;

    /** The largest data segment: what fits an IPv4 packet with this wire's TCP options. */
    public static final int MAX_SEGMENT = 65535 - 20 - 32;

    /**
     * One data segment: within the MSS the handshake announced, or up to {@link #MAX_SEGMENT}, as a TSO/GRO
     * super-frame is captured.
     */
    public void data(boolean fromClient, byte[] b, int off, int len) {
        if (len > MAX_SEGMENT) {
            throw new IllegalArgumentException("a segment of " + len + " bytes does not fit an IPv4 packet");
        }
        int seq = fromClient ? clientSeq : serverSeq;
        send(fromClient, seq, fromClient ? serverSeq : clientSeq, TcpSegment.ACK | TcpSegment.PSH, false, b, off, len);
        if (fromClient) {
            clientSeq += len;
        } else {
            serverSeq += len;
        }
    }

    /** The capture time the next frame gets (each frame is 10 µs after the one before). */
    public long nowMicros() {
        return micros + 10;
    }

    /** A pure ACK from that side of everything the other side sent. */
    public void ack(boolean fromClient) {
        send(fromClient, fromClient ? clientSeq : serverSeq, fromClient ? serverSeq : clientSeq, TcpSegment.ACK,
                false, null, 0, 0);
    }

    private void send(boolean fromClient, int seq, int ack, int flags, boolean syn, byte[] b, int off, int len) {
        int optLen = syn ? 20 : 12; // SYN: MSS, SACK-permitted, timestamps, window scale; else timestamps
        int tcpLen = 20 + optLen;
        byte[] f = new byte[14 + 20 + tcpLen + len];
        f[12] = 0x08; // IPv4
        int ip = 14;
        int total = 20 + tcpLen + len;
        f[ip] = 0x45;
        f[ip + 2] = (byte) (total >> 8);
        f[ip + 3] = (byte) total;
        f[ip + 6] = 0x40; // DF
        f[ip + 8] = 64;
        f[ip + 9] = 6;
        put32(f, ip + 12, fromClient ? clientAddress : server);
        put32(f, ip + 16, fromClient ? server : clientAddress);
        int t = ip + 20;
        int src = fromClient ? clientPort : 22;
        int dst = fromClient ? 22 : clientPort;
        f[t] = (byte) (src >> 8);
        f[t + 1] = (byte) src;
        f[t + 2] = (byte) (dst >> 8);
        f[t + 3] = (byte) dst;
        put32(f, t + 4, seq);
        put32(f, t + 8, ack);
        f[t + 12] = (byte) ((tcpLen / 4) << 4);
        f[t + 13] = (byte) flags;
        f[t + 14] = (byte) 0x01; // window 502 << 7
        f[t + 15] = (byte) 0xf6;
        int o = t + 20;
        if (syn) {
            f[o] = 2; f[o + 1] = 4; f[o + 2] = (byte) (ANNOUNCED_MSS >> 8); f[o + 3] = (byte) ANNOUNCED_MSS;
            f[o + 4] = 4; f[o + 5] = 2;
            o += 6;
        } else {
            f[o] = 1; f[o + 1] = 1;
            o += 2;
        }
        f[o] = 8; f[o + 1] = 10;
        put32(f, o + 2, ts++);
        put32(f, o + 6, ts - 2);
        o += 10;
        if (syn) {
            f[o] = 1; f[o + 1] = 3; f[o + 2] = 3; f[o + 3] = 7;
        }
        if (len > 0) {
            System.arraycopy(b, off, f, t + tcpLen, len);
        }
        TcpSegment s = decoder.decode(f, micros += 10);
        if (s == null) {
            throw new IllegalStateException("a synthetic frame did not decode");
        }
        table.onSegment(s);
    }

    private static void put32(byte[] b, int i, int v) {
        b[i] = (byte) (v >>> 24);
        b[i + 1] = (byte) (v >>> 16);
        b[i + 2] = (byte) (v >>> 8);
        b[i + 3] = (byte) v;
    }
}
