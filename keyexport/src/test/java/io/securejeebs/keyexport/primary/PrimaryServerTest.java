package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.pty4j.PtyProcess;
import com.pty4j.PtyProcessBuilder;
import com.pty4j.WinSize;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecord.SharedSecretEncoding;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One primary, one test user, the real OpenSSH client: logins, sessions as the user, SFTP with the user's
 * rights, and a KEX record for every key exchange.
 */
class PrimaryServerTest {
    /** The client's ciphers the matrix runs each KEX with (MAC: hmac-sha2-256-etm where the cipher has none). */
    private static final List<String> CIPHERS = List.of(
            "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr");
    /** What Debian's OpenSSH 9.2 speaks of the server's default list (all but mlkem768x25519-sha256). */
    private static final List<String> OPENSSH_92_KEX = List.of(
            "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
            "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256");

    @TempDir
    static Path dir;
    static RecordingSink sink = new RecordingSink();
    static PrimaryFixture primary;

    @BeforeAll
    static void start() throws IOException {
        primary = PrimaryFixture.start(dir, "", sink);
    }

    @AfterAll
    static void stop() throws IOException {
        if (primary != null) {
            primary.close();
        }
    }

    @BeforeEach
    void clearRecords() {
        sink.clear();
    }

    private static String random() {
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    @Test
    void everyKexAndCipherLogsInRunsAsTheUserAndExportsItsKeyExchange() throws Exception {
        List<String> clientKex = Arrays.asList(Proc.run(List.of("ssh", "-Q", "kex")).out().split("\n"));
        List<String> kexes = new ArrayList<>(primary.server.config().kexAlgorithms());
        kexes.retainAll(clientKex);
        assertTrue(kexes.containsAll(OPENSSH_92_KEX), "the client speaks only " + kexes);

        List<String> failures = new ArrayList<>();
        for (String kex : kexes) {
            for (String cipher : CIPHERS) {
                sink.clear();
                Proc.Result r = primary.runSsh(List.of("-o", "KexAlgorithms=" + kex, "-o", "Ciphers=" + cipher,
                        "-o", "MACs=hmac-sha2-256-etm@openssh.com"), "id -un; echo ok");
                String where = kex + " / " + cipher + ": ";
                if (r.exit() != 0 || !r.out().equals(primary.user.name + "\nok\n")) {
                    failures.add(where + r);
                    continue;
                }
                List<KexRecord> records = sink.records();
                if (records.size() != 1) {
                    failures.add(where + records.size() + " records");
                    continue;
                }
                try {
                    checkInitialRecord(records.get(0), kex);
                } catch (AssertionError e) {
                    failures.add(where + e.getMessage());
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + kexes.size() * CIPHERS.size()
                + " combinations failed:\n" + String.join("\n", failures));
    }

    private static void checkInitialRecord(KexRecord r, String kex) {
        assertEquals(0, r.ordinal());
        assertEquals(kex, r.kexName());
        assertEquals("test-primary", r.primaryId());
        assertEquals("127.0.0.1", r.client().getAddress().getHostAddress());
        assertEquals(primary.server.port(), r.server().getPort());
        assertTrue(r.clientVersion().startsWith("SSH-2.0-OpenSSH_"), r.clientVersion());
        assertEquals(primary.server.config().identificationLine(), r.serverVersion());
        assertEquals(20, r.clientKexInit()[0], "I_C is a KEXINIT");
        assertEquals(20, r.serverKexInit()[0], "I_S is a KEXINIT");
        int hashLength = switch (r.hashAlgorithm()) {
            case "SHA-256" -> 32;
            case "SHA-384" -> 48;
            case "SHA-512" -> 64;
            default -> throw new AssertionError("hash " + r.hashAlgorithm());
        };
        String expectedHash = kex.contains("sha512") ? "SHA-512" : kex.endsWith("nistp384") ? "SHA-384"
                : kex.endsWith("nistp521") ? "SHA-512" : "SHA-256";
        assertEquals(expectedHash, r.hashAlgorithm());
        assertEquals(hashLength, r.exchangeHash().length, "H is one digest");
        assertArrayEquals(r.exchangeHash(), r.sessionId(), "the session id is H of the first exchange");
        assertTrue(r.sharedSecret().length > 0, "K");

        boolean gex = kex.startsWith("diffie-hellman-group-exchange");
        assertEquals(gex ? List.of(34, 32) : List.of(30), opcodes(r.clientKexMessages()), "client KEX messages");
        assertEquals(gex ? List.of(31, 33) : List.of(31), opcodes(r.serverKexMessages()), "server KEX replies");

        if (kex.startsWith("sntrup") || kex.startsWith("mlkem")) {
            assertEquals(SharedSecretEncoding.STRING, r.sharedSecretEncoding());
            assertEquals(hashLength, r.sharedSecret().length, "a hybrid's K is one digest");
        } else {
            assertEquals(SharedSecretEncoding.MPINT, r.sharedSecretEncoding());
            byte[] k = r.sharedSecret();
            assertEquals(0, k[0] & 0x80, "mpint body of a positive K: top bit clear");
            assertFalse(k.length > 1 && k[0] == 0 && (k[1] & 0x80) == 0, "mpint body: no superfluous zero byte");
        }
        String clientInit = new String(r.clientKexInit(), StandardCharsets.ISO_8859_1);
        assertEquals(clientInit.contains("kex-strict-c-v00@openssh.com"), r.strictKex(),
                "strict KEX is on exactly when the client offered it (the server always does)");
    }

    private static List<Integer> opcodes(List<byte[]> messages) {
        return messages.stream().map(m -> m[0] & 0xFF).toList();
    }

    @Test
    void execRunsWithTheUsersIdsGroupsAndAFreshEnvironment() throws Exception {
        primary.user.addToGroup("users");
        UnixAccount account = primary.user.account();
        Proc.Result r = primary.runSsh(List.of(), "id -u; id -g; id -G; pwd; env | cut -d= -f1 | sort | tr '\\n' ' '; echo; echo $HOME $SHELL $USER");
        assertEquals(0, r.exit(), r.toString());
        String[] lines = r.out().split("\n");
        assertEquals(Integer.toString(account.uid()), lines[0]);
        assertEquals(Integer.toString(account.gid()), lines[1]);
        List<String> groups = Arrays.stream(account.groups()).mapToObj(Integer::toString).sorted().toList();
        assertEquals(groups, Arrays.stream(lines[2].split(" ")).sorted().toList(), "supplementary groups");
        assertTrue(groups.size() >= 2, "the user is in 'users' too: " + groups);
        assertEquals(account.home().toString(), lines[3], "starts in the home directory");
        List<String> env = Arrays.asList(lines[4].trim().split(" "));
        List<String> allowed = List.of("HOME", "LOGNAME", "MAIL", "PATH", "PWD", "SHELL", "SHLVL", "SSH_CLIENT",
                "SSH_CONNECTION", "USER", "_", "LANG", "LC_ALL", "LC_CTYPE", "OLDPWD");
        assertTrue(allowed.containsAll(env), "only a session's variables, nothing of the server's: " + env);
        assertEquals(account.home() + " /bin/bash " + primary.user.name, lines[5]);
    }

    @Test
    void everyRekeyIsExportedWithTheNextOrdinalAndTheSameSessionId() throws Exception {
        byte[] fiveMiB = new byte[5 << 20];
        Proc.Result r = Proc.run(primary.ssh(List.of("-o", "RekeyLimit=1M"), "cat > /dev/null; echo received"),
                fiveMiB, Map.of(), Duration.ofSeconds(60));
        assertEquals(0, r.exit(), r.toString());
        assertEquals("received\n", r.out());
        List<KexRecord> records = sink.records();
        assertTrue(records.size() >= 4, "5 MiB with RekeyLimit=1M: expected >= 4 key exchanges, got " + records.size());
        byte[] sessionId = records.get(0).exchangeHash();
        for (int i = 0; i < records.size(); i++) {
            KexRecord rec = records.get(i);
            assertEquals(i, rec.ordinal());
            assertArrayEquals(sessionId, rec.sessionId(), "record " + i + " keeps the session id");
            assertEquals(records.get(0).client(), rec.client(), "one connection");
            if (i > 0) {
                assertFalse(Arrays.equals(records.get(i - 1).exchangeHash(), rec.exchangeHash()), "a fresh H");
                assertFalse(Arrays.equals(records.get(i - 1).serverKexInit(), rec.serverKexInit()), "a fresh cookie");
            }
        }
    }

    /** ssh with a password from SSH_ASKPASS (forced), only the given method. */
    private static Proc.Result loginWithPassword(String method, String password) throws IOException {
        Path askpass = dir.resolve("askpass-" + random());
        Files.writeString(askpass, "#!/bin/sh\nprintf '%s\\n' '" + password + "'\n");
        Files.setPosixFilePermissions(askpass, PosixFilePermissions.fromString("rwx------"));
        List<String> cmd = new ArrayList<>(List.of("setsid", "-w"));
        cmd.addAll(primary.sshBase("ssh"));
        cmd.addAll(List.of("-o", "LogLevel=ERROR", "-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=" + method,
                "-o", "NumberOfPasswordPrompts=1", primary.user.name + "@127.0.0.1", "id -un"));
        Map<String, String> env = new HashMap<>();
        env.put("SSH_ASKPASS", askpass.toString());
        env.put("SSH_ASKPASS_REQUIRE", "force");
        env.put("DISPLAY", ":0");
        try {
            return Proc.run(cmd, null, env, Duration.ofSeconds(60));
        } finally {
            Files.deleteIfExists(askpass);
        }
    }

    @Test
    void passwordAndKeyboardInteractiveGoThroughPamAndAFailureIsLoggedWithoutThePassword() throws Exception {
        String password = "Pw-" + random();
        String wrong = "Wrong-" + random();
        primary.user.setPassword(password);
        try (LogCapture log = new LogCapture()) {
            for (String method : List.of("password", "keyboard-interactive")) {
                Proc.Result ok = loginWithPassword(method, password);
                assertEquals(0, ok.exit(), method + ": " + ok);
                assertEquals(primary.user.name + "\n", ok.out(), method);

                Proc.Result bad = loginWithPassword(method, wrong);
                assertEquals(255, bad.exit(), method + " with a wrong password must fail: " + bad);
                assertEquals("", bad.out());
                String failed = "Failed " + method + " for " + primary.user.name + " from 127.0.0.1";
                assertTrue(log.lines().stream().anyMatch(l -> l.contains(failed)),
                        "expected a log line '" + failed + "', got:\n" + String.join("\n", log.lines()));
            }
            for (String line : log.lines()) {
                assertFalse(line.contains(password) || line.contains(wrong), "a password was logged: " + line);
            }
        }
    }

    @Test
    void aPtyShellRunsAsTheUserEchoesWhatIsTypedAndFollowsTheWindowSize() throws Exception {
        List<String> cmd = new ArrayList<>(primary.ssh(List.of("-tt", "-o", "SendEnv=LANG", "-o", "SendEnv=SJ_SECRET"), null));
        Map<String, String> env = new HashMap<>(System.getenv());
        env.put("TERM", "xterm-256color");
        env.put("LANG", "C.UTF-8");
        env.put("SJ_SECRET", "must-not-arrive");
        PtyProcess ssh = new PtyProcessBuilder(cmd.toArray(String[]::new)).setEnvironment(env)
                .setInitialColumns(91).setInitialRows(27).setConsole(false).start();
        StringBuffer screen = new StringBuffer();
        Thread reader = new Thread(() -> {
            byte[] buf = new byte[4096];
            try (InputStream in = ssh.getInputStream()) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    screen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                }
            } catch (IOException ignored) {
                // the pty closed
            }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            OutputStream keyboard = ssh.getOutputStream();
            String tag = random();
            type(keyboard, "echo hello-$((6*7))-" + tag + "\r");
            awaitText(screen, "hello-42-" + tag, ssh);
            assertTrue(screen.toString().contains("echo hello-$((6*7))-" + tag), "the pty echoes what is typed:\n" + screen);

            type(keyboard, "echo who=$(id -un) term=$TERM lang=$LANG secret=${SJ_SECRET:-unset} tty=$SSH_TTY; stty size\r");
            awaitText(screen, "who=" + primary.user.name + " term=xterm-256color lang=C.UTF-8 secret=unset tty=/dev/pts/", ssh);
            awaitText(screen, "27 91", ssh);

            ssh.setWinSize(new WinSize(120, 33));
            Thread.sleep(300); // the client sends window-change on SIGWINCH
            type(keyboard, "stty size; ls -l $(tty) | cut -d' ' -f1,3,4\r");
            awaitText(screen, "33 120", ssh);
            awaitText(screen, "crw--w---- " + primary.user.name + " tty", ssh);

            type(keyboard, "exit\r");
            assertTrue(ssh.waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "ssh ends with the shell:\n" + screen);
            assertEquals(0, ssh.exitValue(), screen.toString());
        } finally {
            if (ssh.isAlive()) {
                ssh.destroyForcibly();
            }
        }
    }

    private static void type(OutputStream keyboard, String text) throws IOException {
        keyboard.write(text.getBytes(StandardCharsets.UTF_8));
        keyboard.flush();
    }

    private static void awaitText(StringBuffer screen, String text, Process ssh) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (screen.indexOf(text) >= 0) {
                return;
            }
            if (!ssh.isAlive() && screen.indexOf(text) < 0) {
                break;
            }
            Thread.sleep(20);
        }
        fail("'" + text + "' never appeared on the terminal:\n" + screen);
    }

