package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 4's oracle test: the appliance's model of every session is exactly the primary's own state whenever
 * the session is quiet. The real primary runs with its TEST-ONLY state probe; the real appliance daemon
 * ({@code securejeebs run}) tracks the sessions that the real OpenSSH client in sj-client opens:
 * <ul>
 * <li>an interactive shell on a real pty (ssh -tt in a tmux pane), typed into, and resized twice with
 *     {@code tmux resize-window}, so that window-change requests cross the wire (chacha20-poly1305);</li>
 * <li>an interactive sftp, putting and getting a few MB (aes128-ctr + hmac-sha2-256-etm);</li>
 * <li>MINA's SftpClient holding a file and a directory open between requests ({@link SftpHandlesClient}): the
 *     appliance's SFTP hook must list the handles the primary's SFTP subsystem holds, with their offsets;</li>
 * <li>a direct-tcpip forward ({@code ssh -N -L}) to an echo service in sj-primary (aes256-gcm);</li>
 * <li>an exec channel echoing 4 MB each way with {@code RekeyLimit=1M} (aes128-ctr + hmac-sha2-256-etm);</li>
 * <li>an exec of {@code sleep}, compared while it runs (aes256-gcm).</li>
 * </ul>
 * At quiet points the probe and {@code status --json} are compared field by field ({@link StateOracle}).
 * tcpdump records the same wire in sj-appliance; at the end {@code securejeebs monitor --pcap} must build, from
 * the file, the very models the live appliance holds.
 */
class MonitorOracleIT {
    private static final String CHACHA = "chacha20-poly1305@openssh.com";
    private static final String GCM = "aes256-gcm@openssh.com";
    private static final String CTR = "aes128-ctr";
    private static final String ETM = "hmac-sha2-256-etm@openssh.com";
    private static final int ECHO_PORT = 7000;
    private static final int FORWARD_PORT = 9000;

    @TempDir
    Path work;

