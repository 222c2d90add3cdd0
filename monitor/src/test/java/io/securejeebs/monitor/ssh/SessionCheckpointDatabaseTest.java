package io.securejeebs.monitor.ssh;

import io.securejeebs.monitor.bench.TappedRelay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.store.DatabaseSettings;
import io.securejeebs.keyexport.store.PrivateMariaDb;
import io.securejeebs.keyexport.store.PrivateMariaDb.Database;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.SessionCheckpointRepository;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Delete;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Save;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.StoredCheckpoint;
import io.securejeebs.monitor.checkpoint.CheckpointCodec;
import io.securejeebs.monitor.checkpoint.CheckpointLoader;
import io.securejeebs.monitor.checkpoint.CheckpointWriter;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.TcpConnection;
import io.securejeebs.monitor.tcp.TcpFlow;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints through a real private MariaDB ({@link PrivateMariaDb}, as {@code sj_appliance}), of a live SSH
 * session: a MINA client and server talking through a relay whose bytes are carried, as captured TCP frames,
 * to the connection tables that are "capturing" (the appliance of the moment, and a reference that never
 * stops). The appliance stops, a new one loads the checkpoints and follows the session's later bytes.
 */
@ExtendWith(PrivateMariaDb.class)
class SessionCheckpointDatabaseTest {
    private static final Duration T = Duration.ofSeconds(10);
    private static final Duration DB_TIMEOUT = Duration.ofSeconds(3);
    /** Each test its own 4-tuple: the database is shared by the whole run. */
    private static final AtomicInteger PORTS = new AtomicInteger(41000 + new Random().nextInt(20000));

    @TempDir
    Path dir;

    static KexRecordSource recordsOf(RecordedSshServer server) {
        return (key, ordinal, delivery) -> {
            Thread t = new Thread(() -> {
                try {
                    KexRecord r = server.awaitRecord(ordinal);
                    if (r == null) {
                        delivery.failed("not exported within 5 s");
                    } else {
                        delivery.record(r);
                    }
                } catch (InterruptedException e) {
                    delivery.failed("interrupted");
                }
            }, "kex-record-delivery");
            t.setDaemon(true);
            t.start();
        };
    }

    static ConnectionTable table(KexRecordSource records) {
        return new ConnectionTable(TcpFlow.watched(), SshSessionTracker.factory(records, SshSessionTracker.Limits.DEFAULT,
                true), 4 << 20, 100, new FrameCounters());
    }

    /** One live session; its bytes go, as TCP frames, to the reference table and to the appliance's, if one runs. */
    static final class LiveSession implements AutoCloseable {
        final RecordedSshServer server;
        final KexRecordSource records;
        final TcpFlow flow;
        final Object lock = new Object();
        final TcpFlow.Feed reference;
        final TappedRelay relay;
        final SshClient client = SshClient.setUpDefaultClient();
        final List<TcpFlow.Frame> handshake;
        TcpFlow.Feed appliance;
        long maxFeedNanos;
        ClientSession session;
        ChannelShell shell;
        PipedOutputStream typing;
        final ByteArrayOutputStream shellOut = new ByteArrayOutputStream();

        LiveSession(Path dir) throws Exception {
            server = new RecordedSshServer(dir);
            records = recordsOf(server);
            flow = new TcpFlow(PORTS.incrementAndGet(), 0xFFFF_FF00, 0x2000_0000, 1_700_000_000_000_000L, 1448, null);
            reference = new TcpFlow.Feed(table(records));
            relay = new TappedRelay(server.port(), (fromClient, data, length) -> {
                synchronized (lock) {
                    flow.send(fromClient, data, 0, length);
                    for (TcpFlow.Frame f : flow.take()) {
                        reference.feed(f);
                        if (appliance != null) {
                            long t0 = System.nanoTime();
                            appliance.feed(f);
                            maxFeedNanos = Math.max(maxFeedNanos, System.nanoTime() - t0);
                        }
                    }
                }
            });
            synchronized (lock) {
                flow.handshake(); // the relay's own connection is the one "captured": same bytes, this 4-tuple
                handshake = flow.take();
                handshake.forEach(reference::feed);
            }
            client.setCipherFactories(List.of(BuiltinCiphers.aes128ctr)); // a MAC as well: the hardest position
            client.start();
        }

