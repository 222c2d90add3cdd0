package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10's rules, in the lab with the real OpenSSH client and a real crash: what survives, what is reset, and
 * what the user sees (README, "What a user sees after a failover").
 *
 * <ul>
 * <li>A line the primary read but never acknowledged (its ACK and echo are dropped, as a delayed ACK dies with a
 *     crashing host) runs at most once: not again in the recovered shell, whose notice shows it instead; what is
 *     typed after the crash runs. An exec command running at the crash ends with exit status 255 and a line on
 *     stderr. A forward carrying a connection ends with a clean EOF at the client's application, and a new
 *     connection through the same forward works.</li>
 * <li>A crash in the middle of the initial key exchange, one in user authentication, and one in the middle of a
 *     rekey: those sessions cannot be recovered, and their clients are reset at once instead of hanging (they were
 *     waiting for the server, or for their user, with nothing of their own to retransmit). After that takeover,
 *     another host claiming the VIP is reported.</li>
 * </ul>
 */
class RecoveryRulesIT {
    private static final String PYTHON = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    private static final int ECHO_PORT = 7777;
    private static final int FORWARD_PORT = 17777;

    /** A TCP echo server (the forward's target), in the client's namespace. */
    private static final String ECHO_SERVER = """
            import socket, threading
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('%s', %d)); s.listen(8)
            def serve(c):
                with c:
                    for d in iter(lambda: c.recv(4096), b''):
                        c.sendall(d)
            while True:
                c, _ = s.accept()
                threading.Thread(target=serve, args=(c,), daemon=True).start()
            """.formatted(Lab.CLIENT_ADDR, ECHO_PORT);

    /** A forward's user: one exchange, then it waits for the end of the stream and says how it ended. */
    private static final String FORWARD_CLIENT = """
            import socket, sys
            c = socket.create_connection(('127.0.0.1', %d), timeout=120)
            c.sendall(sys.argv[1].encode() + b'\\n')
            got = b''
            while not got.endswith(b'\\n'):
                got += c.recv(100)
            print('ECHOED ' + got.decode().strip(), flush=True)
            if sys.argv[2] == 'wait':
                try:
                    rest = c.recv(100)
                    print('EOF' if rest == b'' else 'DATA ' + repr(rest), flush=True)
                except Exception as e:
                    print('ERROR ' + type(e).__name__ + ' ' + str(e), flush=True)
            """.formatted(FORWARD_PORT);

    @TempDir
    Path work;

