package io.securejeebs.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.keyexport.primary.PrimaryConfig;
import io.securejeebs.localsocket.LocalJsonClient;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.status.ControlServer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * The whole SSH failover set-up in the lab: the private MariaDB, fresh appliance and export keys, a test
 * user with a client key (and a password), the real primary on port 22 of its own address and the VIP in
 * sj-primary exporting to the database, and the appliance daemon in sj-appliance watching VIP:22, under the
 * privileges of its systemd unit ({@link Lab#spawnAppliance}). Clients
 * are the real OpenSSH {@code ssh} in sj-client. Everything is removed on close, the user included.
 */
final class SshLab implements AutoCloseable {
    static final String PASSWORD = "Sj-lab-Pw-7731";
    private static final ObjectMapper JSON = new ObjectMapper();

    final Lab lab;
    final Path work;
    final String user;
    final Path clientKey;
    final Path state;
    /** The running appliance's log (a restart starts a new one). */
    Path applianceLog;
    private int applianceRuns = 1;
    final Path primaryLog;
    final Path primaryConf;
    final Path applianceConf;
    Process primary;
    Process appliance;
    private final List<Process> clients = new ArrayList<>();
    /** Set before {@link #restartAppliance()}: {@code NAME=VALUE} pairs for the launcher, e.g. {@code SJ_HEAP=256m}. */
    List<String> applianceEnvironment = List.of();

    private SshLab(Lab lab, Path work, String user) {
        this.lab = lab;
        this.work = work;
        this.user = user;
        this.clientKey = work.resolve("id_ed25519");
        this.state = work.resolve("state");
        this.applianceLog = work.resolve("appliance.log");
        this.primaryLog = work.resolve("primary.log");
        this.primaryConf = work.resolve("primary.conf");
        this.applianceConf = work.resolve("appliance.conf");
    }

    /** @param extraPrimaryConfig more lines for primary.conf (e.g. a KEX list) */
    static SshLab start(Path work, String extraPrimaryConfig) throws Exception {
        return start(work, extraPrimaryConfig, 1);
    }

    /** @param clients client namespaces (sj-client, sj-client2, …) */
    static SshLab start(Path work, String extraPrimaryConfig, int clients) throws Exception {
        String launcher = Lab.launcher();
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
        String user = "sjs" + HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff)).substring(2);
        Lab lab = Lab.up(clients);
        SshLab s = new SshLab(lab, work, user);
        try {
            Lab.Database db = lab.startDatabase();
            lab.exec(Duration.ofSeconds(60), Lab.NO_NETNS, launcher, "keys", "init", "--dir", work.resolve("keys").toString());
            Path primaryPassword = secret(work.resolve("db-primary-password"), db.primaryPassword());
            Path appliancePassword = secret(work.resolve("db-appliance-password"), db.appliancePassword());
            Path primaryConf = s.primaryConf;
            Files.writeString(primaryConf, """
                    listen = 0.0.0.0:22
                    primary.id = lab-primary
                    hostkey.ed25519 = %1$s/hostkeys/ed25519
                    hostkey.ecdsa = %1$s/hostkeys/ecdsa
                    hostkey.rsa = %1$s/hostkeys/rsa
                    auth.password = yes
                    %5$s
                    export.fail-closed = yes
                    export.timeout = 5s
                    export.database.url = %2$s
                    export.database.password-file = %3$s
                    export.appliance-key = %1$s/keys/appliance.pub
                    export.signing-key = %1$s/keys/export.key
                    %4$s
                    """.formatted(work, db.jdbcUrl(), primaryPassword, extraPrimaryConfig,
                    extraPrimaryConfig.contains("auth.keyboard-interactive") ? "" : "auth.keyboard-interactive = no"));
            Path applianceConf = s.applianceConf;
            Files.writeString(applianceConf, """
                    capture.interface = eth0
                    service.vip = %s/24
                    service.ports = 22
                    service.protocol = ssh
                    primary.heartbeat = %s:22
                    heartbeat.interval = 100ms
                    heartbeat.misses = 3
                    records.database.url = %s
                    records.database.password-file = %s
                    records.appliance-key = %s/keys/appliance.key
                    records.export-key = %s/keys/export.pub
                    records.primary-id = lab-primary
                    recovery.primary-config = %s
                    recovery.shell-history = 5
                    state.dir = %s
                    """.formatted(Lab.VIP, Lab.PRIMARY_ADDR, db.jdbcUrl(), appliancePassword, work, work, primaryConf, s.state));

            lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "useradd", "-m", "-s", "/bin/bash", user);
            lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "sh", "-c", "echo '" + user + ":" + PASSWORD + "' | chpasswd");
            lab.authorizeNewClientKey(user, s.clientKey);
            // As many distributions make homes (0700 or 0750; Debian's useradd makes 0755): the recovery server
            // must enter it with the unit's capabilities to start the user's shell there.
            lab.exec(Duration.ofSeconds(10), Lab.NO_NETNS, "chmod", "0700", "/home/" + user);

            s.primary = lab.spawn(Lab.PRIMARY, s.primaryLog, launcher, "primary", "--config", primaryConf.toString());
            LogFiles.awaitLine(s.primaryLog, l -> l.contains("listening on"), Duration.ofSeconds(60), s.primary);
            s.appliance = lab.spawnAppliance(s.applianceLog, "run", "--config", applianceConf.toString());
            LogFiles.awaitLine(s.applianceLog, l -> l.contains("is alive"), Duration.ofSeconds(60), s.appliance);
            s.awaitWarmUps();
            return s;
        } catch (Exception | Error e) {
            s.close();
            throw e;
        }
    }

    private static Path secret(Path file, String value) throws IOException {
        Files.writeString(file, value + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file;
    }

    /** An interactive {@code ssh -tt} session from sj-client (key login unless a password is given). */
    Shell openShell(String name, String... sshOptions) throws Exception {
        return openShell(name, null, sshOptions);
    }

    Shell openShell(String name, String password, String... sshOptions) throws Exception {
        return openShell(1, name, password, sshOptions);
    }

    /** From client namespace {@code client} (1-based). */
    Shell openShell(int client, String name, String password, String... sshOptions) throws Exception {
        Path log = work.resolve("ssh-" + name + ".log");
        List<String> cmd = new ArrayList<>();
        if (password != null) {
            cmd.addAll(List.of("sshpass", "-p", password));
        }
        cmd.addAll(List.of("ssh", "-tt", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=0"));
        if (password == null) {
            cmd.addAll(List.of("-i", clientKey.toString(), "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey"));
        } else {
            cmd.addAll(List.of("-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"));
        }
        cmd.addAll(List.of(sshOptions));
        cmd.add(user + "@" + Lab.VIP);
        Process p = lab.spawnInteractive(Lab.clientNamespace(client), log, cmd.toArray(String[]::new));
        clients.add(p);
        Shell shell = new Shell(p, log);
        shell.type("export PS1='$ '; echo sj-ready-" + name + "\n");
        shell.awaitOutput("sj-ready-" + name, 2, Duration.ofSeconds(30));
        return shell;
    }

    /**
     * A primary.conf line for the TEST-ONLY state probe, which {@link #probe()} reads: {@code <work>/probe/probe.sock}
     * (the primary creates the directory, mode 0700, as a private socket needs).
     */
    static String probeConfig(Path work) {
        return "probe.socket = " + work.resolve("probe/probe.sock");
    }

    /** {@code program} (ssh, sftp) with this lab's key login and no host-key prompts, then {@code options}. */
    List<String> client(String program, String... options) {
        List<String> cmd = new ArrayList<>(List.of(program, "-F", "/dev/null", "-i", clientKey.toString(),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-o", "ServerAliveInterval=0"));
        cmd.addAll(List.of(options));
        return cmd;
    }

    /** The destination argument of a client: {@code user@VIP}. */
    String destination() {
        return user + "@" + Lab.VIP;
    }

    /** A client process started elsewhere, destroyed first on close. */
    Process track(Process client) {
        clients.add(client);
        return client;
    }

    /** What the primary's state probe says now: every live session ({@code probe.socket} of primary.conf). */
    JsonNode probe() throws Exception {
        Path socket = Objects.requireNonNull(PrimaryConfig.load(primaryConf).probeSocket(),
                "primary.conf has no probe.socket (start with SshLab.probeConfig)");
        return JSON.readTree(LocalJsonClient.exchange(socket, null, Duration.ofSeconds(30)));
    }

    /** What {@code securejeebs status --json} says now, asked on the appliance's {@code control.socket}. */
    JsonNode status() throws Exception {
        Path socket = ApplianceConfig.load(applianceConf).controlSocket();
        return JSON.readTree(LocalJsonClient.exchange(socket, ControlServer.STATUS, Duration.ofSeconds(10)));
    }

    /**
     * Stops the appliance daemon (SIGTERM, as systemd does) and starts it again with the same config, state
     * dir and database; returns once its heartbeat has seen the primary again.
     */
    void restartAppliance() throws Exception {
        appliance.destroy();
        if (!appliance.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new AssertionError("the appliance did not stop on SIGTERM:\n" + LogFiles.tail(applianceLog));
        }
        applianceLog = work.resolve("appliance-" + (++applianceRuns) + ".log");
        appliance = lab.spawnAppliance(Lab.applianceUnit(), applianceEnvironment, applianceLog, "run", "--config",
                applianceConf.toString());
        LogFiles.awaitLine(applianceLog, l -> l.contains("is alive"), Duration.ofSeconds(60), appliance);
        awaitWarmUps();
    }

    /** A production appliance runs for a long time before a failover: lets its start-up warm-ups finish. */
    private void awaitWarmUps() throws Exception {
        LogFiles.awaitLine(applianceLog, l -> l.contains("recovery warm-up"), Duration.ofSeconds(60), appliance);
        LogFiles.awaitLine(applianceLog, l -> l.contains("tracking warm-up done"), Duration.ofSeconds(60), appliance);
    }

    /**
     * Cuts the primary's network, then SIGKILLs it (scripts/lab crash-primary), then waits until the appliance's
     * heartbeat has missed the primary once. Input the client sends from then on reached a host known to be gone,
     * and is delivered to the recovered session; input sent between the crash and that first miss may have been
     * read by the dying primary, so it is shown in the recovery notice rather than run (README, "What a user
     * sees"). The tests that type "during the outage" type after this returns. Returns System.nanoTime() of
     * the crash.
     */
    long crashPrimary() throws Exception {
        long missesBefore = LogFiles.lines(applianceLog).stream().filter(l -> l.contains("heartbeat miss 1/")).count();
        long t = System.nanoTime();
        lab.crashPrimary(primary.pid());
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (LogFiles.lines(applianceLog).stream().filter(l -> l.contains("heartbeat miss 1/")).count() <= missesBefore
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return t;
    }

    /**
     * The failover report once it is complete: the daemon copies it into place (not atomically), so a file that
     * exists may still be empty or cut short; it is returned once it parses as a JSON object.
     */
    Path awaitFailoverReport(Duration timeout) throws Exception {
        Path report = state.resolve("last-failover.json");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(report)) {
                try {
                    if (JSON.readTree(report.toFile()).isObject()) {
                        return report;
                    }
                } catch (IOException partial) {
                    // still being written
                }
            }
            Thread.sleep(50);
        }
        return null;
    }

    @Override
    public void close() {
        for (Process p : clients) {
            lab.destroy(p);
        }
        try {
            lab.close();
        } finally {
            try {
                new ProcessBuilder("userdel", "-r", "-f", user).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            } catch (IOException | InterruptedException ignored) {
                // best effort: a leftover test user has no password login and no key outside this run
            }
        }
    }

    /** One interactive ssh process: what the test types, and everything it printed. */
    static final class Shell {
        final Process process;
        final Path log;
        private final OutputStream in;

        Shell(Process process, Path log) {
            this.process = process;
            this.log = log;
            this.in = process.getOutputStream();
        }

        void type(String text) throws IOException {
            in.write(text.getBytes(StandardCharsets.UTF_8));
            in.flush();
        }

        String output() throws IOException {
            return Files.readString(log, StandardCharsets.ISO_8859_1);
        }

        /** Waits until {@code marker} appears at least {@code times} times (the typed echo, then the output). */
        long awaitOutput(String marker, int times, Duration timeout) throws Exception {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                if (count(output(), marker) >= times) {
                    return System.nanoTime();
                }
                if (!process.isAlive()) {
                    throw new AssertionError("ssh exited with " + process.exitValue() + "; output:\n" + output());
                }
                Thread.sleep(10);
            }
            throw new AssertionError("'" + marker + "' did not appear " + times + " times within " + timeout
                    + "; ssh output:\n" + output());
        }

        static int count(String text, String marker) {
            int n = 0;
            for (int i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + 1)) {
                n++;
            }
            return n;
        }
    }
}
