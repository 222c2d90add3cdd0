package io.securejeebs.monitor.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.monitor.app.LineEchoTracker;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ConnectionTableTest {
    private static final int C_ISN = 0xFFFF_FF00; // the client's stream wraps soon after the handshake
    private static final int S_ISN = 0x7000_0000;

    private final FrameCounters counters = new FrameCounters();
    private final FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, counters);
    private final ConnectionTable table = new ConnectionTable(
            new WatchedServices(List.of(Frames.VIP), List.of(Frames.SERVICE_PORT)),
            (key, updates) -> new LineEchoTracker(), 1 << 20, 100, counters);
    private final ConnectionKey key = new ConnectionKey(new Endpoint(Frames.CLIENT, Frames.CLIENT_PORT),
            new Endpoint(Frames.VIP, Frames.SERVICE_PORT));
    private long now = 1_700_000_000_000_000L;
    private int cNext = C_ISN + 1;
    private int sNext = S_ISN + 1;

    private void feed(Frames f) {
        feed(f.build());
    }

    private void feed(byte[] frame) {
        now += 1000;
        TcpSegment s = decoder.decode(frame, now);
        if (s != null) {
            table.onSegment(s);
        }
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

    @Test
    void followsAHandshakeAndEchoTrafficToAnExactSnapshot() {
        handshake();
        clientSends("line 1\nline 2\n");
        serverSends("line 1\n");             // answered one line
        clientSends("line 3\n");             // crosses the 32-bit wrap of the client stream
        serverSends("line 2\nli");           // and part of the third answer
        // the client acknowledges "line 1\n" only, and advertises a window of 300 << 7
        feed(Frames.fromClient().seq(cNext).ack(S_ISN + 1 + 7).window(300).ts(1003, 5002));

        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals(new NegotiatedOptions(1460, true, true, 7, 9, true), s.options());
        assertEquals(S_ISN + 1 + 7, s.serverUnackedSeq());
        assertEquals("line 2\nli", new String(s.serverUnacked(), StandardCharsets.US_ASCII));
        assertEquals(C_ISN + 1 + 14, s.clientUnconsumedSeq(), "two lines answered: line 3 is unconsumed");
        assertEquals("line 3\n", new String(s.clientUnconsumed(), StandardCharsets.US_ASCII));
        assertEquals(cNext, s.serverAckSeq(), "the server acknowledged everything");
        assertEquals(0, s.clientBytesAwaitingAck());
        assertEquals(300 << 7, s.clientWindow());
        assertEquals(5002, s.timestamps().serverTsVal());
        assertEquals(1002, s.timestamps().serverTsEcr());
        assertEquals(1003, s.timestamps().clientTsVal());
        assertEquals(5002, s.timestamps().clientTsEcr());
        assertEquals(5002 + 250, s.timestamps().serverTsValAt(s.timestamps().serverTsValMicros() + 250_400));
        assertEquals(new LineEchoTracker.Resume(2, 2), s.resume());
    }

    @Test
    void clientBytesTheServerNeverAcknowledgedAreKeptAndCounted() {
        handshake();
        clientSends("a\n");
        serverSends("a\n");
        clientSends("b\n");                  // the server crashes before acknowledging this
        ConnectionSnapshot s = table.snapshot(key);
        assertEquals("b\n", new String(s.clientUnconsumed(), StandardCharsets.US_ASCII));
        assertEquals(2, s.clientBytesAwaitingAck());
    }

    @Test
    void outOfOrderAndRetransmittedSegmentsGiveTheSameState() {
        handshake();
        int base = cNext;
        feed(Frames.fromClient().seq(base + 4).ack(sNext).payload("two\n"));
        feed(Frames.fromClient().seq(base).ack(sNext).payload("one\n"));
        feed(Frames.fromClient().seq(base).ack(sNext).payload("one\ntw")); // retransmission overlapping both
        cNext = base + 8;
        serverSends("one\n");
        ConnectionSnapshot s = table.snapshot(key);
        assertEquals("two\n", new String(s.clientUnconsumed(), StandardCharsets.US_ASCII));
    }

    @Test
    void aHoleTheSnifferMissedMakesTheConnectionUnrecoverable() {
        handshake();
        clientSends("seen\n");
        cNext += 5; // 5 client bytes that never reach the sniffer
        serverSends("seen\n"); // ...but the server acknowledges them
        ConnectionSnapshot s = table.snapshot(key);
        assertFalse(s.recoverable());
        assertTrue(s.unrecoverableReason().contains("capture missed 5 byte(s)"), s.unrecoverableReason());
        assertEquals(0, s.clientUnconsumed().length, "an unrecoverable connection keeps no payload");
        assertEquals(0, s.serverUnacked().length);
        assertTrue(s.resettable(), "both sequence numbers are known: it can be reset");
    }

    @Test
    void aPayloadCutBySnaplenMakesTheConnectionUnrecoverable() {
        handshake();
        feed(Frames.fromClient().seq(cNext).ack(sNext).payload("abc").truncatedBy(100));
        assertTrue(table.snapshot(key).unrecoverableReason().contains("snaplen"));
        assertEquals(1, counters.truncatedPayloads.sum());
    }

    @Test
    void aConnectionWithoutItsHandshakeIsReportedButNeverRestored() {
        feed(Frames.fromClient().seq(1234).ack(5678).payload("midstream\n"));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.unrecoverableReason().contains("handshake not captured"), s.unrecoverableReason());
    }

    @Test
    void exceedingTheMemoryLimitMakesTheConnectionUnrecoverable() {
        ConnectionTable small = new ConnectionTable(new WatchedServices(List.of(Frames.VIP), List.of(Frames.SERVICE_PORT)),
                (k, u) -> new LineEchoTracker(), 64 * 1024, 100, counters);
        for (byte[] f : List.of(
                Frames.fromClient().seq(C_ISN).flags(TcpSegment.SYN).mss(1460).build(),
                Frames.fromServer().seq(S_ISN).ack(C_ISN + 1).flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460).build())) {
            small.onSegment(decoder.decode(f, now));
        }
        byte[] chunk = new byte[1400]; // no newline: the echo server never answers, so nothing is consumed
        int seq = C_ISN + 1;
        for (int i = 0; i < 60; i++, seq += chunk.length) {
            small.onSegment(decoder.decode(Frames.fromClient().seq(seq).ack(S_ISN + 1).payload(chunk).build(), now));
            // the server's kernel takes the bytes (its window is open), though the application never reads them
            small.onSegment(decoder.decode(Frames.fromServer().seq(S_ISN + 1).ack(seq + chunk.length).window(65535)
                    .build(), now));
        }
        ConnectionSnapshot s = small.snapshot(key);
        assertTrue(s.unrecoverableReason().contains("over the per-connection limit of 65536"), s.unrecoverableReason());
    }

    @Test
    void theLatestSynOfAFourTupleDefinesTheConnection() {
        handshake();
        clientSends("old\n");
        serverSends("old\n");
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.FIN | TcpSegment.ACK));
        feed(Frames.fromServer().seq(sNext).ack(cNext + 1).flags(TcpSegment.FIN | TcpSegment.ACK));
        feed(Frames.fromClient().seq(cNext + 1).ack(sNext + 1)); // closed: the 4-tuple is free again
        feed(Frames.fromClient().seq(42).flags(TcpSegment.SYN).mss(1460)); // port reused with a new ISN
        feed(Frames.fromServer().seq(77).ack(43).flags(TcpSegment.SYN | TcpSegment.ACK).mss(1460));
        feed(Frames.fromClient().seq(43).ack(78).payload("new\n"));
        ConnectionSnapshot s = table.snapshot(key);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals("new\n", new String(s.clientUnconsumed(), StandardCharsets.US_ASCII));
        assertEquals(new NegotiatedOptions(1460, false, false, 0, 0, false), s.options());
    }

    @Test
    void theEndListenerHearsOfAConnectionClosedByFinsOnce() {
        List<String> ended = new java.util.ArrayList<>();
        table.onConnectionEnded((k, closed) -> ended.add(k + (closed ? " closed" : " forgotten")));
        handshake();
        clientSends("bye\n");
        serverSends("bye\n");
        assertEquals(List.of(), ended);
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.FIN | TcpSegment.ACK).ts(1003, 5002));
        cNext++;
        feed(Frames.fromServer().seq(sNext).ack(cNext).flags(TcpSegment.FIN | TcpSegment.ACK).ts(5003, 1003));
        sNext++;
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.ACK).ts(1004, 5003));
        assertEquals(List.of(key + " closed"), ended);
        feed(Frames.fromClient().seq(cNext).ack(sNext).flags(TcpSegment.ACK).ts(1005, 5003)); // a late duplicate
        assertEquals(List.of(key + " closed"), ended, "once");
    }

    @Test
    void resetClosesTheConnection() {
        handshake();
        feed(Frames.fromServer().seq(sNext).flags(TcpSegment.RST));
        assertEquals("connection closed", table.snapshot(key).unrecoverableReason());
        assertTrue(table.snapshotOpenConnections().isEmpty());
    }

    @Test
    void garbageAndForeignFramesAreCountedNeverThrown() {
        handshake();
        Random random = new Random(42);
        for (int i = 0; i < 20_000; i++) {
            byte[] f = new byte[random.nextInt(120)];
            random.nextBytes(f);
            if (i % 3 == 0 && f.length > 40) { // make some look like IPv4/TCP to reach deeper code
                f[12] = 0x08; f[13] = 0x00; f[14] = 0x45; f[23] = 6;
            }
            feed(f);
        }
        byte[] good = Frames.fromClient().seq(cNext).ack(sNext).payload("x\n").build();
        for (int cut = 0; cut < good.length; cut++) { // every possible truncation of a real frame
            byte[] t = java.util.Arrays.copyOf(good, cut);
            TcpSegment s = decoder.decode(t, now);
            if (s != null) {
                assertTrue(s.payloadTruncated || s.payloadLength == 2);
            }
        }
        byte[] udp = Frames.fromClient().build();
        udp[23] = 17;
        feed(udp);
        byte[] arp = Frames.fromClient().build();
        arp[12] = 0x08; arp[13] = 0x06;
        feed(arp);
        assertTrue(counters.notTcp.sum() >= 1);
        assertTrue(counters.notIpv4.sum() >= 1);
        assertTrue(counters.malformed.sum() + counters.truncatedHeaders.sum() > 0);
        assertEquals(3 + 20_000 + good.length + 2L, counters.frames.sum(), "every fed frame is counted");
    }

    @Test
    void aBugInOneTrackerCostsItsConnectionNeverTheOthersOrTheCapture() {
        ConnectionTable buggy = new ConnectionTable(TcpFlow.watched(), (k, u) -> k.client().port() == 41000
                ? new io.securejeebs.monitor.app.ApplicationTracker() {
                    @Override
                    public String protocol() {
                        return "buggy";
                    }

                    @Override
                    public StreamSink clientStream() {
                        return (offset, data, off, len) -> {
                            throw new IllegalStateException("a tracker bug");
                        };
                    }

                    @Override
                    public StreamSink serverStream() {
                        return StreamSink.NONE;
                    }

                    @Override
                    public long clientConsumedOffset() {
                        return 0;
                    }

                    @Override
                    public Object resumeState() {
                        return null;
                    }
                }
                : new LineEchoTracker(), 1 << 20, 100, counters);
        TcpFlow.Feed feed = new TcpFlow.Feed(buggy);
        byte[] line = "x\n".getBytes(StandardCharsets.US_ASCII);
        TcpFlow bad = new TcpFlow(41000, 1, 2, now, 1460, null).handshake().send(true, line, 0, 2);
        TcpFlow good = new TcpFlow(41001, 3, 4, now, 1460, null).handshake().send(true, line, 0, 2).send(false, line, 0, 2);
        feed.feed(bad.take());
        feed.feed(good.take());
        assertTrue(buggy.snapshot(bad.key()).unrecoverableReason().contains("internal error while tracking"),
                buggy.snapshot(bad.key()).unrecoverableReason());
        assertTrue(buggy.snapshot(good.key()).recoverable());
    }

    @Test
    void decodesVlanTaggedFramesAndOptions() {
        byte[] plain = Frames.fromClient().seq(C_ISN).flags(TcpSegment.SYN).mss(1460).wscale(7).sack().ts(9, 0).build();
        byte[] tagged = new byte[plain.length + 4];
        System.arraycopy(plain, 0, tagged, 0, 12);
        tagged[12] = (byte) 0x81; tagged[13] = 0x00; tagged[14] = 0; tagged[15] = 5;
        System.arraycopy(plain, 12, tagged, 16, plain.length - 12);
        TcpSegment s = decoder.decode(tagged, now);
        assertEquals(1460, s.mss);
        assertEquals(7, s.windowScale);
        assertTrue(s.sackPermitted);
        assertEquals(9, s.tsVal);
        assertArrayEquals(new int[] {Frames.CLIENT_PORT, Frames.SERVICE_PORT}, new int[] {s.srcPort, s.dstPort});
    }
}