    @Test
    void readInputRunsAtMostOnceExecEndsWithAMessageAndForwardsEndCleanly() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        Path once = Path.of("/tmp", "sj-once-" + tag);
        try (SshLab lab = SshLab.start(work, "forwarding.direct-tcpip = yes")) {
            lab.track(lab.lab.spawn(Lab.CLIENT, work.resolve("echo-server.log"), PYTHON, "-c", ECHO_SERVER));
            SshLab.Shell shell = lab.openShell(1, "rules", null, "-L",
                    "127.0.0.1:" + FORWARD_PORT + ":" + Lab.CLIENT_ADDR + ":" + ECHO_PORT);
            Path forwardLog = work.resolve("forward-1.log");
            Process forward = lab.track(lab.lab.spawn(Lab.CLIENT, forwardLog, PYTHON, "-c", FORWARD_CLIENT,
                    "hello-" + tag, "wait"));
            LogFiles.awaitLine(forwardLog, l -> l.equals("ECHOED hello-" + tag), Duration.ofSeconds(30), forward);

            List<String> exec = new ArrayList<>(lab.client("ssh"));
            exec.add(lab.destination());
            exec.add("sleep 300; echo exec-finished");
            Path execLog = work.resolve("exec.log");
            Process execClient = lab.track(lab.lab.spawn(Lab.CLIENT, execLog, exec.toArray(String[]::new)));
            awaitExecStarted(lab);

            // From here the primary reads what the client sends, but none of its ACKs or output gets out: the state a
            // crash leaves when it comes between the server reading a line and its delayed ACK.
            nft(lab, "add rule inet sjtest out ip daddr " + Lab.CLIENT_ADDR + " tcp sport 22 drop");
            shell.type("echo once-" + tag + " >> " + once + "\n");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (lines(once) < 1 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(1, lines(once), "the primary's shell ran the line");
            // The client starts a rekey (~R): the primary reads its KEXINIT, and its answer never gets out either. The
            // client saw nothing of the exchange from the server, so the recovery server answers it afresh.
            shell.type("~R");
            Thread.sleep(300);
            lab.crashPrimary();
            shell.type("echo after-" + tag + "; wc -l < " + once + "\n");
            try {
                shell.awaitOutput("after-" + tag, 2, Duration.ofSeconds(30));
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\nappliance log:\n" + LogFiles.tail(lab.applianceLog), e);
            }
            Thread.sleep(300);
            String out = shell.output();
            assertEquals(1, lines(once), "the line the dead primary read was not run again; ssh output:\n" + out);
            assertTrue(out.contains("was NOT run again"), "the notice says so:\n" + out);
            assertTrue(out.contains("echo once-" + tag), "the notice shows the line:\n" + out);

            assertTrue(execClient.waitFor(30, TimeUnit.SECONDS), "the exec client ended");
            String execOut = Files.readString(execLog, StandardCharsets.UTF_8);
            assertEquals(255, execClient.exitValue(), execOut);
            assertTrue(execOut.contains("this command was lost"), "a line on stderr: " + execOut);
            assertFalse(execOut.contains("exec-finished"), execOut);

            assertTrue(forward.waitFor(30, TimeUnit.SECONDS), "the forwarded connection ended");
            List<String> fl = LogFiles.lines(forwardLog);
            assertEquals("EOF", fl.get(fl.size() - 1), "a clean end of stream, not a hang or a reset: " + fl);
            Path againLog = work.resolve("forward-2.log");
            Process again = lab.track(lab.lab.spawn(Lab.CLIENT, againLog, PYTHON, "-c", FORWARD_CLIENT,
                    "again-" + tag, "done"));
            assertTrue(again.waitFor(30, TimeUnit.SECONDS), "a new forwarded connection works");
            assertEquals(List.of("ECHOED again-" + tag), LogFiles.lines(againLog));
            assertTrue(shell.process.isAlive(), "the ssh process carries on");

            assertTrue(LogFiles.lines(lab.applianceLog).stream().anyMatch(
                    l -> l.contains("key exchange with the client completed after the handover")),
                    "the rekey the client started before the crash was carried out by the recovery server:\n"
                            + LogFiles.tail(lab.applianceLog));
            JsonNode report = report(lab);
            assertEquals(2, report.get("recovered").asInt(), report.toPrettyString());
            String channels = report.get("connections").toString();
            assertTrue(channels.contains("fresh login shell started"), channels);
            assertTrue(channels.contains("direct-tcpip to " + Lab.CLIENT_ADDR + ":" + ECHO_PORT
                    + ": its connection died with the primary; closed cleanly"), channels);
            assertTrue(channels.contains("exec: lost with the primary; exit status 255 and a line on stderr"), channels);
        } finally {
            Files.deleteIfExists(once);
        }
    }

