package io.securejeebs.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.kernel.TcpRepair.RepairExit;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Failures come back as KernelShimException naming the call, errno and arguments, and leak nothing. */
class ErrorPathTest {

    private static final int EBADF = 9;
    private static final int EINVAL = 22;
    private static final int EADDRNOTAVAIL = 99;
    private static final int ENOTCONN = 107;

    @BeforeAll
    static void root() {
        Lo.assumeRoot();
    }

    /**
     * Restoring a connection whose 4-tuple is still held by a live socket: bind succeeds (repair mode
     * forces address reuse), connect must fail. The half-built socket is closed in repair mode, so the
     * live connection is unharmed: no RST or stray segment reached either end.
     */
    @Test
    void restoreWhileTheOriginalIsAliveFailsInConnectAndLeavesTheOriginalAlone() throws Exception {
        try (ServerSocketChannel acceptor = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel b = SocketChannel.open(acceptor.getLocalAddress());
             SocketChannel a = acceptor.accept()) {
            b.write(ByteBuffer.wrap(Lo.pattern(7, 1000)));
            Thread.sleep(50);
            TcpState sa = TcpRepair.read(a);
            assertEquals(1000, sa.recvQueueLength());
            List<String> fdsBefore = Lo.openFds();

            KernelShimException e = assertThrows(KernelShimException.class,
                    () -> TcpRepair.restore(sa, RepairExit.WINDOW_PROBE));
            assertEquals("connect", e.syscall());
            assertEquals(EADDRNOTAVAIL, e.errno());
            assertEquals("Cannot assign requested address", e.errnoText());
            String local = "127.0.0.1:" + sa.local().getPort();
            String remote = "127.0.0.1:" + sa.remote().getPort();
            assertTrue(e.arguments().contains("local=" + local), e.arguments());
            assertTrue(e.arguments().contains("remote=" + remote), e.arguments());
            assertTrue(e.getMessage().startsWith("connect(fd="), e.getMessage());
            assertTrue(e.getMessage().endsWith("): Cannot assign requested address (errno 99)"), e.getMessage());
            assertEquals(fdsBefore, Lo.openFds(), "the half-built socket was closed");

            // The original connection still works both ways, with the same state.
            TcpState again = TcpRepair.read(a);
            assertEquals(sa.rcvNxt(), again.rcvNxt());
            assertEquals(sa.sndNxt(), again.sndNxt());
            ByteBuffer got = ByteBuffer.allocate(1000);
            while (got.hasRemaining()) {
                a.read(got);
            }
            assertArrayEquals(Lo.pattern(7, 1000), got.array());
            a.write(ByteBuffer.wrap(new byte[] {42}));
            ByteBuffer one = ByteBuffer.allocate(1);
            b.read(one);
            assertEquals(42, one.get(0));
        }
    }

    /** The kernel rejects TCP_MAXSEG below 88; the exception names that exact setsockopt. */
    @Test
    void invalidMssFailsInTcpMaxseg() throws Exception {
        try (ServerSocketChannel localPort = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel remotePort = SocketChannel.open().bind(Lo.any())) {
            TcpState s = new TcpState((InetSocketAddress) localPort.getLocalAddress(),
                    (InetSocketAddress) remotePort.getLocalAddress(), 1000, new byte[10], 5000, new byte[0],
                    new TcpOptions(50, true, true, 7, 7, true), 12345, 65535, 65535);
            List<String> fdsBefore = Lo.openFds();
            KernelShimException e = assertThrows(KernelShimException.class,
                    () -> TcpRepair.restore(s, RepairExit.NO_WINDOW_PROBE));
            assertEquals("setsockopt", e.syscall());
            assertEquals(EINVAL, e.errno());
            assertEquals("Invalid argument", e.errnoText());
            assertTrue(e.arguments().matches("fd=\\d+ level=SOL_TCP opt=TCP_MAXSEG value=50 .*"), e.arguments());
            assertEquals(fdsBefore, Lo.openFds(), "the half-built socket was closed");
        }
    }

    @Test
    void readOfAnUnconnectedSocketFails() throws Exception {
        try (SocketChannel ch = SocketChannel.open()) {
            int fd = SocketSwap.fdOf(ch);
            KernelShimException e = assertThrows(KernelShimException.class, () -> TcpRepair.read(ch));
            assertEquals("getsockopt", e.syscall());
            assertEquals(ENOTCONN, e.errno());
            assertTrue(e.arguments().startsWith("fd=" + fd + " level=SOL_TCP opt=TCP_INFO"), e.arguments());
            assertTrue(ch.isOpen());
        }
    }

    @Test
    void closeSilentlyOfABadFdFailsAndSaysSo() {
        KernelShimException e = assertThrows(KernelShimException.class, () -> TcpRepair.closeSilently(-1));
        assertEquals("setsockopt", e.syscall());
        assertEquals(EBADF, e.errno());
        assertTrue(e.arguments().startsWith("fd=-1 level=SOL_TCP opt=TCP_REPAIR value=1"), e.arguments());
    }

    @Test
    void fdOfRejectsUnsupportedChannels() throws Exception {
        try (DatagramChannel dc = DatagramChannel.open();
             ServerSocketChannel ssc = ServerSocketChannel.open()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SocketSwap.fdOf(dc));
            assertTrue(e.getMessage().contains(dc.getClass().getName()), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> SocketSwap.fdOf(ssc));
            assertThrows(IllegalArgumentException.class, () -> TcpRepair.read(dc));
        }
        SocketChannel closed = SocketChannel.open();
        closed.close();
        assertThrows(IllegalStateException.class, () -> SocketSwap.fdOf(closed));
    }

    @Test
    void fdOfMatchesTheKernelsView() throws Exception {
        try (ServerSocketChannel acceptor = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel b = SocketChannel.open(acceptor.getLocalAddress());
             SocketChannel a = acceptor.accept()) {
            int fd = SocketSwap.fdOf(b);
            assertTrue(Lo.isOpenFd(fd));
            // The fd's socket is the one with B's addresses.
            TcpState s = TcpRepair.read(fd);
            assertEquals(b.getLocalAddress(), s.local());
            assertEquals(a.getLocalAddress(), s.remote());
        }
    }

    @Test
    void swapRejectsBadArguments() throws Exception {
        try (ServerSocketChannel acceptor = ServerSocketChannel.open().bind(Lo.any());
             SocketChannel unconnected = SocketChannel.open();
             SocketChannel b = SocketChannel.open(acceptor.getLocalAddress());
             SocketChannel a = acceptor.accept()) {
            // A restored socket object that no longer owns its fd.
            RestoredSocket released = new RestoredSocket(Integer.MAX_VALUE);
            released.release();
            assertThrows(IllegalStateException.class, () -> SocketSwap.swap(released, a));
            RestoredSocket dummy = new RestoredSocket(Integer.MAX_VALUE);
            assertThrows(IllegalArgumentException.class, () -> SocketSwap.swap(dummy, unconnected));
            // The swap fails on the bad source fd: named, and the target is untouched.
            KernelShimException e = assertThrows(KernelShimException.class, () -> SocketSwap.swap(dummy, a));
            assertEquals("fcntl", e.syscall());
            assertEquals(EBADF, e.errno());
            assertTrue(dummy.isOwned(), "ownership stays with the RestoredSocket when the swap fails");
            dummy.release();
            b.write(ByteBuffer.wrap(new byte[] {1}));
            ByteBuffer one = ByteBuffer.allocate(1);
            a.read(one);
            assertEquals(1, one.get(0));
        }
    }
}
