package io.securejeebs.monitor.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.monitor.app.LineEchoTracker;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Segments that the receiver's kernel ignores (RFC 793 acceptability, RFC 5961) must not change what the
 * tracker knows: someone who can send packets into the subnet, but does not know a connection's sequence
 * numbers, must not be able to strip it of its failover protection. Each kind is sent into an established
 * connection with bytes in flight both ways: the connection stays tracked with exactly the same state, and
 * goes on to follow the genuine traffic that comes next. Genuine RSTs, FINs and new connections on the same
 * 4-tuple still end it.
 */
class UnacceptableSegmentTest {
    private static final int C_ISN = 0xFFFF_FF00; // the client's stream wraps soon after the handshake
    private static final int S_ISN = 0x7000_0000;

    private final FrameCounters counters = new FrameCounters();
    private final FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, counters);
    private final ConnectionTable table = new ConnectionTable(TcpFlow.watched(), (key, updates) -> new LineEchoTracker(),
            1 << 20, 100, counters);
    private final ConnectionKey key = TcpFlow.KEY;
    private long now = 1_700_000_000_000_000L;
    private int cNext = C_ISN + 1;
    private int sNext = S_ISN + 1;

    private void feed(Frames f) {
        now += 1000;
        TcpSegment s = decoder.decode(f.build(), now);
        table.onSegment(s);
    }

    private void handshake() {
        feed(Frames.fromClient().seq(C_ISN).flags(TcpSegment.SYN).window(64240).mss(1460).sack().ts(1000, 0).wscale(7));
        feed(Frames.fromServer().seq(S_ISN).ack(C_ISN + 1).flags(TcpSegment.SYN | TcpSegment.ACK).window(65160)
                .mss(1400).sack().ts(5000, 1000).wscale(9));
        feed(Frames.fromClient().seq(cNext).ack(sNext).ts(1001, 5000));
    }

    private void clientSends(String s) {
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.ACK | TcpSegment.PSH).ts(1002, 5001).payload(s));
        cNext += s.length();
    }

    private void serverSends(String s) {
        feed(Frames.fromServer().seq(sNext).ack(cNext).flags(TcpSegment.ACK | TcpSegment.PSH).ts(5002, 1002).payload(s));
        sNext += s.length();
    }

    /** An established session with bytes each way that the other side has not acknowledged yet. */
    private void establishedWithBytesInFlight() {
        handshake();
        clientSends("line 1\nline 2\n");
        serverSends("line 1\n");
        clientSends("line 3\n");
        serverSends("line 2\nli"); // the client never acknowledges this
        String line4 = "line 4 no end yet"; // nor the server this
        feed(Frames.fromClient().seq(cNext).ack(S_ISN + 1 + 7).flags(TcpSegment.ACK | TcpSegment.PSH).ts(1003, 5002)
                .payload(line4));
        cNext += line4.length();
    }

    /** Every field of a snapshot, the bytes included, to compare two. */
    private static String describe(ConnectionSnapshot s) {
        HexFormat hex = HexFormat.of();
        return s.key() + " " + s.protocol() + " opened=" + s.openedMicros() + " options=" + s.options()
                + " serverUnacked=" + Integer.toUnsignedString(s.serverUnackedSeq()) + ":"
                + (s.serverUnacked() == null ? null : hex.formatHex(s.serverUnacked()))
                + " clientUnconsumed=" + Integer.toUnsignedString(s.clientUnconsumedSeq()) + ":"
                + (s.clientUnconsumed() == null ? null : hex.formatHex(s.clientUnconsumed()))
                + " serverAck=" + Integer.toUnsignedString(s.serverAckSeq()) + " windows=" + s.clientWindow() + "/"
                + s.serverWindow() + " " + s.timestamps() + " bytes=" + s.clientBytes() + "/" + s.serverBytes()
                + " resume=" + s.resume() + " reason=" + s.unrecoverableReason() + " resuming=" + s.resuming();
    }

    /**
     * What a blind attacker sends on a known 4-tuple, given the receiver's next expected byte ({@code rcvNxt}
     * of the direction the segment claims to come from) and the next byte the claimed sender would send.
     */
    enum Spoof {
        RST_FAR_OUT_OF_WINDOW(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt + 0x4000_0000).flags(TcpSegment.RST)),
        RST_FROM_SERVER_FAR_OUT_OF_WINDOW(false, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt - 0x3000_0000).flags(TcpSegment.RST)),
        RST_IN_WINDOW_NOT_EXACT(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt + 1000).flags(TcpSegment.RST | TcpSegment.ACK)
                .ack(sndNxt)),
        RST_FROM_SERVER_IN_WINDOW_NOT_EXACT(false, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt + 1).flags(TcpSegment.RST)),
        FIN_FAR_OUT_OF_WINDOW(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt + 0x2000_0000).ack(sndNxt)
                .flags(TcpSegment.FIN | TcpSegment.ACK)),
        FIN_FROM_SERVER_BEFORE_WINDOW(false, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt - 0x10_0000).ack(sndNxt)
                .flags(TcpSegment.FIN | TcpSegment.ACK)),
        DATA_BEYOND_WINDOW(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt + 0x100_0000).ack(sndNxt)
                .flags(TcpSegment.ACK | TcpSegment.PSH).payload("rm -rf ~\n")),
        SYN_WITH_A_NEW_ISN(true, (f, rcvNxt, sndNxt) -> f.seq(0x1234_5678).ack(0).flags(TcpSegment.SYN).mss(1460)),
        SYN_ACK_WITH_A_NEW_ISN(false, (f, rcvNxt, sndNxt) -> f.seq(0x0BAD_5EED).ack(C_ISN + 1)
                .flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460)),
        ACK_OF_DATA_NEVER_SENT(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt).ack(sndNxt + 0x4000_0000)),
        ACK_FROM_SERVER_OF_DATA_NEVER_SENT(false, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt).ack(sndNxt + 0x0100_0000)
                .payload("x")),
        ACK_OLDER_THAN_A_WINDOW(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt).ack(sndNxt - 0x1000_0000)
                .payload("injected\n")),
        DATA_WITHOUT_ACK(true, (f, rcvNxt, sndNxt) -> f.seq(rcvNxt).flags(TcpSegment.PSH).payload("injected\n"));

        interface Maker {
            Frames make(Frames f, int rcvNxt, int sndNxt);
        }

        final boolean fromClient;
        final Maker maker;

        Spoof(boolean fromClient, Maker maker) {
            this.fromClient = fromClient;
            this.maker = maker;
        }
    }

    @ParameterizedTest
    @EnumSource(Spoof.class)
    void aSegmentTheKernelIgnoresChangesNothingAndTrackingGoesOn(Spoof spoof) {
        establishedWithBytesInFlight();
        ConnectionSnapshot before = table.snapshot(key);
        assertTrue(before.recoverable(), before.unrecoverableReason());
        assertEquals("line 2\nli", new String(before.serverUnacked(), StandardCharsets.US_ASCII));
        assertEquals("line 3\nline 4 no end yet", new String(before.clientUnconsumed(), StandardCharsets.US_ASCII));

        feed(spoof.fromClient ? spoof.maker.make(Frames.fromClient(), cNext, sNext)
                : spoof.maker.make(Frames.fromServer(), sNext, cNext));

        assertEquals(TcpConnection.State.ESTABLISHED, table.state(key));
        ConnectionSnapshot after = table.snapshot(key);
        // lastSeen is the only field a spoof may not touch either: describe() leaves it out, so compare it too
        assertEquals(describe(before), describe(after));
        assertEquals(before.lastSeenMicros(), after.lastSeenMicros());
        assertEquals(1, counters.ignoredSegments.sum());
        assertEquals(1, table.snapshotOpenConnections().size());

        // the genuine conversation goes on, and the tracker follows it exactly
        serverSends("ne 3\n");
        clientSends("\n");
        serverSends("line 4 no end yet\n");
        feed(Frames.fromClient().seq(cNext).ack(sNext).window(600).ts(1004, 5002));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals(sNext, s.serverUnackedSeq());
        assertEquals(0, s.serverUnacked().length);
        assertEquals(cNext, s.clientUnconsumedSeq(), "every line answered");
        assertEquals(new LineEchoTracker.Resume(4, 0), s.resume());
        assertEquals(600 << 7, s.clientWindow());
    }

    @Test
    void anRstAtTheReceiversNextByteClosesTheConnection() {
        establishedWithBytesInFlight();
        feed(Frames.fromClient().seq(cNext).flags(TcpSegment.RST));
        assertEquals(TcpConnection.State.CLOSED, table.state(key));
        assertTrue(table.snapshotOpenConnections().isEmpty());
    }

    @Test
    void anRstAtTheReceiversLatestAcknowledgementClosesTheConnection() {
        establishedWithBytesInFlight();
        // the client's "line 4 no end yet" is captured but not acknowledged: the server may not have it
        feed(Frames.fromClient().seq(cNext - "line 4 no end yet".length()).flags(TcpSegment.RST));
        assertEquals(TcpConnection.State.CLOSED, table.state(key));
    }

    @Test
    void aFinInTheWindowHalfClosesAndFinsBothWaysCloseTheConnection() {
        establishedWithBytesInFlight();
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.FIN | TcpSegment.ACK));
        cNext++;
        assertEquals("connection half-closed", table.snapshot(key).unrecoverableReason());
        feed(Frames.fromServer().seq(sNext).ack(cNext).flags(TcpSegment.FIN | TcpSegment.ACK));
        sNext++;
        feed(Frames.fromClient().seq(cNext).ack(sNext));
        assertEquals(TcpConnection.State.CLOSED, table.state(key));
    }

    @Test
    void aNewConnectionTakesTheFourTupleOnceTheOldOneClosed() {
        establishedWithBytesInFlight();
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.FIN | TcpSegment.ACK));
        feed(Frames.fromServer().seq(sNext).ack(cNext + 1).flags(TcpSegment.FIN | TcpSegment.ACK));
        feed(Frames.fromClient().seq(cNext + 1).ack(sNext + 1));
        assertEquals(TcpConnection.State.CLOSED, table.state(key));

        feed(Frames.fromClient().seq(42).flags(TcpSegment.SYN).mss(1460)); // TIME_WAIT reuse with a new ISN
        assertEquals(TcpConnection.State.CLOSED, table.state(key), "the old one stays until the new handshake completes");
        feed(Frames.fromServer().seq(77).ack(43).flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460));
        feed(Frames.fromClient().seq(43).ack(78).payload("new\n"));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals("new\n", new String(s.clientUnconsumed(), StandardCharsets.US_ASCII));
        assertEquals(0, counters.ignoredSegments.sum());
    }

    @Test
    void aClientThatLostItsSocketReconnectsThroughTheChallengeAck() {
        establishedWithBytesInFlight();
        // the client's host rebooted and reuses the port: its SYN meets the server's established socket
        feed(Frames.fromClient().seq(0x5555_0000).flags(TcpSegment.SYN).mss(1460));
        assertEquals(TcpConnection.State.ESTABLISHED, table.state(key));
        // the server's challenge ACK carries its rcv_nxt; the client answers it with an RST at exactly that
        feed(Frames.fromServer().seq(sNext).ack(cNext));
        feed(Frames.fromClient().seq(cNext).flags(TcpSegment.RST));
        assertEquals(TcpConnection.State.CLOSED, table.state(key));
        // and its SYN, retransmitted, opens the new connection
        feed(Frames.fromClient().seq(0x5555_0000).flags(TcpSegment.SYN).mss(1460));
        feed(Frames.fromServer().seq(0x6666_0000).ack(0x5555_0001).flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460));
        feed(Frames.fromClient().seq(0x5555_0001).ack(0x6666_0001));
        assertEquals(TcpConnection.State.ESTABLISHED, table.state(key));
        assertTrue(table.snapshot(key).recoverable());
        assertEquals(0x5555_0001, table.snapshot(key).clientUnconsumedSeq());
    }

    @Test
    void aConnectionWhoseSynAckTheCaptureMissedIsShownUnrecoverable() {
        feed(Frames.fromClient().seq(C_ISN).flags(TcpSegment.SYN).mss(1460));
        assertEquals(TcpConnection.State.SYN_SENT, table.state(key));
        feed(Frames.fromServer().seq(S_ISN + 1).ack(C_ISN + 1).payload("SSH-2.0-banner\r\n")); // no SYN-ACK seen
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.unrecoverableReason().contains("handshake not captured"), s.unrecoverableReason());
        assertEquals(0, table.handshakesInProgress());
    }

    @Test
    void anAcknowledgementOfBytesTheCaptureMissedStillMakesTheConnectionUnrecoverable() {
        establishedWithBytesInFlight();
        // the server sent 100 bytes the capture lost; the client, whose window they fit in, acknowledges them
        feed(Frames.fromClient().seq(cNext).ack(sNext + 100).window(502));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.unrecoverableReason().contains("capture missed 100 byte(s)"), s.unrecoverableReason());
    }

    @Test
    void segmentsBeyondTheWindowsWithTheConnectionsOwnTimestampsMeanTheCaptureLostTrack() {
        establishedWithBytesInFlight();
        int lost = 300_000; // the capture missed that much of the server's output, and the client's ACKs of it
        feed(Frames.fromServer().seq(sNext + lost).ack(cNext).flags(TcpSegment.ACK | TcpSegment.PSH).ts(5052, 1010)
                .payload("more"));
        assertEquals(TcpConnection.State.ESTABLISHED, table.state(key), "one side alone proves nothing");
        feed(Frames.fromClient().seq(cNext).ack(sNext + lost + 4).ts(1010, 5052));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.unrecoverableReason().startsWith("capture lost track"), s.unrecoverableReason());
    }

    @Test
    void segmentsBeyondTheWindowsWithMadeUpTimestampsAreIgnored() {
        establishedWithBytesInFlight();
        ConnectionSnapshot before = table.snapshot(key);
        feed(Frames.fromServer().seq(sNext + 300_000).ack(cNext).ts(0x9E37_79B9, 0x7F4A_7C15).payload("more"));
        feed(Frames.fromClient().seq(cNext).ack(sNext + 300_004).ts(0x6A09_E667, 0x3C6E_F372));
        feed(Frames.fromServer().seq(sNext + 300_004).ack(cNext).ts(5060, 0x3C6E_F372)); // a right TSval, not TSecr
        assertEquals(describe(before), describe(table.snapshot(key)));
        assertEquals(3, counters.ignoredSegments.sum());
    }

    @Test
    void manySpoofsInARowChangeNothingEither() {
        establishedWithBytesInFlight();
        ConnectionSnapshot before = table.snapshot(key);
        IntFunction<Frames> anywhere = i -> (i % 2 == 0 ? Frames.fromClient() : Frames.fromServer())
                .seq(i * 0x0100_0001 + 0x7777).ack(i * 0x0300_0007)
                .flags(List.of(TcpSegment.RST, TcpSegment.FIN | TcpSegment.ACK, TcpSegment.ACK, TcpSegment.SYN,
                        TcpSegment.RST | TcpSegment.ACK).get(i % 5))
                .payload(i % 3 == 0 ? "x" : "");
        int sent = 0;
        for (int i = 1; i < 4000; i++) {
            Frames f = anywhere.apply(i);
            int rcvNxt = i % 2 == 0 ? cNext : sNext;
            int unacked = i % 2 == 0 ? C_ISN + 1 + 14 + 7 : S_ISN + 1 + 7; // rcv_wup: the receiver's latest ACK
            if (f.seq == rcvNxt || f.seq == unacked) {
                continue; // an exact hit is what the kernel accepts too
            }
            feed(f);
            sent++;
        }
        assertEquals(describe(before), describe(table.snapshot(key)));
        assertEquals(sent, counters.ignoredSegments.sum());
        assertNull(table.snapshot(key).unrecoverableReason());
    }
}
