package io.securejeebs.recovery.failover;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.securejeebs.cpr.ConnectionRestorer;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.NegotiatedOptions;
import io.securejeebs.monitor.tcp.TimestampClocks;
import org.junit.jupiter.api.Test;

class ConnectionRestorerTest {
    private static final int CLIENT = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 10});
    private static final int VIP = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 100});

    @Test
    void mapsTheServersEndOfTheSnapshotOntoTheKernelState() {
        byte[] unacked = {1, 2, 3};
        byte[] unconsumed = {4, 5};
        long tsMicros = 1_700_000_000_000_000L;
        ConnectionSnapshot s = new ConnectionSnapshot(
                new ConnectionKey(new Endpoint(CLIENT, 40000), new Endpoint(VIP, 7000)), "line-echo",
                0, 0, new NegotiatedOptions(1448, true, true, 7, 9, true),
                0xFFFF_FFFE, unacked, 0x10, unconsumed, 0x11, 300 << 7, 500 << 9,
                new TimestampClocks(99, 123_000, 123_456, 98, tsMicros), 0, 0, null, null);

        TcpState t = ConnectionRestorer.tcpState(s, tsMicros + 250_000); // 250 ms later
        assertEquals("10.213.0.100", t.local().getAddress().getHostAddress());
        assertEquals(7000, t.local().getPort());
        assertEquals("10.213.0.10", t.remote().getAddress().getHostAddress());
        assertEquals(40000, t.remote().getPort());
        assertEquals(0xFFFF_FFFE, t.sendQueueSeq());
        assertArrayEquals(unacked, t.sendQueue());
        assertEquals(0x10, t.recvQueueSeq());
        assertArrayEquals(unconsumed, t.recvQueue());
        assertEquals(1448, t.options().mss());
        assertEquals(7, t.options().sndWscale(), "the client's shift scales the windows it sends us");
        assertEquals(9, t.options().rcvWscale(), "our own shift is the primary's");
        assertEquals(123_456 + 250, t.timestamp(), "the primary's TSval clock moved on while it was dead");
        assertEquals(300 << 7, t.sendWindow());
        assertEquals(500 << 9, t.receiveWindow());
        assertEquals(1, s.clientBytesAwaitingAck(), "0x10 + 2 bytes, acknowledged up to 0x11");
    }
}
