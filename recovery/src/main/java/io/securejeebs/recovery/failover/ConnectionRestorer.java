package io.securejeebs.recovery.failover;

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
        NegotiatedOptions o = s.options();
        return new TcpState(
                s.key().server().toSocketAddress(),
                s.key().client().toSocketAddress(),
                s.serverUnackedSeq(), s.serverUnacked(),
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
        TcpRepair.RepairExit exit = s.clientBytesAwaitingAck() > 0
                ? TcpRepair.RepairExit.WINDOW_PROBE
                : TcpRepair.RepairExit.NO_WINDOW_PROBE;
        return TcpRepair.restore(tcpState(s, nowMicros), exit);
    }
}