    @Test
    void theAppliancesModelIsThePrimarysStateAtEveryQuietPoint() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff)).substring(2);
        try (SshLab lab = SshLab.start(work, SshLab.probeConfig(work) + "\nforwarding.direct-tcpip = yes")) {
            StateOracle oracle = new StateOracle(lab);
            Path pcap = work.resolve("wire.pcap");
            Path tcpdumpLog = work.resolve("tcpdump.log");
            Process tcpdump = lab.lab.spawn(Lab.APPLIANCE, tcpdumpLog, "tcpdump", "-i", "eth0", "-U", "-s", "0",
                    "-w", pcap.toString(), "tcp port 22");
            LogFiles.awaitLine(tcpdumpLog, l -> l.contains("listening on"), Duration.ofSeconds(30), tcpdump);
            try {
                ptyShell(lab, oracle, tag);
                sftp(lab, oracle, tag);
                sftpHandles(lab, oracle, tag);
                forward(lab, oracle, tag);
                rekeyed(lab, oracle);
                exec(lab, oracle);
                oracle.assertAllExact("at the end");
                offlineEqualsLive(lab, oracle, tcpdump, pcap);
            } catch (AssertionError | Exception e) {
                System.out.println("--- appliance log\n" + LogFiles.tail(lab.applianceLog));
                System.out.println("--- primary log\n" + LogFiles.tail(lab.primaryLog));
                throw e;
            }
        }
    }

    /** A login shell on a real pty: ssh -tt in a tmux pane in sj-client, typed into and resized. */
    private void ptyShell(SshLab lab, StateOracle oracle, String tag) throws Exception {
        Tmux tmux = new Tmux(lab, work);
        List<String> ssh = lab.client("ssh", "-tt", "-o", "Ciphers=" + CHACHA, "-o", "KexAlgorithms=curve25519-sha256");
        ssh.add(lab.destination());
        tmux.newSession("pty", 80, 24, ssh);
        oracle.awaitNewSession("pty", null);
        tmux.type("pty", "export PS1='$ '; echo pty-ready-$((40+2))-" + tag + "\n");
        tmux.await("pty", "pty-ready-42-" + tag);
        oracle.assertExact("pty", "after login");

        tmux.type("pty", "for i in 1 2 3; do echo typed-$((i*11))-" + tag + "; done\n");
        tmux.await("pty", "typed-33-" + tag);
        oracle.assertExact("pty", "after typing");

        int[][] sizes = {{100, 30}, {132, 40}};
        for (int[] size : sizes) {
            tmux.resize("pty", size[0], size[1]);
            tmux.type("pty", "stty size | sed 's/^/size-/'\n");
            tmux.await("pty", "size-" + size[1] + " " + size[0]);
            StateOracle.Pair q = oracle.assertExact("pty", "after resizing to " + size[0] + "x" + size[1]);
            JsonNode pty = q.status().path("model").path("channels").path(0).path("pty");
            assertEquals(size[0], pty.path("columns").asInt(), "the window-change on the wire:\n" + q.status().toPrettyString());
            assertEquals(size[1], pty.path("rows").asInt(), "the window-change on the wire:\n" + q.status().toPrettyString());
        }
    }

    /** An interactive sftp (commands on its stdin, kept open between them): put, then get, a few MB. */
    private void sftp(SshLab lab, StateOracle oracle, String tag) throws Exception {
        byte[] data = new byte[3_000_000];
        new Random(4).nextBytes(data);
        Path up = work.resolve("up.bin");
        Path down = work.resolve("down.bin");
        Files.write(up, data);
        List<String> cmd = lab.client("sftp", "-b", "-", "-o", "Ciphers=" + CTR, "-o", "MACs=" + ETM);
        cmd.add(lab.destination());
        Path log = work.resolve("sftp.log");
        Process sftp = lab.track(lab.lab.spawnInteractive(Lab.CLIENT, log, cmd.toArray(String[]::new)));
        oracle.awaitNewSession("sftp", sftp);
        OutputStream in = sftp.getOutputStream();
        sftpCommand(in, log, sftp, "pwd", "sftp-1-" + tag);
        oracle.assertExact("sftp", "after pwd");
        sftpCommand(in, log, sftp, "put " + up + " oracle-" + tag + ".bin", "sftp-2-" + tag);
        oracle.assertExact("sftp", "after a put of 3 MB");
        sftpCommand(in, log, sftp, "get oracle-" + tag + ".bin " + down, "sftp-3-" + tag);
        assertArrayEquals(data, Files.readAllBytes(down), "the file that came back");
        oracle.assertExact("sftp", "after a get of 3 MB");
    }

    /**
     * SFTP handles held open at quiet moments: a file (written, then read at 10 000) and a directory, then the
     * file closed; the directory stays open to the end (and so in the offline model too).
     */
    private void sftpHandles(SshLab lab, StateOracle oracle, String tag) throws Exception {
        Path logback = work.resolve("logback-warn.xml");
        Files.writeString(logback, """
                <configuration>
                  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
                    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{0} - %msg%n</pattern></encoder>
                  </appender>
                  <root level="WARN"><appender-ref ref="OUT"/></root>
                </configuration>
                """);
        Path log = work.resolve("sftp-handles.log");
        Process client = lab.track(lab.lab.spawnInteractive(Lab.CLIENT, log, "java",
                "-Dlogback.configurationFile=" + logback, "-cp", Lab.javaClasspath(), SftpHandlesClient.class.getName(),
                Lab.VIP, "22", lab.user, lab.clientKey.toString(), tag));
        oracle.awaitNewSession("sftp-handles", client);
        String[] held = LogFiles.awaitLine(log, l -> l.startsWith("HANDLES "), Duration.ofSeconds(60), client).split(" ");
        StateOracle.Pair q = oracle.assertExact("sftp-handles", "with a file and a directory open");
        assertEquals(List.of(held[1] + " file 14096", held[2] + " directory 0"), sftpHandles(q.probe()),
                "the primary holds the client's handles:\n" + q.probe().toPrettyString());
        JsonNode sftp = q.status().path("model").path("channels").path(0).path("sftp");
        assertEquals("sj-handles-" + tag + ".bin", sftp.path("handles").path(0).path("path").asText(),
                q.status().toPrettyString());

        OutputStream in = client.getOutputStream();
        in.write("close-file\n".getBytes(StandardCharsets.UTF_8));
        in.flush();
        awaitInLog(log, "FILE-CLOSED", client);
        q = oracle.assertExact("sftp-handles", "after closing the file");
        assertEquals(List.of(held[2] + " directory 0"), sftpHandles(q.probe()), q.probe().toPrettyString());
    }

    /** The probe's SFTP handles of a session: "hex kind offset". */
    private static List<String> sftpHandles(JsonNode probeSession) {
        List<String> out = new ArrayList<>();
        for (JsonNode h : probeSession.path("sftpHandles")) {
            out.add(h.path("handle").asText() + " " + h.path("kind").asText() + " " + h.path("offset").asLong());
        }
        return out;
    }

    /**
     * Sends one sftp command, then a local echo of a marker through tr, and waits for the upper-cased marker: the
     * local command runs once the command before it has finished.
     */
    private static void sftpCommand(OutputStream in, Path log, Process sftp, String command, String marker)
            throws Exception {
        in.write((command + "\n!echo " + marker + " | tr a-z A-Z\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
        awaitInLog(log, marker.toUpperCase(Locale.ROOT), sftp);
    }

    /** ssh -N -L to an echo service in sj-primary, and a connection through it that stays open. */
    private void forward(SshLab lab, StateOracle oracle, String tag) throws Exception {
        Process echo = lab.lab.spawn(Lab.PRIMARY, work.resolve("echo.log"), "socat",
                "TCP-LISTEN:" + ECHO_PORT + ",bind=127.0.0.1,reuseaddr,fork", "EXEC:cat");
        awaitListener(lab, Lab.PRIMARY, "127.0.0.1:" + ECHO_PORT, echo);
        List<String> cmd = lab.client("ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "Ciphers=" + GCM,
                "-L", "127.0.0.1:" + FORWARD_PORT + ":127.0.0.1:" + ECHO_PORT);
        cmd.add(lab.destination());
        Process ssh = lab.track(lab.lab.spawn(Lab.CLIENT, work.resolve("ssh-forward.log"), cmd.toArray(String[]::new)));
        oracle.awaitNewSession("forward", ssh);
        awaitListener(lab, Lab.CLIENT, "127.0.0.1:" + FORWARD_PORT, ssh);
        oracle.assertExact("forward", "with no channel yet");

        Path log = work.resolve("forward-client.log");
        Process client = lab.track(lab.lab.spawnInteractive(Lab.CLIENT, log, "socat", "-", "TCP:127.0.0.1:" + FORWARD_PORT));
        OutputStream in = client.getOutputStream();
        for (int i = 1; i <= 2; i++) {
            in.write(("forwarded-" + i + "-" + tag + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            awaitInLog(log, "forwarded-" + i + "-" + tag, client);
            StateOracle.Pair q = oracle.assertExact("forward", "after echo " + i + " through the forward");
            assertEquals("direct-tcpip", q.status().path("model").path("channels").path(0).path("type").asText(),
                    q.status().toPrettyString());
        }
    }

    /**
     * An exec of cat that echoes 4 MB each way under RekeyLimit=1M: several rekeys, compared after every chunk.
     *
     * <p>The 4 MB go in chunks of ~256 KB, the next one once cat has echoed the last and the appliance's model is
     * the primary's state again. Without that pacing the session is lost at a rekey now and then, for a reason of
     * its own: while the appliance fetches a rekey's record (5 to 90 ms here), the bytes of both directions wait
     * for the keys, up to the tracker's pending limit (1 MiB), and a full-speed echo over the lab's veths
     * outruns it ("KEX record #3 has not arrived and 1072736 bytes wait for its keys (limit 1048576)", in 2 of 4
     * unpaced sessions of 6 MB). That is a limit of the tracker, not a difference between the models.
     */
    private void rekeyed(SshLab lab, StateOracle oracle) throws Exception {
        List<String> cmd = lab.client("ssh", "-o", "RekeyLimit=1M", "-o", "Ciphers=" + CTR, "-o", "MACs=" + ETM);
        cmd.addAll(List.of(lab.destination(), "cat"));
        Path log = work.resolve("ssh-rekeyed.log");
        Process ssh = lab.track(lab.lab.spawnInteractive(Lab.CLIENT, log, cmd.toArray(String[]::new)));
        oracle.awaitNewSession("rekeyed", ssh);
        oracle.assertExact("rekeyed", "before any data");
        Random random = new Random(7);
        OutputStream in = ssh.getOutputStream();
        long sent = 0;
        for (int chunk = 1; chunk <= 16; chunk++) {
            byte[] raw = new byte[190_000];
            random.nextBytes(raw);
            byte[] text = Base64.getMimeEncoder().encode(raw); // ~256 KB of lines
            in.write(text);
            in.write('\n');
            in.flush();
            sent += text.length + 1;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (Files.size(log) < sent && System.nanoTime() < deadline) {
                if (!ssh.isAlive()) {
                    fail("ssh exited with " + ssh.exitValue() + ": " + LogFiles.tail(log));
                }
                Thread.sleep(5);
            }
            assertEquals(sent, Files.size(log), "bytes echoed by cat");
            oracle.assertExact("rekeyed", "after " + sent + " bytes each way");
        }
        StateOracle.Pair q = oracle.assertExact("rekeyed", "at the end");
        assertTrue(q.probe().path("kexCount").asInt() >= 4, "4 MB each way under RekeyLimit=1M rekeys:\n"
                + q.probe().toPrettyString());
    }

    /** An exec of sleep, compared while it runs; then it ends by itself. */
    private void exec(SshLab lab, StateOracle oracle) throws Exception {
        List<String> cmd = lab.client("ssh", "-o", "Ciphers=" + GCM);
        cmd.addAll(List.of(lab.destination(), "sleep 6"));
        Process ssh = lab.track(lab.lab.spawn(Lab.CLIENT, work.resolve("ssh-exec.log"), cmd.toArray(String[]::new)));
        oracle.awaitNewSession("exec", ssh);
        StateOracle.Pair first = oracle.assertExact("exec", "while sleep runs");
        JsonNode channel = first.status().path("model").path("channels").path(0);
        assertEquals("exec", channel.path("command").asText(), first.status().toPrettyString());
        // the command line itself is never shown: its length and a digest, which tell it apart from any other
        assertEquals(io.securejeebs.monitor.ssh.SshSessionTracker.redacted("sleep 6", "character command"),
                channel.path("commandArgument").asText(), first.status().toPrettyString());
        assertFalse(first.status().toString().contains("sleep 6"), "no command line in the status");
        oracle.assertExact("exec", "a moment later, while sleep still runs");
        assertTrue(ssh.waitFor(30, TimeUnit.SECONDS), "ssh 'sleep 6' did not end");
        assertEquals(0, ssh.exitValue(), LogFiles.tail(work.resolve("ssh-exec.log")));
        oracle.forget("exec");
    }

    /**
     * Stops tcpdump at a quiet moment and runs {@code securejeebs monitor --pcap} over the file: each session's
     * model at the end of the file must be the live model, field for field.
     */
    private void offlineEqualsLive(SshLab lab, StateOracle oracle, Process tcpdump, Path pcap) throws Exception {
        List<JsonNode> live = new ArrayList<>();
        for (String name : oracle.names()) {
            live.add(oracle.quiet(name).status());
        }
        lab.lab.exec(Duration.ofSeconds(10), Lab.NO_NETNS, "kill", "-INT", String.valueOf(tcpdump.pid()));
        assertTrue(tcpdump.waitFor(10, TimeUnit.SECONDS), "tcpdump did not stop");
        JsonNode after = lab.status(); // nothing moved while tcpdump stopped
        for (JsonNode s : live) {
            JsonNode again = StateOracle.statusSession(after, s.path("client").asText());
            assertNotNull(again, "the session ended: " + s.toPrettyString());
            assertEquals(s.path("model"), again.path("model"), "the live model moved while tcpdump stopped");
        }

        Path logback = work.resolve("logback-stderr.xml");
        Files.writeString(logback, """
                <configuration>
                  <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender">
                    <target>System.err</target>
                    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{0} - %msg%n</pattern></encoder>
                  </appender>
                  <root level="INFO"><appender-ref ref="ERR"/></root>
                </configuration>
                """);
        Lab.Result r = lab.lab.run(Duration.ofSeconds(120), Lab.APPLIANCE, "env", "SJ_LOGBACK=" + logback,
                Lab.launcher(), "monitor", "--pcap", pcap.toString(), "--server", Lab.VIP + ":22", "--json",
                "--config", lab.applianceConf.toString());
        assertEquals(0, r.exitCode(), r.describe());
        JsonNode offline = new ObjectMapper().readTree(r.stdout());
        for (JsonNode s : live) {
            String client = s.path("client").asText();
            JsonNode o = null;
            for (JsonNode c : offline.path("sessions")) {
                if (c.path("client").asText().equals(client)) {
                    o = c;
                }
            }
            assertNotNull(o, client + ": not in the offline report:\n" + offline.toPrettyString());
            String both = "\nlive (status --json):\n" + s.toPrettyString() + "\noffline (monitor --pcap --json):\n"
                    + o.toPrettyString();
            assertTrue(o.path("recoverable").asBoolean(), client + ": offline, not recoverable" + both);
            assertEquals(s.path("model"), o.path("ssh"), client + ": the offline model is not the live one" + both);
            assertEquals(s.path("clientBytes").asLong(), o.path("clientBytes").asLong(), client + both);
            assertEquals(s.path("serverBytes").asLong(), o.path("serverBytes").asLong(), client + both);
            System.out.println("offline: " + client + ": monitor --pcap gives the live model ("
                    + s.path("clientBytes").asLong() + " B c->s, " + s.path("serverBytes").asLong() + " B s->c)");
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void awaitListener(SshLab lab, String netns, String address, Process owner) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (lab.lab.exec(Duration.ofSeconds(10), netns, "ss", "-Hltn").contains(address + " ")) {
                return;
            }
            if (!owner.isAlive()) {
                fail("the process that should listen on " + address + " exited with " + owner.exitValue());
            }
            Thread.sleep(50);
        }
        fail("nothing listens on " + address + " in " + netns + " after 30 s");
    }

    private static void awaitInLog(Path log, String marker, Process owner) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log, StandardCharsets.ISO_8859_1).contains(marker)) {
                return;
            }
            if (!owner.isAlive()) {
                fail("the client exited with " + owner.exitValue() + " before '" + marker + "':\n" + LogFiles.tail(log));
            }
            Thread.sleep(20);
        }
        fail("'" + marker + "' did not appear within 60 s:\n" + LogFiles.tail(log));
    }

    /**
     * A tmux server in sj-client, in the foreground ({@code -D}) so that the lab tracks it and destroys it with
     * its panes. A pane is a real pty: {@code resize-window} makes the ssh in it send a window-change.
     */
    static final class Tmux {
        private final SshLab lab;
        private final Path socket;

        Tmux(SshLab lab, Path work) throws Exception {
            this.lab = lab;
            this.socket = work.resolve("tmux.sock");
            Process server = lab.lab.spawn(Lab.CLIENT, work.resolve("tmux.log"), "tmux", "-D", "-f", "/dev/null",
                    "-S", socket.toString());
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!Files.exists(socket)) {
                if (!server.isAlive() || System.nanoTime() > deadline) {
                    fail("the tmux server did not start: " + LogFiles.tail(work.resolve("tmux.log")));
                }
                Thread.sleep(20);
            }
            tmux("set-option", "-g", "remain-on-exit", "on"); // a dead ssh leaves its last words on the screen
        }

        String tmux(String... args) {
            List<String> cmd = new ArrayList<>(List.of("tmux", "-S", socket.toString()));
            cmd.addAll(List.of(args));
            return lab.lab.exec(Duration.ofSeconds(10), Lab.NO_NETNS, cmd.toArray(String[]::new));
        }

        void newSession(String name, int columns, int rows, List<String> command) {
            StringBuilder line = new StringBuilder();
            for (String a : command) {
                line.append(line.isEmpty() ? "" : " ").append('\'').append(a.replace("'", "'\\''")).append('\'');
            }
            tmux("new-session", "-d", "-s", name, "-x", Integer.toString(columns), "-y", Integer.toString(rows),
                    line.toString());
        }

        void type(String session, String text) {
            for (String part : text.split("(?<=\n)")) {
                boolean enter = part.endsWith("\n");
                String literal = enter ? part.substring(0, part.length() - 1) : part;
                if (!literal.isEmpty()) {
                    tmux("send-keys", "-t", session, "-l", literal);
                }
                if (enter) {
                    tmux("send-keys", "-t", session, "Enter");
                }
            }
        }

        void resize(String session, int columns, int rows) {
            tmux("resize-window", "-t", session, "-x", Integer.toString(columns), "-y", Integer.toString(rows));
        }

        String screen(String session) {
            return tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session);
        }

        void await(String session, String marker) throws Exception {
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline) {
                if (screen(session).contains(marker)) {
                    return;
                }
                Thread.sleep(50);
            }
            fail("'" + marker + "' did not appear in tmux pane " + session + ":\n" + screen(session));
        }
    }
}
