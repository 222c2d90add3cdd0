package io.securejeebs.cpr;

import io.securejeebs.kernel.KernelShimException;
import io.securejeebs.kernel.RestoredSocket;
import io.securejeebs.kernel.TcpOptions;
import io.securejeebs.kernel.TcpRepair;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.NegotiatedOptions;

/** Turns a monitor snapshot into a kernel socket, through TCP_REPAIR. */
public final class ConnectionRestorer {
    private ConnectionRestorer() {}

    /**
     * The server end of the connection as it must be now.
     *
     * @param nowMicros wall clock, microseconds since the epoch: the primary's TSval clock has moved on since
     *                  its last captured segment, and the client's PAWS check rejects anything older
     */
    public static TcpState tcpState(ConnectionSnapshot s, long nowMicros) {
        return tcpState(s, new byte[0], nowMicros);
    }

    /**
     * The same, with {@code moreToSend} appended to the send queue: bytes the primary never sent that this
     * host sends in its place (the rest of an SSH packet the crash cut).
     */
    public static TcpState tcpState(ConnectionSnapshot s, byte[] moreToSend, long nowMicros) {
        NegotiatedOptions o = s.options();
        byte[] sendQueue = s.serverUnacked();
        if (moreToSend.length > 0) {
            sendQueue = java.util.Arrays.copyOf(sendQueue, sendQueue.length + moreToSend.length);
            System.arraycopy(moreToSend, 0, sendQueue, s.serverUnacked().length, moreToSend.length);
        }
        return new TcpState(
                s.key().server().toSocketAddress(),
                s.key().client().toSocketAddress(),
                s.serverUnackedSeq(), sendQueue,
                s.clientUnconsumedSeq(), s.clientUnconsumed(),
                new TcpOptions(o.clientMss(), o.sackPermitted(), o.windowScaling(),
                        o.clientWindowScale(), o.serverWindowScale(), o.timestamps()),
                o.timestamps() ? s.timestamps().serverTsValAt(nowMicros) : 0,
                s.clientWindow(),
                Math.max(s.serverWindow(), o.clientMss()));
    }

    /**
     * Restores the socket. When the client still waits for an ACK of bytes it sent during the outage, the
     * window probe at repair-off carries that ACK at once; otherwise no probe is sent.
     */
    public static RestoredSocket restore(ConnectionSnapshot s, long nowMicros) throws KernelShimException {
        return TcpRepair.restore(tcpState(s, nowMicros), repairExit(s));
    }

    /** Probe at repair-off only when the client waits for an ACK of bytes it sent during the outage. */
    public static TcpRepair.RepairExit repairExit(ConnectionSnapshot s) {
        return s.clientBytesAwaitingAck() > 0 ? TcpRepair.RepairExit.WINDOW_PROBE : TcpRepair.RepairExit.NO_WINDOW_PROBE;
    }

    /**
     * Ends a connection that will not be recovered with an RST its client accepts: a socket rebuilt with empty
     * queues at the next sequence number each way (the highest server byte captured, the highest contiguous
     * client byte), closed with SO_LINGER 0. A client that has nothing to retransmit (it waits for a key
     * exchange reply, or sits at a password prompt) would otherwise wait for hours. Should the client have
     * missed some of the server's last bytes, the RST is in its window but not exact: it answers with a challenge
     * ACK, which finds no socket here and draws the kernel's own RST, at exactly the client's sequence number.
     *
     * @return the sequence numbers used, for the log and the report
     * @throws IllegalArgumentException if the snapshot does not know both sequence numbers
     * @throws KernelShimException if the socket cannot be built (e.g. one for the 4-tuple already exists here)
     */
    public static String reset(ConnectionSnapshot s, long nowMicros) throws KernelShimException {
        if (!s.resettable()) {
            throw new IllegalArgumentException(s.key() + ": its sequence numbers are not known");
        }
        int sndNxt = s.serverUnackedSeq() + s.serverUnacked().length;
        int rcvNxt = s.clientUnconsumedSeq() + s.clientUnconsumed().length;
        NegotiatedOptions o = s.options();
        TcpState state = new TcpState(s.key().server().toSocketAddress(), s.key().client().toSocketAddress(),
                sndNxt, new byte[0], rcvNxt, new byte[0],
                new TcpOptions(o.clientMss(), o.sackPermitted(), o.windowScaling(),
                        o.clientWindowScale(), o.serverWindowScale(), o.timestamps()),
                o.timestamps() ? s.timestamps().serverTsValAt(nowMicros) : 0,
                s.clientWindow(), Math.max(s.serverWindow(), o.clientMss()));
        TcpRepair.restore(state, TcpRepair.RepairExit.NO_WINDOW_PROBE).reset();
        return "RST seq " + Integer.toUnsignedString(sndNxt) + " ack " + Integer.toUnsignedString(rcvNxt);
    }
}
