package io.securejeebs.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.kernel.TcpRepair.RepairExit;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousSocketChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a live loopback connection from one socket to another and under another Java channel.
 *
 * <p>Client B is connected to server socket A. A has unread data in its receive queue (B wrote, A did not
 * read) and unacknowledged data in its send queue (B's receive buffer is tiny and B does not read). The
 * test reads A's state, drops A without FIN/RST, restores the connection in a new repaired socket, swaps
 * that socket under an unrelated loopback channel C, and checks that C reads exactly A's unread bytes,
 * that B receives every byte A had accepted exactly once and in order, that traffic continues both ways,
 * and that B never sees EOF or a reset until C closes.
 */
class LiveMigrationTest {

    private static final Logger LOG = LoggerFactory.getLogger(LiveMigrationTest.class);

    /** Larger than MAX_SKB_FRAGS pages, so restoring it takes several send() calls in repair mode. */
    private static final int RECV_QUEUE_BYTES = 200_000;

    enum Target {
        BLOCKING_SOCKET_CHANNEL(RepairExit.WINDOW_PROBE),
        NON_BLOCKING_SOCKET_CHANNEL(RepairExit.NO_WINDOW_PROBE),
        ASYNCHRONOUS_SOCKET_CHANNEL(RepairExit.WINDOW_PROBE),
        ASYNCHRONOUS_SOCKET_CHANNEL_NO_WINDOW_PROBE(RepairExit.NO_WINDOW_PROBE);

        final RepairExit exit;

        Target(RepairExit exit) {
            this.exit = exit;
        }

        Endpoint connect(SocketAddress to) throws Exception {
            switch (this) {
                case BLOCKING_SOCKET_CHANNEL:
                    return Endpoint.of(SocketChannel.open(to));
                case NON_BLOCKING_SOCKET_CHANNEL: {
                    SocketChannel ch = SocketChannel.open(to);
                    ch.configureBlocking(false);
                    return Endpoint.of(ch);
                }
                default: {
                    AsynchronousSocketChannel ch = AsynchronousSocketChannel.open();
                    ch.connect(to).get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    return Endpoint.of(ch);
                }
            }
        }
    }

    @BeforeAll
    static void root() {
        Lo.assumeRoot();
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void liveConnectionMovesUnderAnotherChannel(Target target) throws Exception {
        ExecutorService pool = Lo.pool();
        try (ServerSocketChannel acceptor = ServerSocketChannel.open();
             SocketChannel bch = SocketChannel.open()) {
            acceptor.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20); // A inherits it: room for unread data
            acceptor.bind(Lo.any());
            bch.setOption(StandardSocketOptions.SO_RCVBUF, 4096); // B's window stays tiny
            bch.connect(acceptor.getLocalAddress());
            bch.configureBlocking(false);
            Endpoint b = Endpoint.of(bch);
            SocketChannel a = acceptor.accept();
            try {
                migrate(target, pool, a, bch, b);
            } finally {
                a.close();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private void migrate(Target target, ExecutorService pool, SocketChannel a, SocketChannel bch, Endpoint b)
            throws Exception {
        InetSocketAddress aLocal = (InetSocketAddress) a.getLocalAddress();
        InetSocketAddress bLocal = (InetSocketAddress) bch.getLocalAddress();

        // 1. Unread bytes in A's receive queue.
        byte[] toA = Lo.pattern(1, RECV_QUEUE_BYTES);
        b.write(toA);
        awaitState(a, s -> s.recvQueueLength() == toA.length, "A's receive queue holding all bytes B sent");

        // 2. Unacknowledged bytes in A's send queue: B does not read, so A writes until its send buffer is full.
        byte[] fromA = Lo.pattern(2, 16 << 20);
        a.configureBlocking(false);
        ByteBuffer out = ByteBuffer.wrap(fromA);
        for (int zeroWrites = 0; zeroWrites < 3; ) {
            if (a.write(out) == 0) {
                zeroWrites++;
                Thread.sleep(20);
            }
        }
        int acceptedByA = out.position();
        assertTrue(out.hasRemaining(), "A's send buffer never filled up");
        TcpState stable = awaitStable(a);
        assertTrue(stable.sendQueueLength() > 0, "expected unacknowledged bytes in A's send queue: " + stable);

        // 3. Read both ends.
        boolean reuseBefore = a.getOption(StandardSocketOptions.SO_REUSEADDR);
        assertTrue(reuseBefore, "A inherits SO_REUSEADDR from the JDK's listening socket");
        TcpState sa = TcpRepair.read(a);
        long readAt = System.nanoTime();
        TcpState sb = TcpRepair.read(bch);
        LOG.info("A: {}", sa);
        LOG.info("B: {}", sb);
        assertEquals(reuseBefore, a.getOption(StandardSocketOptions.SO_REUSEADDR), "read() must restore SO_REUSEADDR");

        assertEquals(aLocal, sa.local());
        assertEquals(bLocal, sa.remote());
        assertEquals(bLocal, sb.local());
        assertEquals(aLocal, sb.remote());
        assertArrayEquals(toA, sa.recvQueue(), "A's receive queue = the bytes B wrote");
        int inB = sb.recvQueueLength();
        assertEquals(acceptedByA, inB + sa.sendQueueLength(), "every byte A accepted is either unread at B or unacked at A");
        assertArrayEquals(Arrays.copyOfRange(fromA, inB, acceptedByA), sa.sendQueue(), "A's send queue = the tail A wrote");
        assertArrayEquals(Arrays.copyOf(fromA, inB), sb.recvQueue(), "B's receive queue = the head A wrote");
        // Sequence numbers agree across the connection.
        assertEquals(sb.rcvNxt(), sa.sendQueueSeq(), "A's snd_una = B's rcv_nxt");
        assertEquals(0, sb.sendQueueLength(), "B's bytes are all acked by A");
        assertEquals(sb.sndNxt(), sa.rcvNxt(), "B's snd_nxt = A's rcv_nxt");
        assertEquals(sa.sndNxt() - sa.sendQueueLength(), sa.sendQueueSeq());
        // Options as TCP_INFO reports them, mirrored between the ends.
        assertTrue(sa.options().timestamps() && sa.options().sackPermitted() && sa.options().windowScaling(),
                "loopback negotiates timestamps, SACK and window scaling: " + sa.options());
        assertEquals(sa.options().sndWscale(), sb.options().rcvWscale());
        assertEquals(sa.options().rcvWscale(), sb.options().sndWscale());
        assertEquals(sb.options().timestamps(), sa.options().timestamps());
        assertEquals(sb.options().sackPermitted(), sa.options().sackPermitted());
        assertTrue(sa.options().mss() >= 88 && sa.options().mss() <= 65535, "mss " + sa.options().mss());
        assertEquals(sb.receiveWindow(), sa.sendWindow(), "A's snd_wnd = the window B last advertised");
        assertEquals(0, sa.timestamp() & 1, "ms timestamps read back with bit 0 clear");

        // 4. Drop A without FIN or RST.
        TcpRepair.closeSilently(a);
        assertFalse(a.isOpen());
        Thread.sleep(50);
        TcpState sbAfter = TcpRepair.read(bch); // throws unless B is still ESTABLISHED
        assertEquals(sb.rcvNxt(), sbAfter.rcvNxt(), "nothing (no FIN) reached B");
        assertEquals(sb.recvQueueLength(), sbAfter.recvQueueLength());

        // 5. Restore. The TSval clock continues from where A's was, plus the time since it was read (PAWS).
        int elapsedMs = (int) TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readAt) + 1;
        long t0 = System.nanoTime();
        RestoredSocket restored = TcpRepair.restore(sa.withTimestamp(sa.timestamp() + elapsedMs), target.exit);
        long restoreMicros = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0);
        LOG.info("restore of {} queued bytes took {} us ({})", sa.sendQueueLength() + sa.recvQueueLength(),
                restoreMicros, target);

        // 6. Swap it under an unrelated, connected channel C.
        try (ServerSocketChannel acceptor2 = ServerSocketChannel.open().bind(Lo.any());
             Endpoint c = target.connect(acceptor2.getLocalAddress());
             SocketChannel d = acceptor2.accept()) {
            SocketAddress cachedRemote = c.remoteAddress();
            int cfd = SocketSwap.fdOf(c.channel());
            SocketSwap.swap(restored, c.channel());
            assertFalse(restored.isOwned());
            assertEquals(cfd, SocketSwap.fdOf(c.channel()), "same fd number, new socket");
            d.configureBlocking(false);
            assertTrue(Endpoint.of(d).readsEof(), "the old socket behind C was closed normally");

            // 7. C reads exactly A's unread bytes first; B gets every byte A accepted, once, in order.
            byte[] first = Lo.within(pool, () -> c.read(toA.length));
            assertArrayEquals(toA, first, "C reads A's unread bytes first");
            assertArrayEquals(Arrays.copyOf(fromA, acceptedByA), b.read(acceptedByA),
                    "B receives all bytes A had accepted, exactly once and in order");

            // 8. Traffic continues both ways: ping-pong, then a full-duplex bulk transfer.
            SplittableRandom rnd = new SplittableRandom(3);
            for (int i = 0; i < 20; i++) {
                transfer(pool, b, c, Lo.pattern(100 + i, 1 + rnd.nextInt(100_000)));
                transfer(pool, c, b, Lo.pattern(200 + i, 1 + rnd.nextInt(100_000)));
            }
            byte[] bulkBC = Lo.pattern(300, 4 << 20);
            byte[] bulkCB = Lo.pattern(301, 4 << 20);
            Future<?> w1 = pool.submit(() -> {
                b.write(bulkBC);
                return null;
            });
            Future<?> w2 = pool.submit(() -> {
                c.write(bulkCB);
                return null;
            });
            Future<byte[]> r1 = pool.submit(() -> c.read(bulkBC.length));
            Future<byte[]> r2 = pool.submit(() -> b.read(bulkCB.length));
            assertArrayEquals(bulkBC, r1.get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
            assertArrayEquals(bulkCB, r2.get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
            w1.get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            w2.get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);

            // 9. C's fd now carries the original 4-tuple, while the channel's cached address stays stale.
            TcpState sc = TcpRepair.read(c.channel());
            assertEquals(sa.local(), sc.local());
            assertEquals(sa.remote(), sc.remote());
            assertEquals(cachedRemote, c.remoteAddress(), "getRemoteAddress() stays cached (DESIGN 5.1)");
            assertNotEquals(sc.remote(), cachedRemote);
            TcpRepair.read(bch); // B is still ESTABLISHED

            // 10. An orderly close from C: B sees EOF, not a reset.
            c.channel().close();
            assertTrue(b.readsEof(), "B sees the FIN of the restored connection");
        }
    }

    private static void transfer(ExecutorService pool, Endpoint from, Endpoint to, byte[] data) throws Exception {
        Future<?> w = pool.submit(() -> {
            from.write(data);
            return null;
        });
        byte[] got = Lo.within(pool, () -> to.read(data.length));
        w.get(Lo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        assertArrayEquals(data, got);
    }

    private static TcpState awaitState(NetworkChannel ch, Predicate<TcpState> p, String what) throws Exception {
        long deadline = System.nanoTime() + Lo.TIMEOUT.toNanos();
        TcpState s;
        do {
            s = TcpRepair.read(ch);
            if (p.test(s)) {
                return s;
            }
            Thread.sleep(10);
        } while (System.nanoTime() < deadline);
        return fail("timed out waiting for " + what + "; last state " + s);
    }

    /** Waits until A's queues stop changing (B's buffer full, its acks in). */
    private static TcpState awaitStable(NetworkChannel ch) throws Exception {
        long deadline = System.nanoTime() + Lo.TIMEOUT.toNanos();
        TcpState last = TcpRepair.read(ch);
        int same = 0;
        while (same < 5) {
            if (System.nanoTime() > deadline) {
                fail("queues never settled: " + last);
            }
            Thread.sleep(20);
            TcpState s = TcpRepair.read(ch);
            same = s.sendQueueSeq() == last.sendQueueSeq() && s.sendQueueLength() == last.sendQueueLength()
                    && s.rcvNxt() == last.rcvNxt() ? same + 1 : 0;
            last = s;
        }
        return last;
    }
}
