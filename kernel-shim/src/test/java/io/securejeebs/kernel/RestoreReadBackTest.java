package io.securejeebs.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.kernel.TcpRepair.RepairExit;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Restores sockets with no peer traffic at all (repair off without a window probe, nothing sent before
 * the retransmission timers, which start at 1 s) and reads them back with {@link TcpRepair#read(int)}.
 * The local address is next to a listening socket, as VIP:22 is on the appliance; the remote port is
 * held by a bound, non-listening socket.
 */
class RestoreReadBackTest {

    private static final Logger LOG = LoggerFactory.getLogger(RestoreReadBackTest.class);

    @BeforeAll
    static void root() {
        Lo.assumeRoot();
    }

    @Test
    void everyFieldReadsBackAsRestored() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel peerPort = SocketChannel.open().bind(Lo.any())) {
            byte[] sendQueue = Lo.pattern(11, 8192);
            byte[] recvQueue = Lo.pattern(12, 100_000); // > MAX_SKB_FRAGS pages: several send() calls
            TcpState s = new TcpState((InetSocketAddress) listener.getLocalAddress(),
                    (InetSocketAddress) peerPort.getLocalAddress(),
                    0xFFFFF000, sendQueue,            // the send queue wraps past 2^32
                    0x7FFFFFF0, recvQueue,            // the receive queue crosses 2^31
                    new TcpOptions(1460, true, true, 7, 9, true), 0x12345678, 300_000, 200_000);
            try (RestoredSocket r = TcpRepair.restore(s, RepairExit.NO_WINDOW_PROBE)) {
                TcpState back = TcpRepair.read(r.fd());
                assertEquals(s.local(), back.local());
                assertEquals(s.remote(), back.remote());
                assertEquals(s.sendQueueSeq(), back.sendQueueSeq());
                assertEquals(0x00001000, back.sndNxt(), "snd_nxt wrapped modulo 2^32");
                assertArrayEquals(sendQueue, back.sendQueue());
                assertEquals(s.recvQueueSeq(), back.recvQueueSeq());
                assertArrayEquals(recvQueue, back.recvQueue());
                assertEquals(s.options(), back.options());
                assertEquals(s.sendWindow(), back.sendWindow());
                assertEquals(s.receiveWindow(), back.receiveWindow());
                int drift = back.timestamp() - s.timestamp();
                assertTrue(drift >= 0 && drift < 1000, "TSval clock continues from the restored value: drift " + drift);
                r.closeSilently();
                assertFalse(r.isOwned());
            }
        }
    }

    @Test
    void connectionWithoutOptionsReadsBackWithoutOptions() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel peerPort = SocketChannel.open().bind(Lo.any())) {
            TcpState s = new TcpState((InetSocketAddress) listener.getLocalAddress(),
                    (InetSocketAddress) peerPort.getLocalAddress(), 1, new byte[0], -1, new byte[0],
                    new TcpOptions(536, false, false, 0, 0, false), 0, 65535, 65535);
            try (RestoredSocket r = TcpRepair.restore(s, RepairExit.NO_WINDOW_PROBE)) {
                TcpState back = TcpRepair.read(r.fd());
                assertEquals(s.options(), back.options());
                assertEquals(1, back.sndNxt());
                assertEquals(-1, back.rcvNxt());
                assertEquals(0, back.sendQueueLength() + back.recvQueueLength());
                r.closeSilently();
            }
        }
    }

    /**
     * An odd TCP_TIMESTAMP would switch the socket to microsecond TSvals. The shim clears bit 0: the value
     * reads back even (getsockopt reports the usec flag in bit 0) and keeps counting in milliseconds.
     */
    @Test
    void timestampLowBitIsCleared() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel peerPort = SocketChannel.open().bind(Lo.any())) {
            int odd = 0x2468ACE1;
            TcpState s = new TcpState((InetSocketAddress) listener.getLocalAddress(),
                    (InetSocketAddress) peerPort.getLocalAddress(), 100, new byte[0], 200, new byte[0],
                    new TcpOptions(1460, true, true, 7, 7, true), odd, 65535, 65535);
            try (RestoredSocket r = TcpRepair.restore(s, RepairExit.NO_WINDOW_PROBE)) {
                long t0 = System.nanoTime();
                Thread.sleep(100);
                TcpState back = TcpRepair.read(r.fd());
                long sleptMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                assertEquals(0, back.timestamp() & 1, "ms timestamps (bit 0 of TCP_TIMESTAMP is the usec flag)");
                int drift = back.timestamp() - (odd & ~1);
                // ms clock: ~100 after 100 ms; a usec clock would be ~100000.
                assertTrue(drift >= 90 && drift <= sleptMs + 20, "drift " + drift + " after " + sleptMs + " ms");
                r.closeSilently();
            }
        }
    }

    /** Restore time of an SSH-like socket (2 KB unacked, 100 bytes unread), same 4-tuple each time. */
    @Test
    void restoreTime() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel peerPort = SocketChannel.open().bind(Lo.any())) {
            TcpState s = new TcpState((InetSocketAddress) listener.getLocalAddress(),
                    (InetSocketAddress) peerPort.getLocalAddress(), 123456789, Lo.pattern(1, 2048), 987654321,
                    Lo.pattern(2, 100), new TcpOptions(1460, true, true, 7, 7, true), 1000, 64 * 1024, 64 * 1024);
            int n = 200;
            long[] micros = new long[n];
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                RestoredSocket r = TcpRepair.restore(s, RepairExit.NO_WINDOW_PROBE);
                micros[i] = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0);
                r.closeSilently();
            }
            Arrays.sort(micros);
            LOG.info("restore time over {} sockets: min {} us, median {} us, p99 {} us, max {} us", n, micros[0],
                    micros[n / 2], micros[n * 99 / 100], micros[n - 1]);
            assertTrue(micros[n / 2] < 10_000, "median restore time " + micros[n / 2] + " us");
        }
    }
}
