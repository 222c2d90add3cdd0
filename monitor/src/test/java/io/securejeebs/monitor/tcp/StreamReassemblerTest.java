package io.securejeebs.monitor.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class StreamReassemblerTest {
    private final ByteArrayOutputStream delivered = new ByteArrayOutputStream();
    private long expectedOffset;

    private StreamSink recorder() {
        return (offset, data, off, len) -> {
            assertEquals(expectedOffset, offset, "bytes must be delivered in order, exactly once");
            delivered.write(data, off, len);
            expectedOffset += len;
        };
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private String got() {
        return delivered.toString(StandardCharsets.US_ASCII);
    }

    @Test
    void deliversAcrossThe32BitWrap() throws Exception {
        int isn = 0xFFFF_FFF0; // data starts 15 bytes before the wrap
        StreamReassembler r = new StreamReassembler("c->s", isn, recorder());
        r.onSegment(isn + 1, false, false, b("0123456789"), 0, 10);
        r.onSegment(isn + 11, false, false, b("abcdefghij"), 0, 10); // crosses 2^32
        r.onSegment(isn + 21, false, false, b("KLMNO"), 0, 5);
        assertEquals("0123456789abcdefghijKLMNO", got());
        assertEquals(isn + 26, r.nextSeq());
        assertEquals(25, r.nextOffset());
        assertEquals(0x0000_000A, r.nextSeq(), "the sequence number wrapped");
        r.onAcknowledgement(isn + 16);
        r.releaseBefore(r.ackedOffset());
        assertArrayEquals(b("fghijKLMNO"), r.copyFrom(15));
    }

    @Test
    void dropsRetransmissionsAndKeepsOnlyTheNewPartOfOverlaps() throws Exception {
        StreamReassembler r = new StreamReassembler("s->c", 1000, recorder());
        r.onSegment(1001, false, false, b("hello "), 0, 6);
        r.onSegment(1001, false, false, b("hello "), 0, 6);      // exact retransmission
        r.onSegment(1004, false, false, b("lo world"), 0, 8);    // overlaps "lo "
        r.onSegment(1001, false, false, b("hel"), 0, 3);         // old bytes only
        assertEquals("hello world", got());
        assertEquals(6 + 3 + 3, r.retransmittedBytes());
    }

    @Test
    void reordersOutOfOrderSegmentsIncludingOverlappingOnes() throws Exception {
        StreamReassembler r = new StreamReassembler("c->s", 5000, recorder());
        r.onSegment(5011, false, false, b("KLMNO"), 0, 5);       // third
        r.onSegment(5006, false, false, b("FGHIJKL"), 0, 7);     // second, overlaps the third
        assertTrue(r.hasOutOfOrderData());
        assertEquals("", got());
        r.onSegment(5001, false, false, b("ABCDE"), 0, 5);       // first fills the gap
        assertEquals("ABCDEFGHIJKLMNO", got());
        assertTrue(!r.hasOutOfOrderData());
        assertEquals(0, r.bytesHeld() - r.copyFrom(0).length, "only retained bytes are held");
    }

    @Test
    void anAcknowledgementBeyondTheCapturedDataIsAHole() throws Exception {
        StreamReassembler r = new StreamReassembler("c->s", 0, recorder());
        r.onSegment(1, false, false, b("abc"), 0, 3);
        r.onSegment(10, false, false, b("xyz"), 0, 3);           // 6 bytes were never captured
        r.onAcknowledgement(4);                                   // fine: up to what we have
        TrackingException e = assertThrows(TrackingException.class, () -> r.onAcknowledgement(13));
        assertTrue(e.getMessage().contains("capture missed 9 byte(s)"), e.getMessage());
    }

    @Test
    void finCountsOneSequenceNumber() throws Exception {
        StreamReassembler r = new StreamReassembler("s->c", 41, recorder());
        r.onSegment(42, false, true, b("bye"), 0, 3);
        assertTrue(r.finSeen());
        r.onAcknowledgement(46); // data + FIN
        assertEquals(4, r.ackedOffset());
        assertThrows(TrackingException.class, () -> r.onAcknowledgement(47));
    }

    @Test
    void aSynRetransmissionAndSynDataAreHandled() throws Exception {
        StreamReassembler r = new StreamReassembler("c->s", 99, recorder());
        r.onSegment(99, true, false, new byte[0], 0, 0);
        r.onSegment(99, true, false, b("tfo"), 0, 3); // data in a SYN starts after it
        assertEquals("tfo", got());
        assertThrows(TrackingException.class, () -> r.onSegment(12345, true, false, new byte[0], 0, 0));
    }

    @Test
    void retainedBytesFollowTheReleasePointAndFreeMemoryWhenEmpty() throws Exception {
        StreamReassembler r = new StreamReassembler("s->c", 0, recorder());
        byte[] big = new byte[100_000];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) i;
        }
        r.onSegment(1, false, false, big, 0, big.length);
        r.onAcknowledgement(1 + 60_000);
        r.releaseBefore(r.ackedOffset());
        byte[] tail = r.copyFrom(60_000);
        assertEquals(40_000, tail.length);
        assertEquals((byte) 60_000, tail[0]);
        r.onAcknowledgement(1 + 100_000);
        r.releaseBefore(r.ackedOffset());
        assertEquals(0, r.capacityHeld(), "an idle direction holds no buffer");
    }
}
