package io.securejeebs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** The records and the exception; no root needed. */
class ValueTypesTest {

    private static final TcpOptions OPTS = new TcpOptions(1448, true, true, 7, 7, true);

    private static TcpState state(byte[] sq, byte[] rq) {
        return new TcpState(new InetSocketAddress(Lo.LOOPBACK, 22), new InetSocketAddress(Lo.LOOPBACK, 40000),
                -10, sq, Integer.MAX_VALUE, rq, OPTS, 77, 1000, 2000);
    }

    @Test
    void optionRangesAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> new TcpOptions(0, true, true, 7, 7, true));
        assertThrows(IllegalArgumentException.class, () -> new TcpOptions(65536, true, true, 7, 7, true));
        assertThrows(IllegalArgumentException.class, () -> new TcpOptions(1448, true, true, 15, 7, true));
        assertThrows(IllegalArgumentException.class, () -> new TcpOptions(1448, true, true, 7, -1, true));
        new TcpOptions(1, false, false, 0, 14, false);
        new TcpOptions(65535, false, true, 14, 0, false);
    }

    @Test
    void stateIsValidatedAndCopied() throws Exception {
        byte[] sq = {1, 2, 3};
        TcpState s = state(sq, new byte[] {9});
        sq[0] = 42;
        assertEquals(1, s.sendQueue()[0], "defensive copy on construction");
        s.sendQueue()[1] = 42;
        assertEquals(2, s.sendQueue()[1], "defensive copy on access");
        InetSocketAddress v6 = new InetSocketAddress(InetAddress.getByName("::1"), 22);
        assertThrows(IllegalArgumentException.class, () -> new TcpState(v6, s.remote(), 0, sq, 0, sq, OPTS, 0, 0, 0));
        assertThrows(IllegalArgumentException.class,
                () -> new TcpState(InetSocketAddress.createUnresolved("x", 1), s.remote(), 0, sq, 0, sq, OPTS, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new TcpState(s.local(), s.remote(), 0, sq, 0, sq, OPTS, 0, -1, 0));
        assertThrows(NullPointerException.class, () -> new TcpState(s.local(), s.remote(), 0, null, 0, sq, OPTS, 0, 0, 0));
    }

    @Test
    void sequenceArithmeticWraps() {
        TcpState s = state(new byte[20], new byte[5]);
        assertEquals(10, s.sndNxt(), "-10 + 20 wraps to 10");
        assertEquals(Integer.MIN_VALUE + 4, s.rcvNxt(), "MAX_VALUE + 5 wraps");
        assertEquals(123, s.withTimestamp(123).timestamp());
        assertEquals(s.sndNxt(), s.withTimestamp(123).sndNxt());
    }

    @Test
    void toStringHasLengthsButNoPayload() {
        byte[] secret = "SECRET-PAYLOAD".getBytes();
        TcpState s = state(secret, secret);
        String t = s.toString();
        assertTrue(t.contains("sendQueue=14 bytes") && t.contains("recvQueue=14 bytes"), t);
        assertTrue(t.contains("sendQueueSeq=4294967286"), "seqs print unsigned: " + t);
        assertFalse(t.contains("SECRET"), t);
        assertFalse(t.contains("[B@"), t);
        assertFalse(t.contains("83, 69"), t);
    }

    @Test
    void equalityComparesQueueContents() {
        assertEquals(state(new byte[] {1}, new byte[] {2}), state(new byte[] {1}, new byte[] {2}));
        assertEquals(state(new byte[] {1}, new byte[] {2}).hashCode(), state(new byte[] {1}, new byte[] {2}).hashCode());
        assertNotEquals(state(new byte[] {1}, new byte[] {2}), state(new byte[] {1}, new byte[] {3}));
    }

    @Test
    void exceptionMessageFormat() {
        KernelShimException e = new KernelShimException("setsockopt", 22, "Invalid argument",
                "fd=12 level=SOL_TCP opt=TCP_QUEUE_SEQ value=123456");
        assertEquals("setsockopt(fd=12 level=SOL_TCP opt=TCP_QUEUE_SEQ value=123456): Invalid argument (errno 22)",
                e.getMessage());
        assertEquals("setsockopt", e.syscall());
        assertEquals(22, e.errno());
        assertEquals("Invalid argument", e.errnoText());
        assertEquals("fd=12 level=SOL_TCP opt=TCP_QUEUE_SEQ value=123456", e.arguments());
    }
}
