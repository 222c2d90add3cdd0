package io.securejeebs.keyexport.primary;

import io.securejeebs.keyexport.KexRecordSink;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A primary on 127.0.0.1 (kernel-chosen port) with host keys in a temp directory, a test user who
 * authorizes a fresh client key, and the real OpenSSH client to talk to it.
 */
final class PrimaryFixture implements AutoCloseable {
    static final Path REPO_PAM_FILE = Path.of("..", "conf", "pam.d", "securejeebs").toAbsolutePath().normalize();
    static final Path SYSTEM_PAM_FILE = Path.of("/etc/pam.d/securejeebs");

    final Path dir;
    final TestUser user;
    final Path clientKey;
    final PrimaryServer server;
    private final boolean installedPamFile;

    private PrimaryFixture(Path dir, TestUser user, Path clientKey, PrimaryServer server, boolean installedPamFile) {
        this.dir = dir;
        this.user = user;
        this.clientKey = clientKey;
        this.server = server;
        this.installedPamFile = installedPamFile;
    }

    /** @param extraConfig more "key = value" lines for the config file */
    static PrimaryFixture start(Path dir, String extraConfig, KexRecordSink sink) throws IOException {
        boolean installedPam = installPamService();
        TestUser user = null;
        try {
            user = TestUser.create();
            Path clientKey = dir.resolve("id_ed25519");
            if (!Files.exists(clientKey)) {
                Proc.run(List.of("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", clientKey.toString()))
                        .requireSuccess("ssh-keygen");
            }
            user.authorize(dir.resolve("id_ed25519.pub"));
            String text = "primary.id = test-primary\n"
                    + "hostkey.ed25519 = " + dir.resolve("hostkeys/ed25519") + "\n"
                    + "hostkey.ecdsa = " + dir.resolve("hostkeys/ecdsa") + "\n"
                    + "hostkey.rsa = " + dir.resolve("hostkeys/rsa") + "\n"
                    + extraConfig;
            PrimaryConfig config = PrimaryConfig.parse("test.conf", text)
                    .withListen(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            PrimaryServer server = new PrimaryServer(config, sink);
            server.start();
            return new PrimaryFixture(dir, user, clientKey, server, installedPam);
        } catch (IOException | RuntimeException | io.securejeebs.config.ConfigException e) {
            if (user != null) {
                user.close();
            }
            if (installedPam) {
                Files.deleteIfExists(SYSTEM_PAM_FILE);
            }
            throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
    }

    /** The shipped PAM service file, installed for the test if the machine has none (removed afterwards). */
    private static boolean installPamService() throws IOException {
        if (Files.exists(SYSTEM_PAM_FILE)) {
            return false;
        }
        Files.copy(REPO_PAM_FILE, SYSTEM_PAM_FILE);
        return true;
    }

    /** ssh options that make the client deterministic: no config files, no known_hosts, this server. */
    List<String> sshBase(String program) {
        List<String> cmd = new ArrayList<>(List.of(program, "-F", "/dev/null",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"));
        cmd.addAll(program.equals("sftp") ? List.of("-P", Integer.toString(server.port()))
                : List.of("-p", Integer.toString(server.port())));
        return cmd;
    }

    /**
     * ssh with the client key, BatchMode, then {@code options}, then user@127.0.0.1 and the command.
     * LogLevel is ERROR unless {@code options} set it (ssh takes the first value of an option).
     */
    List<String> ssh(List<String> options, String remoteCommand) {
        List<String> cmd = sshBase("ssh");
        cmd.addAll(List.of("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", clientKey.toString()));
        cmd.addAll(options);
        cmd.addAll(List.of("-o", "LogLevel=ERROR"));
        cmd.add(user.name + "@127.0.0.1");
        if (remoteCommand != null) {
            cmd.add(remoteCommand);
        }
        return cmd;
    }

    Proc.Result runSsh(List<String> options, String remoteCommand) throws IOException {
        return Proc.run(ssh(options, remoteCommand), null, Map.of(), Duration.ofSeconds(60));
    }

    @Override
    public void close() throws IOException {
        try {
            server.close();
        } finally {
            user.close();
            if (installedPamFile) {
                Files.deleteIfExists(SYSTEM_PAM_FILE);
            }
        }
    }
}
