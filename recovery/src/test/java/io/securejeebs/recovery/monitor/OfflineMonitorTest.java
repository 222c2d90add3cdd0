package io.securejeebs.recovery.monitor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.securejeebs.keyexport.keys.KeyFiles;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.KexRecordStore;
import io.securejeebs.keyexport.store.PrivateMariaDb;
import io.securejeebs.keyexport.store.PrivateMariaDb.Database;
import io.securejeebs.keyexport.store.SealedRecordStores;
import io.securejeebs.monitor.bench.BenchSshServer;
import io.securejeebs.monitor.capture.CaptureFile;
import io.securejeebs.monitor.capture.CaptureSettings;
import io.securejeebs.monitor.capture.LiveCapture;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.SealedKexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.ssh.SynchronousKexRecordSource;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import io.securejeebs.monitor.bench.TypedChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.file.virtualfs.VirtualFileSystemFactory;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.apache.sshd.sftp.client.SftpVersionSelector;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;
import org.apache.sshd.common.session.ConnectionService;
import org.apache.sshd.common.session.helpers.AbstractConnectionService;
import org.apache.sshd.common.session.helpers.AbstractSession;
import org.apache.sshd.server.session.ServerSession;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * One real SSH session on 127.0.0.1, its key exchanges sealed and stored in a private MariaDB by the
 * primary's export path; the appliance's live capture on {@code lo} tracks it while tcpdump writes the same
 * traffic to a file. Then {@code securejeebs monitor --pcap} on that file must print the very model the
 * live tracker holds, field by field, and that model must be the server's own state (sequence numbers,
 * channel ids and windows, user), an SFTP channel's open handles included. Needs root (the database, the
 * capture); loopback only.
 */
@ExtendWith(PrivateMariaDb.class)
class OfflineMonitorTest {
    private static final Duration T = Duration.ofSeconds(10);
    private static final String PRIMARY_ID = "test-primary";
    private static final String PASSWORD = "Pa55-word-never-printed";
    private static final String TYPED = "echo typed-text-never-printed\n";
    private static final String FILE_CONTENT = "sftp-file-content-never-printed";

    @TempDir
    Path dir;