    @Test
    void clientsCaughtInAKeyExchangeAreResetNotLeftHanging() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        try (SshLab lab = SshLab.start(work, "")) {
            SshLab.Shell rekeying = lab.openShell(1, "rekeying", null, "-o", "RekeyLimit=64K");
            // A login stopped in user authentication: its key has a passphrase, and the "user" (an askpass program)
            // answers only when the test says so.
            Path key = work.resolve("passphrase-key");
            Files.copy(lab.clientKey, key);
            Files.setPosixFilePermissions(key, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            lab.lab.exec(Lab.NO_NETNS, "ssh-keygen", "-q", "-p", "-P", "", "-N", "sj-passphrase", "-f", key.toString());
            Path asked = work.resolve("askpass-asked");
            Path answer = work.resolve("askpass-answer");
            Path askpass = work.resolve("askpass");
            Files.writeString(askpass, "#!/bin/sh\ntouch " + asked + "\nwhile [ ! -e " + answer
                    + " ]; do sleep 0.1; done\necho sj-passphrase\n");
            Files.setPosixFilePermissions(askpass, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
            Path authLog = work.resolve("auth.log");
            Process authenticating = lab.track(lab.lab.spawn(Lab.CLIENT, authLog, "env", "SSH_ASKPASS=" + askpass,
                    "SSH_ASKPASS_REQUIRE=force", "ssh", "-F", "/dev/null", "-i", key.toString(), "-o",
                    "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
                    "PreferredAuthentications=publickey", lab.destination(), "echo never"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(asked) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(Files.exists(asked), "the client is in user authentication, asking for the passphrase");
            // The primary exports every key exchange before its NEWKEYS: with its database unreachable, each key
            // exchange stops there (for export.timeout), exactly where a crash in the middle of one leaves it.
            nft(lab, "add rule inet sjtest out ip daddr " + Lab.APPLIANCE_ADDR + " tcp dport 3306 drop");
            List<String> login = new ArrayList<>(lab.client("ssh"));
            login.add(lab.destination());
            login.add("echo never-" + System.nanoTime());
            Path loginLog = work.resolve("login.log");
            Process loggingIn = lab.track(lab.lab.spawn(Lab.CLIENT, loginLog, login.toArray(String[]::new)));
            rekeying.type("head -c 300000 /dev/zero | base64\n");
            Thread.sleep(1500); // both are now waiting for the primary's key-exchange answers
            assertTrue(loggingIn.isAlive(), "the login waits for the key exchange");
            assertTrue(rekeying.process.isAlive(), "the session waits for the rekey");
            lab.crashPrimary();

            assertTrue(loggingIn.waitFor(30, TimeUnit.SECONDS), "the client in its first key exchange was reset: "
                    + LogFiles.tail(lab.applianceLog));
            assertTrue(rekeying.process.waitFor(30, TimeUnit.SECONDS), "the client in a rekey was reset: "
                    + LogFiles.tail(lab.applianceLog));
            assertTrue(loggingIn.exitValue() != 0);
            assertTrue(rekeying.process.exitValue() != 0);
            Path reportFile = lab.awaitFailoverReport(Duration.ofSeconds(30));
            assertNotNull(reportFile);
            Files.writeString(answer, "go"); // the user answers the prompt: the connection is gone, ssh says so
            assertTrue(authenticating.waitFor(30, TimeUnit.SECONDS), "the client in user authentication ended");
            assertTrue(authenticating.exitValue() != 0, Files.readString(authLog));

            JsonNode report = report(lab);
            int reset = 0;
            for (JsonNode c : report.get("connections")) {
                assertEquals("unrecoverable", c.get("outcome").asText(), report.toPrettyString());
                String reason = c.get("reason").asText();
                assertTrue(reason.contains("key exchange") || reason.contains("user authentication"), reason);
                assertTrue(c.get("reset").asText().startsWith("RST seq "), c.toPrettyString());
                reset++;
            }
            assertEquals(3, reset, report.toPrettyString());

            // Another host claiming the VIP after the takeover (the old primary's host brought back by hand with its
            // VIP; here the client's namespace plays it) is reported loudly, in the log and in the status.
            lab.lab.exec(Lab.CLIENT, "ip", "addr", "add", Lab.VIP + "/24", "dev", "eth0");
            lab.lab.exec(Lab.CLIENT, "arping", "-q", "-U", "-c", "2", "-I", "eth0", "-s", Lab.VIP, Lab.VIP);
            LogFiles.awaitLine(lab.applianceLog, l -> l.contains("is CLAIMED by another host"), Duration.ofSeconds(20),
                    lab.appliance);
            JsonNode claims = lab.status().path("lastFailover").path("vipClaimedBy");
            assertEquals(1, claims.size(), lab.status().toPrettyString());
            String clientMac = lab.lab.exec(Lab.CLIENT, "cat", "/sys/class/net/eth0/address").trim();
            assertTrue(claims.get(0).asText().startsWith(clientMac), claims + " names " + clientMac);
        }
    }

    private static void nft(SshLab lab, String rule) {
        lab.lab.exec(Lab.PRIMARY, "sh", "-c", "nft list table inet sjtest >/dev/null 2>&1 || { nft add table inet sjtest"
                + " && nft 'add chain inet sjtest out { type filter hook output priority 0; policy accept; }'; }");
        lab.lab.exec(Lab.PRIMARY, "sh", "-c", "nft " + rule);
    }

    private static void awaitExecStarted(SshLab lab) throws Exception {
        LogFiles.awaitLine(lab.primaryLog, l -> l.contains("exec") && l.contains("started"), Duration.ofSeconds(30),
                lab.primary);
    }

    private static int lines(Path file) throws Exception {
        return Files.exists(file) ? Files.readAllLines(file).size() : 0;
    }

    private static JsonNode report(SshLab lab) throws Exception {
        Path file = lab.awaitFailoverReport(Duration.ofSeconds(30));
        assertNotNull(file, "no failover report; appliance log:\n" + LogFiles.tail(lab.applianceLog));
        return new ObjectMapper().readTree(file.toFile());
    }
}
