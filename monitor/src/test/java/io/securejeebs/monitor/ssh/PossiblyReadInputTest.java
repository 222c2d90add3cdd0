package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The at-most-once rule on the tracker, with a real MINA session: a shell line the server read but never
 * acknowledged, captured before the server was known dead, is taken as consumed (its input kept for the notice,
 * none of it left for the restored socket); captured after, it is left for the restored socket whole.
 */
class PossiblyReadInputTest {
    private static final int SERVER = 0x0ad5_0064;
    private static final int CLIENT = 0x0ad5_000a;
    private static RecordedSshSession rec;

    @BeforeAll
    static void record() throws Exception {
        rec = RecordedSshSession.record(BuiltinCiphers.cc20p1305_openssh, session -> {
            TypedChannel shell = TypedChannel.shell(session, "xterm", 80, 24, Map.of(), 1 << 12);
            shell.type("echo one\r");
            shell.type("echo two\r");
        }, 100);
    }

    /** Feeds the recording up to its last client chunk, which the server never acknowledges; returns its capture time. */
    private static long replayUnacknowledgedLastLine(ConnectionTable table) {
        List<RecordedSshSession.Chunk> chunks = rec.chunks();
        int last = -1;
        for (int i = 0; i < chunks.size(); i++) {
            if (chunks.get(i).fromClient()) {
                last = i;
            }
        }
        SyntheticTcpWire w = new SyntheticTcpWire(table, new FrameDecoder(FrameDecoder.DLT_EN10MB, new FrameCounters()),
                SERVER, CLIENT, 40_000);
        w.handshake();
        long at = 0;
        for (int i = 0; i <= last; i++) {
            RecordedSshSession.Chunk c = chunks.get(i);
            if (i == last) {
                at = w.nowMicros();
            }
            w.data(c.fromClient(), c.data(), 0, c.data().length);
            if (i < last) {
                w.ack(!c.fromClient());
            }
        }
        return at;
    }

    private static ConnectionTable table() {
        return new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)),
                SshSessionTracker.factory(rec.recordSource(), SshSessionTracker.Limits.DEFAULT, true), 4 << 20, 10,
                new FrameCounters());
    }

    @Test
    void aLineCapturedBeforeTheServerWasKnownDeadIsConsumedAndKeptForTheNotice() {
        ConnectionTable table = table();
        long at = replayUnacknowledgedLastLine(table);
        ConnectionSnapshot before = table.snapshotOpenConnections().get(0);
        assertTrue(before.recoverable(), before.unrecoverableReason());
        assertTrue(before.clientUnconsumed().length > 0, "the line waits in the receive queue");

        ConnectionSnapshot s = table.settleAndSnapshot(before.key(), at + 1_000);
        assertTrue(s.recoverable(), s.unrecoverableReason());
        assertEquals(0, s.clientUnconsumed().length, "nothing of it is left for a new shell");
        SshSessionModel m = (SshSessionModel) s.resume();
        List<String> doubtful = m.possiblyReadInput().get(m.channels().get(0).serverId());
        assertNotNull(doubtful, "kept for the notice: " + m.possiblyReadInput());
        String line = doubtful.get(doubtful.size() - 1);
        assertTrue(!line.isEmpty() && "echo two".endsWith(line), line);
        assertTrue(m.clientToServer().sequence() > ((SshSessionModel) before.resume()).clientToServer().sequence(),
                "the replay starts after it");
    }

    @Test
    void aLineCapturedAfterTheServerWasKnownDeadIsDeliveredWhole() {
        ConnectionTable table = table();
        long at = replayUnacknowledgedLastLine(table);
        ConnectionSnapshot before = table.snapshotOpenConnections().get(0);
        ConnectionSnapshot s = table.settleAndSnapshot(before.key(), at - 1);
        assertEquals(before.clientUnconsumed().length, s.clientUnconsumed().length);
        assertTrue(((SshSessionModel) s.resume()).possiblyReadInput().isEmpty());
    }
}