    @Test
    void theOfflineModelOfACaptureIsTheLiveModelAndTheServersState(Database db) throws Exception {
        SecureRandom random = new SecureRandom();
        X25519PrivateKeyParameters applianceKey = new X25519PrivateKeyParameters(random);
        Ed25519PrivateKeyParameters exportKey = new Ed25519PrivateKeyParameters(random);
        KeyFiles.writePrivateKey(dir.resolve("appliance.key"), applianceKey);
        KeyFiles.writePublicKey(dir.resolve("appliance.pub"), applianceKey.generatePublicKey());
        KeyFiles.writePrivateKey(dir.resolve("export.key"), exportKey);
        KeyFiles.writePublicKey(dir.resolve("export.pub"), exportKey.generatePublicKey());
        Path primaryPassword = secretFile("primary-password", db.primaryPassword());
        Path appliancePassword = secretFile("appliance-password", db.appliancePassword());
        Path pcap = dir.resolve("session.pcap");

        SshSessionModel live;
        List<String> sftpHandles;
        ConnectionSnapshot liveSnapshot;
        String serverState;
        Endpoint server;
        try (KexRecordStore store = SealedRecordStores.open(db.jdbcUrl(), db.primaryUser(), primaryPassword,
                     dir.resolve("appliance.pub"), dir.resolve("export.key"), Duration.ofSeconds(3));
             BenchSshServer sshd = BenchSshServer.start("127.0.0.1", 0, PRIMARY_ID, store, PASSWORD, null, System.out);
             KexRecordRepository repository = new KexRecordRepository(db.appliance(Duration.ofSeconds(3)));
             SealedKexRecordSource records = new SealedKexRecordSource(repository,
                     new RecordOpener(KeyFiles.readAppliancePrivateKey(dir.resolve("appliance.key")),
                             KeyFiles.readExportPublicKey(dir.resolve("export.pub"))),
                     PRIMARY_ID, Duration.ofSeconds(5), Duration.ofMillis(20), 2)) {
            server = new Endpoint(Endpoint.ipv4(new byte[] {127, 0, 0, 1}), sshd.port());
            Path sftpRoot = Files.createDirectories(dir.resolve("sftp-root"));
            Files.writeString(sftpRoot.resolve("notes.txt"), FILE_CONTENT.repeat(100));
            Files.createDirectories(sftpRoot.resolve("docs"));
            sshd.sshd().setFileSystemFactory(new VirtualFileSystemFactory(sftpRoot));
            sshd.sshd().setSubsystemFactories(List.of(new SftpSubsystemFactory()));
            Process tcpdump = startTcpdump(pcap, sshd.port());
            try {
                // The live monitor, as the appliance runs it: capture, table, one SSH tracker per connection.
                FrameCounters counters = new FrameCounters();
                ConnectionTable table = new ConnectionTable(new WatchedServices(List.of(server.address()),
                        List.of(server.port())), (key, updates) -> new SshSessionTracker(key, records, updates,
                        SshSessionTracker.Limits.DEFAULT), 4L << 20, 100, counters);
                try (LiveCapture capture = LiveCapture.start(new CaptureSettings("lo", 262_144, 8 << 20, false), table, counters);
                     SshClient client = SshClient.setUpDefaultClient()) {
                    client.start();
                    ClientSession session = client.connect("alice", "127.0.0.1", sshd.port()).verify(T).getSession();
                    session.addPasswordIdentity(PASSWORD);
                    session.auth().verify(T);
                    useTheSession(session);
                    SftpClient sftp = SftpClientFactory.instance().createSftpClient(session,
                            SftpVersionSelector.fixedVersionSelector(3));
                    SftpClient.Handle notes = sftp.open("/notes.txt", SftpClient.OpenMode.Read, SftpClient.OpenMode.Write);
                    byte[] buf = new byte[1000];
                    assertEquals(1000, sftp.read(notes, 500, buf, 0, 1000));
                    sftp.write(notes, 3100, FILE_CONTENT.getBytes(StandardCharsets.US_ASCII));
                    SftpClient.Handle docs = sftp.openDir("/docs");
                    sftpHandles = List.of(HexFormat.of().formatHex(notes.getIdentifier()),
                            HexFormat.of().formatHex(docs.getIdentifier()));

                    Supplier<SshSessionModel> model = () -> {
                        List<ConnectionSnapshot> open = table.snapshotOpenConnections();
                        return open.size() == 1 && open.get(0).resume() instanceof SshSessionModel m ? m : null;
                    };
                    ServerSession serverSession = (ServerSession) sshd.sshd().getActiveSessions().get(0);
                    awaitEqual(() -> serverView(serverSession), () -> model.get() == null ? "no model"
                            : trackerView(model.get()));
                    liveSnapshot = table.snapshotOpenConnections().get(0);
                    live = (SshSessionModel) liveSnapshot.resume();
                    serverState = serverView(serverSession);
                    assertEquals(0, capture.stats().dropped(), "the live capture dropped frames");
                    Thread.sleep(300); // tcpdump writes every packet as it reads it (-U, immediate mode)
                    stop(tcpdump);
                    session.close(true);
                }
            } finally {
                tcpdump.destroyForcibly();
            }
        }
        assertNull(liveSnapshot.unrecoverableReason(), "the live session is recoverable");
        assertEquals(2, live.keyExchanges(), "the initial key exchange and the rekey");

        // The offline mode, in-process, through the command line.
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("--pcap", pcap.toString(), "--records-db", db.jdbcUrl(),
                "--db-user", db.applianceUser(), "--db-password-file", appliancePassword.toString(),
                "--appliance-key", dir.resolve("appliance.key").toString(), "--export-pub",
                dir.resolve("export.pub").toString(), "--primary-id", PRIMARY_ID, "--server", server.toString()));
        args.add("--json");
        assertEquals(0, MonitorCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8)), err.toString(StandardCharsets.UTF_8));
        String json = out.toString(StandardCharsets.UTF_8);
        JsonNode report = MonitorReport.JSON.readTree(json);
        assertEquals(1, report.get("sessions").size(), json);
        JsonNode session = report.get("sessions").get(0);
        assertEquals(liveSnapshot.key().client().toString(), session.get("client").asText());
        assertEquals(server.toString(), session.get("server").asText());
        assertTrue(session.get("recoverable").asBoolean(), json);
        assertTrue(session.get("reason").isNull());
        assertEquals(liveSnapshot.clientBytes(), session.get("clientBytes").asLong());
        assertEquals(liveSnapshot.serverBytes(), session.get("serverBytes").asLong());
        assertEquals(MonitorReport.JSON.readTree(MonitorReport.JSON.writeValueAsString(live)), session.get("ssh"),
                "offline model = live model");
        assertEquals(serverState, modelView(session.get("ssh")), "offline model = the server's own state");
        JsonNode sftp = null;
        for (JsonNode ch : session.get("ssh").get("channels")) {
            sftp = ch.get("sftp").isNull() ? sftp : ch.get("sftp");
        }
        assertNotNull(sftp, json);
        assertEquals(3, sftp.get("version").asInt());
        assertTrue(sftp.get("stoppedReason").isNull());
        assertEquals(2, sftp.get("handles").size(), json);
        JsonNode notesHandle = sftp.get("handles").get(0);
        assertEquals(sftpHandles.get(0), notesHandle.get("handle").asText(), "the handle the SftpClient holds");
        assertEquals("/notes.txt", notesHandle.get("path").asText());
        assertEquals("FILE", notesHandle.get("kind").asText());
        assertEquals(3, notesHandle.get("openFlags").asInt(), "SSH_FXF_READ | SSH_FXF_WRITE");
        assertEquals(3100 + FILE_CONTENT.length(), notesHandle.get("offset").asLong(), "past the latest WRITE");
        assertEquals(sftpHandles.get(1), sftp.get("handles").get(1).get("handle").asText());
        assertEquals("/docs", sftp.get("handles").get(1).get("path").asText());
        assertEquals("DIRECTORY", sftp.get("handles").get(1).get("kind").asText());

        // Never a secret, a password or channel data; the records are named without their password.
        for (String secret : List.of(PASSWORD, TYPED.strip(), db.appliancePassword(), "\"prefix\"", "\"firstKex\"",
                "\"keys\"", "\"openPayload\"", "\"modes\"", "\"requestsAfterPrefix\"", "\"globalRequests\"",
                "\"serverPartialPacket\"", "\"commandLines\"", FILE_CONTENT, "\"attrs\"", "\"pendingRequests\"",
                "\"fromClient\"", "\"pathBytes\"", "\"identifier\"")) {
            assertFalse(json.contains(secret), () -> "the report shows " + secret);
        }
        assertTrue(report.get("records").asText().startsWith(db.applianceUser() + "@" + db.jdbcUrl()));

        // The model behind the report holds what the JSON leaves out, equal to the live one too.
        List<OfflineMonitor.Tracked> tracked = new ArrayList<>();
        try (KexRecordOptions.Opened opened = options(db, appliancePassword).open(Duration.ofSeconds(2))) {
            OfflineMonitor.track(CaptureFile.open(pcap), List.of(server),
                    new SynchronousKexRecordSource(opened.source(), T), new FrameCounters(), tracked);
        }
        SshSessionModel offline = tracked.get(0).model();
        assertArrayEquals(live.prefix(), offline.prefix(), "the replay prefix, byte for byte");
        assertEquals(live.prefixEndPosition(), offline.prefixEndPosition());
        assertArrayEquals(live.firstKex().sessionId(), offline.firstKex().sessionId());
        assertEquals(live.channels().size(), offline.channels().size());
        for (int i = 0; i < live.channels().size(); i++) {
            ChannelModel a = live.channels().get(i);
            ChannelModel b = offline.channels().get(i);
            assertArrayEquals(a.openPayload(), b.openPayload());
            assertEquals(a.requestsAfterPrefix().size(), b.requestsAfterPrefix().size());
        }

        // The readable form says the same.
        out.reset();
        assertEquals(0, MonitorCommand.run(args.subList(0, args.size() - 1), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8)), err.toString(StandardCharsets.UTF_8));
        String text = out.toString(StandardCharsets.UTF_8);
        for (String expected : List.of(liveSnapshot.key().client() + " -> " + server + "  ssh  RECOVERABLE",
                "alice (password, " + live.authAttempts() + " attempt(s))", "pty xterm-256color 132x43", ", 2 key exchanges",
                "key epoch 1, next seq " + live.clientToServer().sequence(), "1 connection, 1 recoverable",
                "  sftp      version 3, 2 open handles\n", "file /notes.txt, flags 0x3, offset 3131, handle "
                        + sftpHandles.get(0), "dir  /docs, handle " + sftpHandles.get(1))) {
            assertTrue(text.contains(expected), () -> "missing '" + expected + "' in:\n" + text);
        }
        assertFalse(text.contains(PASSWORD) || text.contains(TYPED.strip()) || text.contains(FILE_CONTENT), text);
    }

    /** A shell with a pty, typing, a window change, a rekey, and an exec that is used and closed. */
    private static void useTheSession(ClientSession session) throws Exception {
        TypedChannel shell = TypedChannel.shell(session, "xterm-256color", 100, 30, Map.of(), 1 << 16);
        shell.type(TYPED);
        ((ChannelShell) shell.channel()).sendWindowChange(132, 43);
        session.reExchangeKeys().verify(T);
        shell.type("x".repeat(50_000) + "\n");

        TypedChannel exec = TypedChannel.exec(session, "cat");
        exec.type("exec data\n");
        exec.endInputAndAwaitClose();
    }

    private static void awaitEqual(Supplier<String> expected, Supplier<String> actual) throws InterruptedException {
        long deadline = System.currentTimeMillis() + T.toMillis();
        while (!expected.get().equals(actual.get()) && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(expected.get(), actual.get(), "the live tracker never caught up with the server");
    }

    private KexRecordOptions options(Database db, Path passwordFile) throws Exception {
        KexRecordOptions o = new KexRecordOptions();
        List<String> args = List.of("--records-db", db.jdbcUrl(), "--db-user", db.applianceUser(), "--db-password-file",
                passwordFile.toString(), "--appliance-key", dir.resolve("appliance.key").toString(), "--export-pub",
                dir.resolve("export.pub").toString(), "--primary-id", PRIMARY_ID);
        for (int i = 0; i < args.size(); i++) {
            i = o.accept(args, i);
        }
        return o;
    }

    private Path secretFile(String name, String content) throws Exception {
        Path f = Files.createFile(dir.resolve(name), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(f, content);
        return f;
    }

    /** tcpdump on lo, the server's port only; returns once it is capturing. */
    private static Process startTcpdump(Path file, int port) throws Exception {
        Process p = new ProcessBuilder("tcpdump", "-i", "lo", "-n", "-s", "0", "-U", "--immediate-mode", "-w",
                file.toString(), "tcp port " + port).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader stderr = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        String line = stderr.readLine();
        assertNotNull(line, "tcpdump exited at once");
        assertTrue(line.contains("listening on lo"), line);
        Thread t = new Thread(() -> {
            try {
                while (stderr.readLine() != null) {
                    // drained, so tcpdump never blocks on its stderr
                }
            } catch (java.io.IOException ignored) {
                // it exited
            }
        }, "tcpdump-stderr");
        t.setDaemon(true);
        t.start();
        return p;
    }

    private static void stop(Process tcpdump) throws InterruptedException {
        tcpdump.destroy(); // SIGTERM to this very process: tcpdump closes the file cleanly
        assertTrue(tcpdump.waitFor(10, TimeUnit.SECONDS), "tcpdump did not stop");
    }

    // ---------------------------------------------------------------- the server's own state

    private static long field(AbstractSession s, String name) {
        try {
            Field f = AbstractSession.class.getDeclaredField(name);
            f.setAccessible(true);
            return f.getLong(s);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What MINA holds: seqi, seqo, user, and per channel its ids and both windows. */
    private static String serverView(ServerSession session) {
        AbstractSession s = (AbstractSession) session;
        StringBuilder out = new StringBuilder();
        out.append("seqi=").append(field(s, "seqi")).append(" seqo=").append(field(s, "seqo"))
                .append(" user=").append(session.getUsername());
        AbstractConnectionService cs = (AbstractConnectionService) s.getService(ConnectionService.class);
        for (Channel ch : cs.getChannels().stream().sorted(Comparator.comparingLong(Channel::getChannelId)).toList()) {
            out.append(" [").append(ch.getChannelId()).append('/').append(ch.getRecipient())
                    .append(" local=").append(ch.getLocalWindow().getSize()).append('/').append(ch.getLocalWindow().getPacketSize())
                    .append(" remote=").append(ch.getRemoteWindow().getSize()).append('/').append(ch.getRemoteWindow().getPacketSize())
                    .append(']');
        }
        return out.toString();
    }

    private static String trackerView(SshSessionModel m) {
        return modelView(MonitorReport.JSON.<JsonNode>valueToTree(m));
    }

    /** The same rendering, from a model's JSON. */
    private static String modelView(JsonNode m) {
        StringBuilder out = new StringBuilder();
        out.append("seqi=").append(m.get("clientToServer").get("sequence").asLong())
                .append(" seqo=").append(m.get("serverToClient").get("sequence").asLong())
                .append(" user=").append(m.get("user").asText());
        for (JsonNode ch : m.get("channels")) {
            out.append(" [").append(ch.get("serverId").asInt()).append('/').append(ch.get("clientId").asInt())
                    .append(" local=").append(ch.get("serverWindow").asLong()).append('/').append(ch.get("serverMaxPacket").asInt())
                    .append(" remote=").append(ch.get("clientWindow").asLong()).append('/').append(ch.get("clientMaxPacket").asInt())
                    .append(']');
        }
        return out.toString();
    }
}
