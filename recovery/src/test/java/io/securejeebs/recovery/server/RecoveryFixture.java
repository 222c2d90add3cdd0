package io.securejeebs.recovery.server;

import io.securejeebs.cpr.RecoveryPreamble;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExporter;
import io.securejeebs.keyexport.primary.HostKeys;
import io.securejeebs.keyexport.primary.PrimaryConfig;
import io.securejeebs.keyexport.primary.SshServerSetup;
import io.securejeebs.keyexport.primary.UserChannelSessionFactory;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.writer.openssh.OpenSSHKeyPairResourceWriter;
import org.apache.sshd.server.SshServer;

/**
 * TEST ONLY: a primary and a recovery server on 127.0.0.1, set up alike from one {@link PrimaryConfig}
 * (the shared {@link SshServerSetup}), with in-test logins (one Ed25519 key for any user name, and user
 * {@value #USER} with a password) and the {@link EchoShell} instead of the users' real shells. The primary's sessions are
 * {@code ExportingServerSession}s whose key exchanges land in memory.
 */
final class RecoveryFixture implements AutoCloseable {
    static final String USER = "sjtest";
    static final String PASSWORD = "correct horse battery staple";

    final Path dir;
    final PrimaryConfig config;
    final KeyPair clientKey;
    final Path clientKeyFile;
    final byte[] preambleKey = RecoveryPreamble.newKey();
    final SshServer primary;
    final RecoveryServer recovery;
    private final KexExporter exporter;
    private final List<KexRecord> records = new ArrayList<>();

    RecoveryFixture(Path dir) throws Exception {
        this.dir = dir;
        String text = "primary.id = test-primary\n"
                + "hostkey.ed25519 = " + dir.resolve("hostkeys/ed25519") + "\n"
                + "hostkey.ecdsa = " + dir.resolve("hostkeys/ecdsa") + "\n"
                + "hostkey.rsa = " + dir.resolve("hostkeys/rsa") + "\n"
                + "auth.keyboard-interactive = no\n";
        config = PrimaryConfig.parse("test.conf", text)
                .withListen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        List<KeyPair> hostKeys = HostKeys.loadOrCreate(config);
        clientKey = KeyUtils.generateKeyPair("ssh-ed25519", 256);
        clientKeyFile = dir.resolve("id_ed25519");
        try (OutputStream out = Files.newOutputStream(clientKeyFile)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePrivateKey(clientKey, "test", null, out);
        }
        Files.setPosixFilePermissions(clientKeyFile, PosixFilePermissions.fromString("rw-------"));

        KexRecordSink sink = record -> {
            synchronized (records) {
                records.add(record);
            }
        };
        exporter = new KexExporter("test-primary", sink, Duration.ofSeconds(10), true);
        primary = SshServerSetup.newServer(SshServer::new);
        primary.setHost("127.0.0.1");
        primary.setPort(0);
        SshServerSetup.transport(primary, config, hostKeys);
        SshServerSetup.authentication(primary, config, null);
        SshServerSetup.userSessions(primary, config, new UserChannelSessionFactory(config.acceptEnv()));
        testLogins(primary);
        primary.setSessionFactory(new ExportingSessionFactory(primary, exporter));
        primary.start();

        InetSocketAddress loopback0 = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        recovery = new RecoveryServer(new RecoveryServer.Settings(config, loopback0, loopback0, preambleKey)
                .withCustomizer(this::testLogins));
        recovery.start();
    }

    /** The logins and shell both servers use in tests (production: authorized_keys, PAM, the user's shell). */
    private void testLogins(SshServer server) {
        // the key logs in as anyone (a test may use a real local account on the recovery server)
        server.setPublickeyAuthenticator((user, key, session) -> KeyUtils.compareKeys(key, clientKey.getPublic()));
        server.setPasswordAuthenticator((user, password, session) -> USER.equals(user) && PASSWORD.equals(password));
        EchoShell.Factory echo = new EchoShell.Factory();
        server.setShellFactory(echo);
        server.setCommandFactory(echo);
    }

    InetSocketAddress primaryAddress() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), primary.getPort());
    }

    List<KexRecord> records() {
        synchronized (records) {
            return List.copyOf(records);
        }
    }

    void clearRecords() {
        synchronized (records) {
            records.clear();
        }
    }

    @Override
    public void close() throws IOException {
        try {
            primary.stop(true);
        } finally {
            try {
                recovery.close();
            } finally {
                exporter.close();
            }
        }
    }
}
