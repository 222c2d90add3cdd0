package io.securejeebs.recovery.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.common.config.keys.PublicKeyEntry;

/**
 * TEST ONLY: a throw-away local account ({@code useradd -m}) whose authorized_keys holds one key, removed with
 * {@code userdel -r -f} on close or, if the JVM ends first, by a shutdown hook.
 */
final class LocalUser implements AutoCloseable {
    final String name;
    private final Thread cleanup;
    private boolean removed;

    LocalUser(PublicKey key) throws IOException, InterruptedException {
        byte[] r = new byte[4];
        new SecureRandom().nextBytes(r);
        name = "sjr" + HexFormat.of().formatHex(r);
        run("useradd", "-m", "-s", "/bin/bash", name);
        cleanup = new Thread(this::remove, "remove-" + name);
        Runtime.getRuntime().addShutdownHook(cleanup);
        Path ssh = Path.of("/home", name, ".ssh");
        Files.createDirectories(ssh);
        Path keys = ssh.resolve("authorized_keys");
        Files.writeString(keys, PublicKeyEntry.toString(key) + "\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwx------"));
        Files.setPosixFilePermissions(keys, PosixFilePermissions.fromString("rw-------"));
        run("chown", "-R", name + ":", ssh.toString());
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out);
        }
    }

    private synchronized void remove() {
        if (removed) {
            return;
        }
        removed = true;
        try {
            run("userdel", "-r", "-f", name);
        } catch (IOException | InterruptedException e) {
            System.err.println("could not remove test user " + name + ": " + e.getMessage());
        }
    }

    @Override
    public void close() {
        remove();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanup);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway; remove() is idempotent
        }
    }
}