        ConnectionKey key() {
            return flow.key();
        }

        /** The appliance of the moment starts capturing, from the handshake if it is there from the start. */
        void attach(ConnectionTable table, boolean fromTheStart) {
            synchronized (lock) {
                appliance = new TcpFlow.Feed(table);
                if (fromTheStart) {
                    handshake.forEach(appliance::feed);
                }
            }
        }

        /** The appliance stops capturing. */
        void detach() {
            synchronized (lock) {
                appliance = null;
            }
        }

        void loginAndOpenShell() throws Exception {
            session = client.connect("alice", "127.0.0.1", relay.port()).verify(T).getSession();
            session.addPasswordIdentity("pw");
            session.auth().verify(T);
            shell = session.createShellChannel();
            shell.setPtyType("xterm-256color");
            shell.setPtyColumns(100);
            shell.setPtyLines(30);
            shell.setEnv("LANG", "C.UTF-8");
            typing = new PipedOutputStream();
            shell.setIn(new PipedInputStream(typing, 1 << 16));
            shell.setOut(shellOut);
            shell.setErr(shellOut);
            shell.open().verify(T);
        }

        void type(String text) throws Exception {
            int before = shellOut.size();
            typing.write(text.getBytes(StandardCharsets.UTF_8));
            typing.flush();
            await(() -> shellOut.size() >= before + text.length(), "the echo of " + text.strip());
        }

        void windowChange(int columns, int rows) throws Exception {
            shell.sendWindowChange(columns, rows); // asynchronous: wait until it crossed the relay
            await(() -> {
                ConnectionSnapshot s = snapshot(reference.table());
                return s.resume() instanceof SshSessionModel m && m.channels().get(0).pty().columns() == columns;
            }, "the window change");
        }

        ConnectionSnapshot snapshot(ConnectionTable t) {
            return t.snapshot(key());
        }

        /** At a quiet moment: the table's model is the server's own state. */
        SshSessionModel assertMatchesServer(ConnectionTable t) throws Exception {
            relay.awaitQuiet(150);
            await(() -> snapshot(t).recoverable(), "a recoverable model (" + snapshot(t).unrecoverableReason() + ")");
            SshSessionModel m = (SshSessionModel) snapshot(t).resume();
            assertEquals(RecordedSshServer.serverView(server.onlySession()), RecordedSshServer.trackerView(m));
            return m;
        }

