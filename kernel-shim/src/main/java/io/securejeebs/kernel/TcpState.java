package io.securejeebs.kernel;

import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.Objects;

/**
 * Everything needed to rebuild one ESTABLISHED TCP connection with TCP_REPAIR.
 *
 * <p>All sequence numbers are 32-bit and wrap; do arithmetic on them with {@code int} (modulo 2^32)
 * and compare them with {@code (a - b) < 0}, never with {@code <}.
 *
 * @param local         our address and port (the server side, e.g. VIP:22)
 * @param remote        the peer's address and port
 * @param sendQueueSeq  sequence number of the first byte of {@code sendQueue} (= snd_una)
 * @param sendQueue     bytes sent but not acknowledged by the peer. On restore the kernel treats them
 *                      as already sent and unacknowledged, and retransmits them.
 * @param recvQueueSeq  sequence number of the first byte of {@code recvQueue}
 * @param recvQueue     bytes received from the peer that the application has not read. After a restore
 *                      the application reads exactly these bytes first.
 * @param options       negotiated TCP options
 * @param timestamp     value for TCP_TIMESTAMP: our TSval clock now. The shim clears its low bit on
 *                      restore (an odd value switches Linux 6.18 to microsecond timestamps). Ignored
 *                      unless {@code options.timestamps()}.
 * @param sendWindow    the peer's receive window in bytes (already scaled)
 * @param receiveWindow our receive window in bytes
 */
public record TcpState(InetSocketAddress local, InetSocketAddress remote, int sendQueueSeq, byte[] sendQueue,
                       int recvQueueSeq, byte[] recvQueue, TcpOptions options, int timestamp, int sendWindow,
                       int receiveWindow) {

    /**
     * Validates and takes defensive copies of both queues.
     */
    public TcpState {
        Objects.requireNonNull(local, "local");
        Objects.requireNonNull(remote, "remote");
        Objects.requireNonNull(sendQueue, "sendQueue");
        Objects.requireNonNull(recvQueue, "recvQueue");
        Objects.requireNonNull(options, "options");
        if (local.isUnresolved() || remote.isUnresolved()) {
            throw new IllegalArgumentException("addresses must be resolved: local=" + local + " remote=" + remote);
        }
        if ((local.getAddress() instanceof Inet4Address) != (remote.getAddress() instanceof Inet4Address)) {
            throw new IllegalArgumentException("local and remote address families differ: local=" + local
                    + " remote=" + remote);
        }
        if (sendWindow < 0) {
            throw new IllegalArgumentException("sendWindow must be >= 0: " + sendWindow);
        }
        if (receiveWindow < 0) {
            throw new IllegalArgumentException("receiveWindow must be >= 0: " + receiveWindow);
        }
        sendQueue = sendQueue.clone();
        recvQueue = recvQueue.clone();
    }

    /** A copy of the unacknowledged send queue. */
    @Override
    public byte[] sendQueue() {
        return sendQueue.clone();
    }

    /** A copy of the unread receive queue. */
    @Override
    public byte[] recvQueue() {
        return recvQueue.clone();
    }

    /** Length of the send queue, without copying it. */
    public int sendQueueLength() {
        return sendQueue.length;
    }

    /** Length of the receive queue, without copying it. */
    public int recvQueueLength() {
        return recvQueue.length;
    }

    /** snd_nxt: the sequence number of the next new byte we send (wraps modulo 2^32). */
    public int sndNxt() {
        return sendQueueSeq + sendQueue.length;
    }

    /** rcv_nxt: the sequence number of the next byte we expect from the peer (wraps modulo 2^32). */
    public int rcvNxt() {
        return recvQueueSeq + recvQueue.length;
    }

    /** The same state with another TCP_TIMESTAMP value, e.g. the recorded TSval plus the ms elapsed since. */
    public TcpState withTimestamp(int newTimestamp) {
        return new TcpState(local, remote, sendQueueSeq, sendQueue, recvQueueSeq, recvQueue, options,
                newTimestamp, sendWindow, receiveWindow);
    }

    // Package-private, copy-free views for the shim itself. Never modify.
    byte[] sendQueueView() {
        return sendQueue;
    }

    byte[] recvQueueView() {
        return recvQueue;
    }

    /** Compares the queues by content. */
    @Override
    public boolean equals(Object o) {
        return o instanceof TcpState s
                && local.equals(s.local) && remote.equals(s.remote)
                && sendQueueSeq == s.sendQueueSeq && Arrays.equals(sendQueue, s.sendQueue)
                && recvQueueSeq == s.recvQueueSeq && Arrays.equals(recvQueue, s.recvQueue)
                && options.equals(s.options) && timestamp == s.timestamp
                && sendWindow == s.sendWindow && receiveWindow == s.receiveWindow;
    }

    @Override
    public int hashCode() {
        return Objects.hash(local, remote, sendQueueSeq, Arrays.hashCode(sendQueue), recvQueueSeq,
                Arrays.hashCode(recvQueue), options, timestamp, sendWindow, receiveWindow);
    }

    /** Never prints queue contents (session payload must not reach logs), only their lengths. */
    @Override
    public String toString() {
        return "TcpState[local=" + local + ", remote=" + remote
                + ", sendQueueSeq=" + Integer.toUnsignedString(sendQueueSeq)
                + ", sendQueue=" + sendQueue.length + " bytes"
                + ", recvQueueSeq=" + Integer.toUnsignedString(recvQueueSeq)
                + ", recvQueue=" + recvQueue.length + " bytes"
                + ", options=" + options
                + ", timestamp=" + Integer.toUnsignedString(timestamp)
                + ", sendWindow=" + sendWindow + ", receiveWindow=" + receiveWindow + "]";
    }
}
