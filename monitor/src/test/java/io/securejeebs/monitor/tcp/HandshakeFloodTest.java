package io.securejeebs.monitor.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.monitor.app.LineEchoTracker;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A SYN flood (spoofed sources that never complete the handshake) must not keep real sessions from being
 * tracked: handshakes are kept apart from connections, bounded, the oldest forgotten first, and aged out as
 * the kernel ages out its SYN-RECV requests. Connections that completed their handshake are never pushed out.
 */
class HandshakeFloodTest {
    private static final int LIMIT = 100;
    private static final int FLOODER = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 66});

    private final FrameCounters counters = new FrameCounters();
    private final FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, counters);
    private final ConnectionTable table = new ConnectionTable(TcpFlow.watched(), (key, updates) -> new LineEchoTracker(),
            1 << 20, LIMIT, counters);
    private final TcpFlow.Feed feed = new TcpFlow.Feed(table);
    private long now = 1_700_000_000_000_000L;
    private final Random random = new Random(7);

    private void feed(Frames f) {
        now += 10;
        table.onSegment(decoder.decode(f.build(), now));
    }

    /** {@code n} SYNs from spoofed addresses, each answered by the server's SYN-ACK, none completed. */
    private void flood(int n) {
        for (int i = 0; i < n; i++) {
            Frames syn = Frames.fromClient().seq(random.nextInt()).flags(TcpSegment.SYN).mss(1460).window(64240);
            syn.srcAddr = FLOODER + i / 60_000;
            syn.srcPort = 1024 + i % 60_000;
            feed(syn);
            Frames synAck = Frames.fromServer().seq(random.nextInt()).ack(syn.seq + 1)
                    .flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460);
            synAck.dstAddr = syn.srcAddr;
            synAck.dstPort = syn.srcPort;
            feed(synAck);
        }
    }

    /** A real session on client port {@code port}: handshake, a line and its echo. */
    private TcpFlow realSession(int port) {
        TcpFlow flow = new TcpFlow(port, 0x1000_0000 + port, 0x2000_0000 + port, now, 1460, null);
        byte[] line = ("hello from " + port + "\n").getBytes(StandardCharsets.US_ASCII);
        flow.handshake().send(true, line, 0, line.length).send(false, line, 0, line.length);
        for (TcpFlow.Frame f : flow.take()) {
            now = Math.max(now, f.micros());
            feed.feed(f);
        }
        return flow;
    }

    @Test
    void aRealSessionIsTrackedAfterMoreSynsThanTheTableHolds() {
        flood(LIMIT * 5 + 17);
        assertEquals(LIMIT, table.handshakesInProgress(), "handshakes are bounded by monitor.max-connections");
        assertEquals(LIMIT * 4 + 17, counters.handshakesEvicted.sum());
        assertEquals(0, table.size(), "no half-open handshake became a connection");

        TcpFlow real = realSession(50_000);
        ConnectionSnapshot s = table.snapshot(real.key());
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals(new LineEchoTracker.Resume(1, 0), s.resume());
        assertEquals(TcpConnection.State.ESTABLISHED, table.state(real.key()));
    }

    @Test
    void handshakesThatNeverCompleteAgeOutLikeTheKernelsSynRecvRequests() {
        flood(LIMIT / 2);
        TcpFlow real = realSession(50_001);
        assertEquals(LIMIT / 2, table.handshakesInProgress());

        now += ConnectionTable.HANDSHAKE_TIMEOUT_MICROS + 2_000_000L;
        feed(Frames.fromClient().seq(real.clientNext()).ack(real.serverNext()).window(502)); // any segment: a sweep
        assertEquals(0, table.handshakesInProgress());
        assertEquals(LIMIT / 2, counters.handshakesExpired.sum());
        assertTrue(table.snapshot(real.key()).recoverable(), "a quiet established session does not age out");
    }

    @Test
    void aFullTableOfEstablishedSessionsIsNeverPushedOutByAFlood() {
        int port = 30_000;
        for (int i = 0; i < LIMIT; i++) {
            realSession(port + i);
        }
        flood(LIMIT * 3);
        for (int i = 0; i < LIMIT; i++) {
            ConnectionKey key = new TcpFlow(port + i, 0, 0, 0, 1460, null).key();
            assertEquals(TcpConnection.State.ESTABLISHED, table.state(key), key.toString());
        }
        // the table is full of sessions that can be recovered: one more is refused, not swapped for one of them
        TcpFlow refused = realSession(port + LIMIT);
        assertNull(table.state(refused.key()));
        assertEquals(LIMIT, table.size());

        // once one session ends, it makes room at once
        TcpFlow first = new TcpFlow(port, 0x1000_0000 + port, 0x2000_0000 + port, now, 1460, null);
        int cNext = 0x1000_0000 + port + 1 + ("hello from " + port + "\n").length();
        Frames rst = Frames.fromClient().seq(cNext).flags(TcpSegment.RST);
        rst.srcPort = port;
        feed(rst);
        assertEquals(TcpConnection.State.CLOSED, table.state(first.key()));
        TcpFlow admitted = realSession(port + LIMIT + 1);
        assertTrue(table.snapshot(admitted.key()).recoverable());
        assertNull(table.state(first.key()), "the closed session made room");
    }
}