        @Override
        public void close() throws Exception {
            if (session != null) {
                session.close(true);
            }
            client.stop();
            relay.close();
            server.close();
        }
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10);
        }
    }

    static StoredCheckpoint row(SessionCheckpointRepository repo, ConnectionKey key) throws RecordStoreException {
        return repo.loadAll().stream().filter(r -> r.connKey().equals(key.toString())).findFirst().orElse(null);
    }

    static StoredCheckpoint awaitRow(SessionCheckpointRepository repo, ConnectionKey key, Predicate<StoredCheckpoint> p,
                                     String what) throws Exception {
        long deadline = System.nanoTime() + T.toNanos();
        while (true) {
            StoredCheckpoint r = row(repo, key);
            if (r != null && p.test(r)) {
                return r;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for a checkpoint row with " + what + "; last: " + r);
            }
            Thread.sleep(20);
        }
    }

    static SshCheckpoint ssh(StoredCheckpoint row) {
        try {
            return (SshCheckpoint) CheckpointCodec.decode(row.state()).application();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aRestartedApplianceResumesAnIdleSessionAndFollowsItLikeOneThatNeverStopped(Database db) throws Exception {
        try (LiveSession live = new LiveSession(dir);
             SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(DB_TIMEOUT))) {
            try {
                ConnectionTable first = table(live.records);
                // The interval is an hour: what is written here is written because state-setting messages asked.
                CheckpointWriter writer = new CheckpointWriter(first, repo, Duration.ofHours(1), Duration.ofMillis(50))
                        .start();
                live.attach(first, true);
                live.loginAndOpenShell();
                StoredCheckpoint early = awaitRow(repo, live.key(), r -> r.recoverable()
                        && ssh(r).channels().stream().anyMatch(ch -> "shell".equals(ch.command())), "the shell");
                assertEquals("alice", ssh(early).user());
                live.type("echo hello\n");
                live.assertMatchesServer(first);
                assertTrue(writer.flush(T), writer.lastError());
                writer.close(); // the appliance stops
                live.detach();
                Thread.sleep(300); // the session is idle while the appliance is down

                ConnectionTable second = table(live.records);
                CheckpointLoader.Result loaded = CheckpointLoader.load(repo, second, Duration.ofHours(1));
                assertTrue(loaded.resuming() >= 1);
                assertEquals(TcpConnection.State.RESUMING, second.state(live.key()));
                await(() -> live.snapshot(second).recoverable(), "the records fetched again");
                ConnectionSnapshot idle = live.snapshot(second);
                assertTrue(idle.resuming(), "reported as resuming");
                assertEquals(SessionCheckpointTest.describe(live.snapshot(live.reference.table())),
                        SessionCheckpointTest.describe(idle), "restorable as it is, as if the appliance never stopped");

                CheckpointWriter writer2 = new CheckpointWriter(second, repo, Duration.ofHours(1), Duration.ofMillis(50))
                        .start();
                live.attach(second, false);
                live.type("ls -l\n");
                live.windowChange(132, 43);
                live.type("pwd\n");
                SshSessionModel m = live.assertMatchesServer(second);
                assertEquals(TcpConnection.State.ESTABLISHED, second.state(live.key()));
                assertEquals(132, m.channels().get(0).pty().columns());
                assertEquals(SessionCheckpointTest.describe(live.snapshot(live.reference.table())),
                        SessionCheckpointTest.describe(live.snapshot(second)), "the same as a table that never stopped");

                assertTrue(writer2.flush(T), writer2.lastError());
                SshCheckpoint after = ssh(row(repo, live.key()));
                assertEquals(43, after.channels().get(0).pty().rows());
                assertEquals(List.of("window-change"), after.channels().get(0).requestsAfterPrefix().stream()
                        .map(SshSessionTracker::requestName).toList());
                writer2.close();
            } finally {
                repo.apply(List.of(new Delete(live.key().toString())));
            }
        }
    }

    @Test
    void trafficWhileTheApplianceWasDownMakesTheSessionUnrecoverable(Database db) throws Exception {
        try (LiveSession live = new LiveSession(dir);
             SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(DB_TIMEOUT))) {
            try {
                ConnectionTable first = table(live.records);
                CheckpointWriter writer = new CheckpointWriter(first, repo, Duration.ofMillis(200), Duration.ofMillis(20))
                        .start();
                live.attach(first, true);
                live.loginAndOpenShell();
                live.type("echo hello\n");
                live.assertMatchesServer(first);
                assertTrue(writer.flush(T));
                writer.close();
                live.detach();
                int expected = live.flow.clientNext();
                live.type("date\n"); // while the appliance is down

                ConnectionTable second = table(live.records);
                CheckpointLoader.load(repo, second, Duration.ofHours(1));
                assertEquals(TcpConnection.State.RESUMING, second.state(live.key()));
                CheckpointWriter writer2 = new CheckpointWriter(second, repo, Duration.ofMillis(200), Duration.ofMillis(20))
                        .start();
                live.attach(second, false);
                live.type("ls\n");
                assertEquals(TcpConnection.State.UNRECOVERABLE, second.state(live.key()));
                String reason = live.snapshot(second).unrecoverableReason();
                assertTrue(reason.startsWith("traffic while the appliance was down (c->s expected seq "
                        + Integer.toUnsignedString(expected) + ", saw "), reason);

                StoredCheckpoint marked = awaitRow(repo, live.key(), r -> !r.recoverable(), "the reason");
                assertNull(marked.state());
                assertEquals(reason, marked.reason());
                writer2.close();
            } finally {
                repo.apply(List.of(new Delete(live.key().toString())));
            }
        }
    }

    @Test
    void aDatabaseThatDoesNotAnswerNeverHoldsUpTracking() throws Exception {
        // A "database" that accepts connections and never says a word: every write waits its whole timeout.
        List<Socket> held = new ArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             LiveSession live = new LiveSession(dir);
             SessionCheckpointRepository repo = new SessionCheckpointRepository(DatabaseSettings.of(
                     "jdbc:mysql://127.0.0.1:" + silent.getLocalPort() + "/securejeebs", "sj_appliance", "unused",
                     Duration.ofMillis(700)))) {
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        Socket s = silent.accept();
                        synchronized (held) {
                            held.add(s);
                        }
                    }
                } catch (IOException closed) {
                    // the test is over
                }
            }, "silent-db");
            acceptor.setDaemon(true);
            acceptor.start();
            Logger writerLog = (Logger) LoggerFactory.getLogger(CheckpointWriter.class);
            ListAppender<ILoggingEvent> logs = new ListAppender<>();
            logs.start();
            writerLog.addAppender(logs);
            try {
                ConnectionTable table = table(live.records);
                CheckpointWriter writer = new CheckpointWriter(table, repo, Duration.ofMillis(100), Duration.ofMillis(10))
                        .start();
                live.attach(table, true);
                live.loginAndOpenShell();
                live.type("echo hello\n");
                live.assertMatchesServer(table);
                live.windowChange(120, 40);
                for (int i = 0; i < 20; i++) {
                    live.type("line " + i + "\n");
                }
                live.assertMatchesServer(table);
                await(() -> writer.failedBatches() >= 3, "three failed writes");
                long maxMs = live.maxFeedNanos / 1_000_000;
                assertTrue(maxMs < 300, "feeding a segment took up to " + maxMs + " ms while each write waits 700 ms");
                assertNotNull(writer.lastError());
                long warnings = logs.list.stream().filter(e -> e.getLevel() == Level.WARN
                        && e.getFormattedMessage().startsWith("checkpoints not written")).count();
                assertEquals(1, warnings, "logged once a minute, not at each of " + writer.failedBatches() + " failures");
                assertFalse(writer.flush(Duration.ofSeconds(5)));
                long t0 = System.nanoTime();
                writer.close();
                assertTrue((System.nanoTime() - t0) / 1_000_000 < 4000, "close is bounded by the database timeout");
            } finally {
                writerLog.detachAppender(logs);
                synchronized (held) {
                    for (Socket s : held) {
                        s.close();
                    }
                }
            }
        }
    }

    @Test
    void aBurstOfStateSettingMessagesCostsOneWrite(Database db) throws Exception {
        RecordedSession session = RecordedSession.shared(
                new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false));
        int port = PORTS.incrementAndGet();
        TcpFlow flow = new TcpFlow(port, 0x1234_5678, 0x0765_4321, 1_700_000_000_000_000L, 1448, null).handshake();
        int a = 0;
        int b = 0;
        for (int turn : session.tapOrder()) {
            flow.send(turn > 0, turn > 0 ? session.c2s() : session.s2c(), turn > 0 ? a : b, Math.abs(turn));
            if (turn > 0) {
                a += turn;
            } else {
                b -= turn;
            }
        }
        List<TcpFlow.Frame> frames = flow.take();
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(DB_TIMEOUT))) {
            try {
                ConnectionTable table = SessionCheckpointTest.table(session.records());
                CheckpointWriter writer = new CheckpointWriter(table, repo, Duration.ofHours(1), Duration.ofMillis(500))
                        .start();
                long t0 = System.nanoTime();
                new TcpFlow.Feed(table).feed(frames); // login, shell, pty, env: a burst of state-setting messages
                long fedMs = (System.nanoTime() - t0) / 1_000_000;
                awaitRow(repo, flow.key(), StoredCheckpoint::recoverable, "the session");
                Thread.sleep(700);
                assertEquals(1, writer.written(), "one write for the burst (fed in " + fedMs + " ms)");
                writer.close();
            } finally {
                repo.apply(List.of(new Delete(flow.key().toString())));
            }
        }
    }

    static ConnectionKey otherKey() {
        return new ConnectionKey(new Endpoint(TcpFlow.KEY.client().address(), PORTS.incrementAndGet()), TcpFlow.KEY.server());
    }

    @Test
    void unreadableOrUnrecoverableCheckpointsAreReportedWithTheReason(Database db) throws Exception {
        RecordedSession session = RecordedSession.shared(
                new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false));
        TcpFlow.Feed live = new TcpFlow.Feed(SessionCheckpointTest.table(session.records()));
        live.feed(SessionCheckpointTest.frames(session, 11));
        byte[] good = CheckpointCodec.encode(SessionCheckpointTest.checkpoint(live.table()));
        byte[] future = good.clone();
        future[0] = 9;
        ConnectionKey cut = otherKey();
        ConnectionKey unknown = otherKey();
        ConnectionKey lost = otherKey();
        ConnectionKey elsewhere = otherKey();
        String junkKey = "not a connection " + PORTS.incrementAndGet();
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(DB_TIMEOUT))) {
            try {
                repo.apply(List.of(new Save(cut.toString(), java.util.Arrays.copyOf(good, good.length / 2), true, null),
                        new Save(unknown.toString(), future, true, null),
                        new Save(lost.toString(), null, false, "c->s: capture missed 10 byte(s)"),
                        new Save(elsewhere.toString(), good, true, null),
                        new Save(junkKey, good, true, null)));
                ConnectionTable table = SessionCheckpointTest.table(session.records());
                CheckpointLoader.load(repo, table, Duration.ofHours(1));
                for (ConnectionKey k : List.of(cut, unknown, lost, elsewhere)) {
                    assertEquals(TcpConnection.State.UNRECOVERABLE, table.state(k), k::toString);
                }
                String cutReason = table.snapshot(cut).unrecoverableReason();
                assertTrue(cutReason.startsWith("its checkpoint cannot be read: session checkpoint: ")
                        && cutReason.contains(" left"), cutReason);
                assertEquals("its checkpoint cannot be read: session checkpoint: unsupported format version 9 "
                        + "(this build reads version 1 to 2)", table.snapshot(unknown).unrecoverableReason());
                assertEquals("unrecoverable before the appliance restarted: c->s: capture missed 10 byte(s)",
                        table.snapshot(lost).unrecoverableReason());
                assertEquals("its checkpoint is of another connection, " + TcpFlow.KEY,
                        table.snapshot(elsewhere).unrecoverableReason());
                assertTrue(repo.loadAll().stream().noneMatch(r -> r.connKey().equals(junkKey)), "a row of no connection is dropped");

                CheckpointWriter writer = new CheckpointWriter(table, repo, Duration.ofHours(1), Duration.ofMillis(10))
                        .start();
                assertTrue(writer.flush(T));
                StoredCheckpoint marked = row(repo, unknown);
                assertFalse(marked.recoverable());
                assertNull(marked.state());
                assertEquals(table.snapshot(unknown).unrecoverableReason(), marked.reason());
                writer.close();
            } finally {
                List<SessionCheckpointRepository.Change> cleanup = new ArrayList<>();
                for (ConnectionKey k : List.of(cut, unknown, lost, elsewhere, TcpFlow.KEY)) {
                    cleanup.add(new Delete(k.toString()));
                }
                cleanup.add(new Delete(junkKey));
                repo.apply(cleanup);
            }
        }
    }
}