    @Test
    void sftpRoundTripsAFileWithTheUsersRightsAndRefusesWhatTheUserMayNotRead() throws Exception {
        byte[] data = new byte[2 << 20];
        new SecureRandom().nextBytes(data);
        Path local = dir.resolve("upload.bin");
        Path back = dir.resolve("download.bin");
        Files.write(local, data);
        Path batch = dir.resolve("batch");
        Files.writeString(batch, "pwd\nput " + local + " up.bin\nget up.bin " + back + "\n");
        List<String> sftp = new ArrayList<>(primary.sshBase("sftp"));
        sftp.addAll(List.of("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", primary.clientKey.toString(),
                "-b", batch.toString(), primary.user.name + "@127.0.0.1"));
        Proc.Result r = Proc.run(sftp, null, Map.of(), Duration.ofSeconds(60));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("Remote working directory: " + primary.user.home), r.out());
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        assertArrayEquals(sha.digest(data), sha.digest(Files.readAllBytes(back)), "sha256 after the round trip");
        Path uploaded = primary.user.home.resolve("up.bin");
        assertEquals(primary.user.account().uid(), Files.getAttribute(uploaded, "unix:uid"), "the upload belongs to the user");

        for (String forbidden : List.of("get /etc/shadow " + dir.resolve("shadow"), "put " + local + " /root/not-allowed")) {
            Files.writeString(batch, forbidden + "\n");
            Proc.Result denied = Proc.run(sftp, null, Map.of(), Duration.ofSeconds(60));
            assertNotEquals(0, denied.exit(), forbidden + ": " + denied);
            assertTrue((denied.out() + denied.err()).contains("Permission denied"), forbidden + ": " + denied);
        }
        assertFalse(Files.exists(dir.resolve("shadow")));
        assertFalse(Files.exists(Path.of("/root/not-allowed")));
    }

    @Test
    void directTcpipIsRefusedByDefault() throws Exception {
        try (ServerSocket target = new ServerSocket(0, 5, java.net.InetAddress.getByName("127.0.0.1"))) {
            Forward forward = Forward.open(primary, target.getLocalPort());
            try (Socket s = forward.connect()) {
                s.setSoTimeout(10_000);
                assertEquals(-1, s.getInputStream().read(), "the forwarded connection is closed at once");
            } finally {
                forward.close();
            }
            assertTrue(forward.stderr().contains("administratively prohibited"), forward.stderr());
        }
    }

    /** {@code ssh -N -L PORT:127.0.0.1:TARGET} in the background. */
    static final class Forward implements AutoCloseable {
        final Process ssh;
        final int port;
        private final Path stderr;

        private Forward(Process ssh, int port, Path stderr) {
            this.ssh = ssh;
            this.port = port;
            this.stderr = stderr;
        }

        static Forward open(PrimaryFixture primary, int targetPort) throws IOException, InterruptedException {
            int port;
            try (ServerSocket free = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
                port = free.getLocalPort();
            }
            Path err = Files.createTempFile(primary.dir, "ssh-L", ".err");
            List<String> cmd = primary.ssh(List.of("-N", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=INFO",
                    "-L", "127.0.0.1:" + port + ":127.0.0.1:" + targetPort), null);
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Forward f = new Forward(p, port, err);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (System.nanoTime() < deadline) {
                try (Socket probe = new Socket()) {
                    probe.connect(new InetSocketAddress("127.0.0.1", port), 200);
                    return f; // listening (this probe itself is forwarded and closed, harmlessly)
                } catch (IOException notYet) {
                    if (!p.isAlive()) {
                        break;
                    }
                    Thread.sleep(50);
                }
            }
            f.close();
            throw new IOException("ssh -L did not start listening: " + f.stderr());
        }

        Socket connect() throws IOException {
            return new Socket("127.0.0.1", port);
        }

        String stderr() throws IOException {
            return Files.readString(stderr);
        }

        @Override
        public void close() throws InterruptedException {
            ssh.destroy();
            if (!ssh.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                ssh.destroyForcibly();
            }
        }
    }
}
