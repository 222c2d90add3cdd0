package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.monitor.bench.RecordedSshSession;
import io.securejeebs.monitor.bench.SyntheticTcpWire;
import io.securejeebs.monitor.bench.TypedChannel;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.junit.jupiter.api.Test;

/**
 * A rekey the client started, cut before the server answered more than its KEXINIT: the session stays recoverable,
 * as it stood before the client's KEXINIT, which goes back to the restored socket for the recovery server to answer
 * afresh, and the model carries the server's KEXINIT for the recovery server to take as its own. Once the server has
 * sent its key-exchange reply, the session is not recoverable (it is reset instead).
 */
class UnansweredRekeyTest {
    private static final int SERVER = 0x0ad5_0064;
    private static final int CLIENT = 0x0ad5_000a;

    @Test
    void theClientsKexInitGoesBackToTheSocketUntilTheServerReplies() throws Exception {
        RecordedSshSession rec = RecordedSshSession.record(BuiltinCiphers.aes128ctr, session -> {
            TypedChannel shell = TypedChannel.shell(session, "xterm", 80, 24, Map.of(), 1 << 12);
            shell.type("echo one\r");
            session.reExchangeKeys().verify(10, TimeUnit.SECONDS);
            shell.type("echo two\r");
        }, 100);
        List<RecordedSshSession.Chunk> chunks = rec.chunks();

        // where the server's rekey KEXINIT is: the first chunk after which the model carries one
        ConnectionTable table = table(rec);
        SyntheticTcpWire w = wire(table);
        int serverKexInit = -1;
        for (int i = 0; i < chunks.size() && serverKexInit < 0; i++) {
            feed(w, chunks.get(i));
            ConnectionSnapshot s = table.snapshotOpenConnections().get(0);
            if (s.recoverable() && ((SshSessionModel) s.resume()).serverKexInitSent() != null) {
                serverKexInit = i;
            }
        }
        assertTrue(serverKexInit > 0, "the recording has a rekey whose server KEXINIT the model saw");
        RecordedSshSession.Chunk kexInit = chunks.get(serverKexInit - 1);
        assertTrue(kexInit.fromClient(), "the client started the rekey");

        ConnectionTable cut = table(rec);
        SyntheticTcpWire cw = wire(cut);
        for (int i = 0; i < serverKexInit - 1; i++) {
            feed(cw, chunks.get(i));
        }
        ConnectionSnapshot before = cut.snapshotOpenConnections().get(0);
        SshSessionModel was = (SshSessionModel) before.resume();

        // 1. only the client's KEXINIT: it goes back to the socket, the replay stops before it
        feed(cw, kexInit);
        ConnectionSnapshot s = cut.snapshotOpenConnections().get(0);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertArrayEquals(kexInit.data(), s.clientUnconsumed(), "the client's KEXINIT is for the restored socket");
        SshSessionModel m = (SshSessionModel) s.resume();
        assertEquals(was.clientToServer().position(), m.clientToServer().position(), "the replay stops before it");
        assertEquals(was.clientToServer().keyEpoch(), m.clientToServer().keyEpoch());
        assertNull(m.serverKexInitSent());

        // 2. and the server's KEXINIT: still recoverable, the recovery server is to take that KEXINIT as its own
        feed(cw, chunks.get(serverKexInit));
        s = cut.snapshotOpenConnections().get(0);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertArrayEquals(kexInit.data(), s.clientUnconsumed());
        m = (SshSessionModel) s.resume();
        assertEquals(20, m.serverKexInitSent()[0], "a KEXINIT payload");
        assertEquals(was.serverToClient().position().sequence() + 1, m.serverToClient().position().sequence(),
                "the server's stream is past its KEXINIT");

        // 3. the server's key-exchange reply: the client now holds part of the primary's exchange
        boolean answered = false;
        for (int i = serverKexInit + 1; i < chunks.size() && !answered; i++) {
            feed(cw, chunks.get(i));
            ConnectionSnapshot after = cut.snapshotOpenConnections().get(0);
            if (!after.recoverable()) {
                assertTrue(after.unrecoverableReason().contains("rekey #1"), after.unrecoverableReason());
                assertTrue(after.resettable(), "it can still be reset");
                answered = true;
            }
        }
        assertTrue(answered, "between the server's reply and both NEWKEYS the session is not recoverable");
    }

    private static void feed(SyntheticTcpWire w, RecordedSshSession.Chunk c) {
        byte[] d = c.data();
        for (int off = 0; off < d.length; off += 1400) {
            w.data(c.fromClient(), d, off, Math.min(1400, d.length - off));
        }
        w.ack(!c.fromClient());
    }

    private static SyntheticTcpWire wire(ConnectionTable table) {
        SyntheticTcpWire w = new SyntheticTcpWire(table, new FrameDecoder(FrameDecoder.DLT_EN10MB, new FrameCounters()),
                SERVER, CLIENT, 40_001);
        w.handshake();
        return w;
    }

    private static ConnectionTable table(RecordedSshSession rec) {
        return new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)),
                SshSessionTracker.factory(rec.recordSource(), SshSessionTracker.Limits.DEFAULT, true), 4 << 20, 10,
                new FrameCounters());
    }
}
