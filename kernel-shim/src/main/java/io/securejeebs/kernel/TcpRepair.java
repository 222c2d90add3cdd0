package io.securejeebs.kernel;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.NetworkChannel;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TCP_REPAIR: rebuild an ESTABLISHED connection from a {@link TcpState}, read one back from a live
 * socket, and drop a socket without a FIN or RST.
 *
 * <p>Needs CAP_NET_ADMIN in the socket's network namespace. Linux only.
 */
public final class TcpRepair {

    private static final Logger LOG = LoggerFactory.getLogger(TcpRepair.class);

    /** How repair mode is left at the end of {@link #restore}. */
    public enum RepairExit {
        /**
         * {@code TCP_REPAIR = TCP_REPAIR_OFF (0)}: the kernel sends a window probe, an ACK carrying our
         * rcv_nxt and window. It acknowledges the restored receive queue at once and makes the peer
         * report its current window.
         */
        WINDOW_PROBE,
        /** {@code TCP_REPAIR = TCP_REPAIR_OFF_NO_WP (-1)}: leave repair mode with nothing on the wire. */
        NO_WINDOW_PROBE
    }

    private TcpRepair() {
    }

    /**
     * Builds a socket that continues the connection described by {@code state}, following DESIGN §5.3:
     * <ol>
     * <li>socket(); SO_REUSEADDR and IP_FREEBIND <em>before</em> repair on (set later, SO_REUSEADDR would
     * undo repair's bind override); TCP_WINDOW_CLAMP = 65535 if window scaling is off (so that connect
     * picks a receive shift of 0);</li>
     * <li>TCP_REPAIR on; TCP_QUEUE_SEQ of the send queue = {@code sendQueueSeq}, of the receive queue =
     * {@code recvQueueSeq};</li>
     * <li>bind(local); TCP_MAXSEG = mss (before connect, or the socket sends 524-byte segments; the kernel
     * accepts at most 32767 here, so a larger MSS such as loopback's 65495 is set as 32767 and in full by
     * TCP_REPAIR_OPTIONS); connect(remote), which sends no SYN and goes straight to ESTABLISHED;</li>
     * <li>TCP_REPAIR_OPTIONS (MSS, window scales, SACK-permitted, timestamps); TCP_TIMESTAMP with its low
     * bit cleared; TCP_REPAIR_WINDOW (snd_wl1 = rcv_wup = recvQueueSeq, snd_wnd = max_window =
     * sendWindow, rcv_wnd = receiveWindow);</li>
     * <li>SO_SNDBUFFORCE / SO_RCVBUFFORCE, only if the queues would not fit the buffers the kernel chose at
     * connect (setting a size disables the kernel's buffer autotuning for the socket);</li>
     * <li>send queue: send() the unacknowledged bytes (treated as sent, retransmitted later); receive
     * queue: send() the unread bytes (readable by the application first);</li>
     * <li>queue none, and TCP_REPAIR off per {@code exit}.</li>
     * </ol>
     * On any failure the half-built socket is closed while still in repair mode, so nothing reaches the
     * wire, and the exception names the failing call.
     *
     * <p>The socket's family follows the state's addresses: AF_INET for IPv4 (even when the old socket was
     * a dual-stack AF_INET6 socket with v4-mapped addresses), AF_INET6 for IPv6. It is left in blocking
     * mode and has FD_CLOEXEC set.
     *
     * @param state the connection to continue; nothing else may hold its 4-tuple in this namespace
     * @param exit  how to leave repair mode
     * @return the live socket; the caller owns it
     * @throws KernelShimException naming the failing system call
     */
    public static RestoredSocket restore(TcpState state, RepairExit exit) throws KernelShimException {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(exit, "exit");
        NativeLoader.ensureLoaded();
        TcpOptions o = state.options();
        int[] p = new int[Native.RP_COUNT];
        p[Native.RP_LOCAL_PORT] = state.local().getPort();
        p[Native.RP_REMOTE_PORT] = state.remote().getPort();
        p[Native.RP_SCOPE_ID] = state.remote().getAddress() instanceof Inet6Address a6 ? a6.getScopeId() : 0;
        p[Native.RP_SEND_SEQ] = state.sendQueueSeq();
        p[Native.RP_RECV_SEQ] = state.recvQueueSeq();
        p[Native.RP_MSS] = o.mss();
        p[Native.RP_OPTIONS] = (o.timestamps() ? Native.OPT_TIMESTAMPS : 0)
                | (o.sackPermitted() ? Native.OPT_SACK : 0)
                | (o.windowScaling() ? Native.OPT_WSCALE : 0);
        p[Native.RP_SND_WSCALE] = o.sndWscale();
        p[Native.RP_RCV_WSCALE] = o.rcvWscale();
        p[Native.RP_TIMESTAMP] = state.timestamp();
        p[Native.RP_SND_WND] = state.sendWindow();
        p[Native.RP_RCV_WND] = state.receiveWindow();
        p[Native.RP_REPAIR_OFF] = exit == RepairExit.WINDOW_PROBE ? 0 : -1;
        long t0 = System.nanoTime();
        int fd = Native.restore0(p, state.local().getAddress().getAddress(),
                state.remote().getAddress().getAddress(), state.sendQueueView(), state.recvQueueView());
        if (LOG.isDebugEnabled()) {
            LOG.debug("restored fd={} in {} us: {}", fd, (System.nanoTime() - t0) / 1000, state);
        }
        return new RestoredSocket(fd);
    }

