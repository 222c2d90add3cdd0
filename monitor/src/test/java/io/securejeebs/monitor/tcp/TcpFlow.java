package io.securejeebs.monitor.tcp;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * TEST FIXTURE: a clean TCP connection between {@link #KEY}'s client and server, as captured frames
 * ({@link Frames}): the handshake (MSS, SACK, timestamps, window scaling), then each chunk a side writes cut into
 * segments of at most {@code mss} bytes (or of random sizes), each segment acknowledging all the other side sent,
 * and the receiver's pure ACK after the chunk. The bytes are whatever the caller hands in, e.g. a real SSH
 * session's, chunk by chunk as a relay saw them.
 */
public final class TcpFlow {
    public static final ConnectionKey KEY = new ConnectionKey(new Endpoint(Frames.CLIENT, Frames.CLIENT_PORT),
            new Endpoint(Frames.VIP, Frames.SERVICE_PORT));

    /** One captured frame and its capture time. */
    public record Frame(byte[] bytes, long micros, boolean fromClient, int payloadLength) {}

    private final int clientPort;
    private final int clientIsn;
    private final int serverIsn;
    private final Random segmentSizes;
    private final int mss;
    private int clientNext;
    private int serverNext;
    private int clientTs = 1000;
    private int serverTs = 700_000;
    private long micros;
    private final List<Frame> frames = new ArrayList<>();

    /**
     * @param segmentSizes random segment sizes (1 to {@code mss}) when not null, else full-sized segments
     */
    public TcpFlow(int clientIsn, int serverIsn, long startMicros, int mss, Random segmentSizes) {
        this(Frames.CLIENT_PORT, clientIsn, serverIsn, startMicros, mss, segmentSizes);
    }

    public TcpFlow(int clientPort, int clientIsn, int serverIsn, long startMicros, int mss, Random segmentSizes) {
        this.clientPort = clientPort;
        this.clientIsn = clientIsn;
        this.serverIsn = serverIsn;
        this.micros = startMicros;
        this.mss = mss;
        this.segmentSizes = segmentSizes;
        this.clientNext = clientIsn + 1;
        this.serverNext = serverIsn + 1;
    }

    /** This flow's connection. */
    public ConnectionKey key() {
        return new ConnectionKey(new Endpoint(Frames.CLIENT, clientPort), KEY.server());
    }

    private Frames fromClient() {
        Frames f = Frames.fromClient();
        f.srcPort = clientPort;
        return f;
    }

    private Frames fromServer() {
        Frames f = Frames.fromServer();
        f.dstPort = clientPort;
        return f;
    }

    public static WatchedServices watched() {
        return new WatchedServices(List.of(Frames.VIP), List.of(Frames.SERVICE_PORT));
    }

    /** The frames made so far, and forgets them. */
    public List<Frame> take() {
        List<Frame> out = List.copyOf(frames);
        frames.clear();
        return out;
    }

    public int clientNext() {
        return clientNext;
    }

    public int serverNext() {
        return serverNext;
    }

    public TcpFlow handshake() {
        add(true, fromClient().seq(clientIsn).flags(TcpSegment.SYN).window(64240).mss(1460).sack()
                .ts(clientTs, 0).wscale(7), 0);
        add(false, fromServer().seq(serverIsn).ack(clientIsn + 1).flags(TcpSegment.SYN | TcpSegment.ACK)
                .window(65160).mss(1460).sack().ts(serverTs, clientTs).wscale(9), 0);
        add(true, fromClient().seq(clientNext).ack(serverNext).window(502).ts(++clientTs, serverTs), 0);
        return this;
    }

    /**
     * One side writes {@code len} bytes; the other acknowledges them, and every half window on the way (each
     * side offers 64 KiB: the sender never writes beyond it, as real TCP does not).
     */
    public TcpFlow send(boolean fromClient, byte[] data, int off, int len) {
        int end = off + len;
        int unacked = 0;
        while (off < end) {
            if (unacked >= 32 * 1024) {
                ack(!fromClient);
                unacked = 0;
            }
            int n = Math.min(end - off, segmentSizes == null ? mss : 1 + segmentSizes.nextInt(mss));
            byte[] payload = java.util.Arrays.copyOfRange(data, off, off + n);
            if (fromClient) {
                add(true, fromClient().seq(clientNext).ack(serverNext).flags(TcpSegment.ACK | TcpSegment.PSH)
                        .window(502).ts(++clientTs, serverTs).payload(payload), n);
                clientNext += n;
            } else {
                add(false, fromServer().seq(serverNext).ack(clientNext).flags(TcpSegment.ACK | TcpSegment.PSH)
                        .window(128).ts(++serverTs, clientTs).payload(payload), n);
                serverNext += n;
            }
            off += n;
            unacked += n;
        }
        ack(!fromClient);
        return this;
    }

    /** A pure ACK of everything the other side sent. */
    private void ack(boolean fromClient) {
        if (fromClient) {
            add(true, fromClient().seq(clientNext).ack(serverNext).window(502).ts(++clientTs, serverTs), 0);
        } else {
            add(false, fromServer().seq(serverNext).ack(clientNext).window(128).ts(++serverTs, clientTs), 0);
        }
    }

    private void add(boolean fromClient, Frames f, int payloadLength) {
        micros += 100;
        frames.add(new Frame(f.build(), micros, fromClient, payloadLength));
    }

    /** Feeds frames to one connection table, through a frame decoder of its own. */
    public static final class Feed {
        private final ConnectionTable table;
        private final FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, new FrameCounters());

        public Feed(ConnectionTable table) {
            this.table = table;
        }

        public ConnectionTable table() {
            return table;
        }

        public void feed(Frame f) {
            TcpSegment s = decoder.decode(f.bytes(), f.micros());
            if (s == null) {
                throw new IllegalStateException("a test frame did not decode");
            }
            table.onSegment(s);
        }

        public void feed(List<Frame> frames) {
            frames.forEach(this::feed);
        }
    }
}
