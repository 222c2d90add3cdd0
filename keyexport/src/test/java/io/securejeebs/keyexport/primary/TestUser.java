package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;

/**
 * A throw-away local account for one test class: {@code useradd -m}, removed with {@code userdel -r} on
 * {@link #close()}, and by a shutdown hook if the JVM ends first (a test that fails or hangs).
 */
final class TestUser implements AutoCloseable {
    final String name;
    final Path home;
    private final Thread cleanup;
    private boolean removed;

    private TestUser(String name) throws IOException {
        this.name = name;
        Proc.run(List.of("useradd", "-m", "-s", "/bin/bash", name)).requireSuccess("useradd");
        this.home = UnixAccount.lookup(name).orElseThrow(() -> new IOException("useradd made no " + name)).home();
        this.cleanup = new Thread(this::remove, "remove-" + name);
        Runtime.getRuntime().addShutdownHook(cleanup);
    }

    static TestUser create() throws IOException {
        byte[] r = new byte[4];
        new SecureRandom().nextBytes(r);
        return new TestUser("sjt" + HexFormat.of().formatHex(r));
    }

    UnixAccount account() throws IOException {
        return UnixAccount.lookup(name).orElseThrow();
    }

    void addToGroup(String group) throws IOException {
        Proc.run(List.of("usermod", "-a", "-G", group, name)).requireSuccess("usermod");
    }

    void setPassword(String password) throws IOException {
        Proc.run(List.of("chpasswd"), name + ":" + password + "\n").requireSuccess("chpasswd");
    }

    /** Installs {@code publicKey} as the user's only authorized key, with sshd-style permissions. */
    void authorize(Path publicKey) throws IOException {
        Path ssh = home.resolve(".ssh");
        Files.createDirectories(ssh);
        Path keys = ssh.resolve("authorized_keys");
        Files.writeString(keys, Files.readString(publicKey, StandardCharsets.UTF_8));
        Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwx------"));
        Files.setPosixFilePermissions(keys, PosixFilePermissions.fromString("rw-------"));
        Proc.run(List.of("chown", "-R", name + ":", ssh.toString())).requireSuccess("chown");
    }

    private synchronized void remove() {
        if (removed) {
            return;
        }
        removed = true;
        try {
            // -f: also if a test left a process of the user behind
            Proc.run(List.of("userdel", "-r", "-f", name));
        } catch (IOException e) {
            System.err.println("could not remove test user " + name + ": " + e.getMessage());
        }
    }

    @Override
    public void close() {
        remove();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanup);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway, and remove() is idempotent
        }
    }
}
