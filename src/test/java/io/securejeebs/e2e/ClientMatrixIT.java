package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10, item 8 (clients): every widely used SSH client keeps its pty shell across the primary's crash,
 * with a key login and with a password or keyboard-interactive login. The clients are the real ones from
 * Debian's packages (scripts/setup installs them): OpenSSH {@code ssh}, PuTTY {@code plink}, Dropbear
 * {@code dbclient}, and small drivers over paramiko and asyncssh ({@code src/test/resources/clients}, run by
 * the Debian {@code /usr/bin/python3}). plink and dbclient take the lab's OpenSSH key converted by their own
 * tools (puttygen, dropbearconvert); host keys are accepted without a prompt (plink {@code -hostkey} with the
 * primary's fingerprints, dbclient {@code -y -y}).
 *
 * <p>All the sessions are open at once on one lab: each types a command before the crash and sees its output;
 * the primary crashes (network cut, then SIGKILL); each types a command in the SAME client process and must
 * see the output of the recovered shell, with the recovery notice and no error printed. A session that fails
 * is reported with what its client printed and what the failover report says, after all have been tried.
 * {@code SJ_E2E_ONLY=dbclient} (a client name, or a session name such as {@code dbclient-key}) runs a subset.
 */
class ClientMatrixIT {
    /** What the clients print when the connection breaks (OpenSSH, PuTTY, Dropbear, the python drivers). */
    private static final List<String> CLIENT_ERRORS = List.of("Corrupted MAC", "Bad packet length", "Connection reset",
            "Connection closed", "Broken pipe", "message authentication code incorrect", "Disconnected",
            "FATAL ERROR", "Incorrect MAC", "exited:", "Exited:", "Integrity error", "sj-driver-error", "Traceback",
            "the shell channel closed", "Connection lost", "Remote side unexpectedly closed");
    private static final String RECOVERY_NOTICE = "session recovered after a server failure";

    @TempDir
    Path work;

    /** One client session of the matrix. */
    private record Session(String name, SshLab.Shell shell) {}

    @Test
    void everyClientKeepsItsShellAcrossThePrimarysCrash() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String only = System.getenv("SJ_E2E_ONLY");
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        try (SshLab lab = SshLab.start(work, "auth.keyboard-interactive = yes")) {
            Clients clients = new Clients(lab);
            List<Session> sessions = new ArrayList<>();
            Map<String, String> failures = new LinkedHashMap<>();
            for (String client : List.of("openssh", "plink", "dbclient", "paramiko", "asyncssh")) {
                for (String login : List.of("key", "password")) {
                    String name = client + "-" + login;
                    if (only != null && !only.equals(client) && !only.equals(name)) {
                        continue;
                    }
                    try {
                        sessions.add(new Session(name, clients.open(client, login.equals("key"), name)));
                    } catch (AssertionError | RuntimeException e) {
                        failures.put(name, "did not log in: " + e.getMessage());
                    }
                }
            }
            assumeTrue(!sessions.isEmpty() || !failures.isEmpty(), "SJ_E2E_ONLY=" + only + " names no session");
            for (Session s : sessions) {
                s.shell().type("echo before-" + s.name() + "-" + tag + "\n");
            }
            for (Session s : sessions) {
                s.shell().awaitOutput("before-" + s.name() + "-" + tag, 2, Duration.ofSeconds(30));
            }
            String statusBefore = statusLines(lab);
            System.out.print("client matrix: sessions before the crash (securejeebs status):\n" + statusBefore);
            Thread.sleep(300); // a quiet moment: everything acknowledged

            long crash = lab.crashPrimary();
            for (Session s : sessions) {
                s.shell().type("echo after-" + s.name() + "-" + tag + "\n");
            }
            for (Session s : sessions) {
                String marker = "after-" + s.name() + "-" + tag;
                try {
                    long seen = s.shell().awaitOutput(marker, 2, Duration.ofSeconds(30));
                    System.out.printf(Locale.ROOT, "%s: crash to the echo of the recovered shell: %.0f ms%n", s.name(),
                            (seen - crash) / 1e6);
                    String out = s.shell().output();
                    String problem = !out.contains(RECOVERY_NOTICE) ? "no recovery notice"
                            : !s.shell().process.isAlive() ? "the client exited" : null;
                    for (String error : CLIENT_ERRORS) {
                        if (problem == null && out.contains(error)) {
                            problem = "the client printed '" + error + "'";
                        }
                    }
                    if (problem == null) { // the same process still works a while later
                        s.shell().type("echo still-" + s.name() + "-" + tag + "\n");
                        s.shell().awaitOutput("still-" + s.name() + "-" + tag, 2, Duration.ofSeconds(10));
                    } else {
                        failures.put(s.name(), problem + "; it printed:\n" + tail(out));
                    }
                } catch (AssertionError e) {
                    failures.put(s.name(), e.getMessage());
                }
            }

            Path reportFile = lab.awaitFailoverReport(Duration.ofSeconds(10));
            String report = reportFile == null ? "(no failover report)"
                    : new ObjectMapper().readTree(reportFile.toFile()).toPrettyString();
            for (Session s : sessions) {
                System.out.printf(Locale.ROOT, "client matrix: %-18s %s%n", s.name(),
                        failures.containsKey(s.name()) ? "FAILED" : "recovered");
            }
            failures.forEach((name, why) -> System.out.printf(Locale.ROOT, "client matrix: %-18s FAILED: %s%n", name,
                    why.lines().findFirst().orElse("")));
            assertTrue(failures.isEmpty(), failures.size() + " session(s) not recovered:\n"
                    + String.join("\n\n", failures.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).toList())
                    + "\n\nsessions before the crash (securejeebs status):\n" + statusBefore
                    + "\nfailover report:\n" + report + "\nappliance log:\n" + LogFiles.tail(lab.applianceLog));
        }
    }

    /** Each tracked session's user, login method and whether it was recoverable, from {@code securejeebs status}. */
    private static String statusLines(SshLab lab) {
        try {
            StringBuilder out = new StringBuilder();
            for (JsonNode s : lab.status().path("sessions")) {
                out.append("  ").append(s.path("client").asText()).append(' ').append(s.path("user").asText())
                        .append(" (").append(s.path("model").path("authMethod").asText()).append(", ")
                        .append(s.path("model").path("clientVersion").asText()).append("): ")
                        .append(s.path("recoverable").asBoolean() ? "recoverable" : "NOT recoverable: "
                                + s.path("reason").asText())
                        .append('\n');
            }
            return out.toString();
        } catch (Exception e) {
            return "  (status unavailable: " + e + ")\n";
        }
    }

    private static String tail(String out) {
        return out.substring(Math.max(0, out.length() - 2000));
    }

    /** How each client is started in sj-client, with the lab's key or its user's password. */
    private static final class Clients {
        private final SshLab lab;
        private final Path passwordFile;
        private final Path ppk;
        private final Path dropbearKey;
        private final List<String> hostKeyFingerprints = new ArrayList<>();

        Clients(SshLab lab) throws Exception {
            this.lab = lab;
            passwordFile = lab.work.resolve("client-password");
            Files.writeString(passwordFile, SshLab.PASSWORD + "\n");
            Files.setPosixFilePermissions(passwordFile, PosixFilePermissions.fromString("rw-------"));
            ppk = lab.work.resolve("id_ed25519.ppk");
            lab.lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "puttygen", lab.clientKey.toString(), "-O", "private",
                    "-o", ppk.toString());
            dropbearKey = lab.work.resolve("id_ed25519.dropbear");
            lab.lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "dropbearconvert", "openssh", "dropbear",
                    lab.clientKey.toString(), dropbearKey.toString());
            for (String type : List.of("ed25519", "ecdsa", "rsa")) { // the primary's host keys (SshLab's primary.conf)
                String line = lab.lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "ssh-keygen", "-l", "-E", "sha256",
                        "-f", lab.work.resolve("hostkeys/" + type).toString());
                hostKeyFingerprints.add(line.split("\\s+")[1]);
            }
            Files.createDirectories(lab.work.resolve("dbclient-home"));
        }

        SshLab.Shell open(String client, boolean key, String name) throws Exception {
            List<String> cmd = switch (client) {
                case "openssh" -> null;
                case "plink" -> plink(key);
                case "dbclient" -> dbclient(key);
                case "paramiko", "asyncssh" -> python(client, key);
                default -> throw new IllegalArgumentException(client);
            };
            if (cmd == null) {
                return lab.openShell(1, name, key ? null : SshLab.PASSWORD);
            }
            Path log = lab.work.resolve("client-" + name + ".log");
            Process p = lab.track(lab.lab.spawnInteractive(Lab.CLIENT, log, cmd.toArray(String[]::new)));
            SshLab.Shell shell = new SshLab.Shell(p, log);
            shell.type("export PS1='$ '; echo sj-ready-" + name + "\n");
            shell.awaitOutput("sj-ready-" + name, 2, Duration.ofSeconds(30));
            return shell;
        }

        private List<String> plink(boolean key) {
            List<String> cmd = new ArrayList<>(List.of("plink", "-ssh", "-batch", "-t", "-noagent", "-no-antispoof"));
            for (String fp : hostKeyFingerprints) {
                cmd.addAll(List.of("-hostkey", fp));
            }
            if (key) {
                cmd.addAll(List.of("-i", ppk.toString()));
            } else {
                cmd.addAll(List.of("-pwfile", passwordFile.toString()));
            }
            cmd.add(lab.destination());
            return cmd;
        }

        /**
         * dbclient needs a terminal on its stdin for a pty session (it sets it raw): {@code script} gives it one.
         * Its HOME is a scratch directory (known_hosts), and a password comes from DROPBEAR_PASSWORD.
         */
        private List<String> dbclient(boolean key) {
            String login = key ? "-i " + dropbearKey : "";
            String password = key ? "" : "DROPBEAR_PASSWORD=\"$(cat " + passwordFile + ")\" ";
            String inner = "HOME=" + lab.work.resolve("dbclient-home") + " TERM=xterm " + password
                    + "exec dbclient -t -y -y " + login + " " + lab.destination();
            return List.of("script", "-qfec", inner, "/dev/null");
        }

        private List<String> python(String client, boolean key) throws Exception {
            Path driver = Path.of(ClientMatrixIT.class.getResource("/clients/" + client + "_shell.py").toURI());
            List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", "-u", driver.toString(), Lab.VIP, lab.user));
            cmd.addAll(key ? List.of("--key", lab.clientKey.toString()) : List.of("--password-file", passwordFile.toString()));
            return cmd;
        }
    }
}