    /**
     * Reads the state of a live ESTABLISHED socket, and leaves it as it was.
     *
     * <p>Under TCP_REPAIR it reads, per queue, TCP_QUEUE_SEQ (write_seq for the send queue, rcv_nxt for the
     * receive queue: both are the <em>end</em> of the queue) and the length (SIOCOUTQ, SIOCINQ), so the
     * queue start is {@code end - length}; the contents with recv(MSG_PEEK); TCP_MAXSEG (the mss_clamp in
     * repair mode); TCP_TIMESTAMP; TCP_REPAIR_WINDOW; and from TCP_INFO the options and window scales.
     * Repair mode is then switched off with TCP_REPAIR_OFF_NO_WP (nothing on the wire), and SO_REUSEADDR,
     * which leaving repair mode resets, is put back.
     *
     * <p>The send queue holds everything not yet acknowledged, including bytes the kernel has not sent
     * yet. Out-of-order data beyond rcv_nxt is not part of the state (the peer retransmits it). The socket
     * should be quiet while it is read: if a queue changes during the read, it is read again (up to three
     * times), then a KernelShimException is thrown.
     *
     * @throws KernelShimException if a call fails or the socket is not ESTABLISHED
     */
    public static TcpState read(int fd) throws KernelShimException {
        NativeLoader.ensureLoaded();
        int[] r = new int[Native.RS_COUNT];
        byte[][] b = new byte[Native.RB_COUNT][];
        Native.read0(fd, r, b);
        int sendEnd = r[Native.RS_SEND_END];
        int recvEnd = r[Native.RS_RCV_NXT];
        int opts = r[Native.RS_OPTIONS];
        boolean wscale = (opts & Native.OPT_WSCALE) != 0;
        TcpOptions options = new TcpOptions(r[Native.RS_MSS], (opts & Native.OPT_SACK) != 0, wscale,
                wscale ? r[Native.RS_SND_WSCALE] : 0, wscale ? r[Native.RS_RCV_WSCALE] : 0,
                (opts & Native.OPT_TIMESTAMPS) != 0);
        return new TcpState(
                address(b[Native.RB_LOCAL_ADDR], r[Native.RS_LOCAL_PORT], r[Native.RS_LOCAL_SCOPE]),
                address(b[Native.RB_REMOTE_ADDR], r[Native.RS_REMOTE_PORT], r[Native.RS_REMOTE_SCOPE]),
                sendEnd - r[Native.RS_OUTQ], b[Native.RB_SEND_QUEUE],
                recvEnd - r[Native.RS_INQ], b[Native.RB_RECV_QUEUE],
                options, r[Native.RS_TIMESTAMP], r[Native.RS_SND_WND], r[Native.RS_RCV_WND]);
    }

    /**
     * {@link #read(int)} on the socket of a JDK channel (a SocketChannel or AsynchronousSocketChannel).
     * The channel must have no I/O in progress.
     */
    public static TcpState read(NetworkChannel channel) throws KernelShimException {
        return read(SocketSwap.fdOf(channel));
    }

    /**
     * Drops a socket without a FIN or RST: TCP_REPAIR on, then close(). For a socket whose connection now
     * lives elsewhere. If TCP_REPAIR cannot be switched on (no CAP_NET_ADMIN, or the socket is neither
     * ESTABLISHED nor CLOSED), the fd is <em>not</em> closed, since a normal close would reset the moved
     * connection, and the exception is thrown.
     *
     * <p>Closing an fd only ends the connection if it is the last reference to the socket. Do not use this
     * on the fd of a JDK channel: the channel would keep a dangling fd number. Use
     * {@link #closeSilently(NetworkChannel)} for channels.
     */
    public static void closeSilently(int fd) throws KernelShimException {
        NativeLoader.ensureLoaded();
        Native.closeSilently0(fd);
    }

    /**
     * Drops the connection of a JDK channel without a FIN or RST, then closes the channel.
     *
     * <p>TCP_REPAIR is switched on for the channel's socket, an unconnected throwaway socket is
     * {@code dup3}-ed over the channel's fd (releasing the last reference to the old socket, which closes it
     * silently), and then the channel is closed normally, which closes only the throwaway socket. The same
     * constraints as {@link SocketSwap#swap} apply: no I/O in progress on the channel, and no other dup of
     * its fd. If TCP_REPAIR cannot be switched on, the channel is left open and untouched.
     */
    public static void closeSilently(NetworkChannel channel) throws KernelShimException {
        int fd = SocketSwap.fdOf(channel);
        Native.detachSilently0(fd);
        try {
            channel.close();
        } catch (java.io.IOException e) {
            // Only the throwaway socket is closed here; the connection is already gone silently.
            LOG.debug("closing detached channel: {}", e.toString());
        }
    }

    private static InetSocketAddress address(byte[] raw, int port, int scope) {
        try {
            InetAddress a = InetAddress.getByAddress(raw); // a v4-mapped IPv6 address becomes Inet4Address
            if (a instanceof Inet6Address && scope != 0) {
                a = Inet6Address.getByAddress(null, raw, scope);
            }
            return new InetSocketAddress(a, port);
        } catch (UnknownHostException e) { // only for lengths other than 4 and 16, which C never returns
            throw new IllegalStateException("native code returned an address of " + raw.length + " bytes", e);
        }
    }
}
