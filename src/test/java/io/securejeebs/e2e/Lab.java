package io.securejeebs.e2e;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Test fixture over {@code scripts/lab}, the network-namespace lab of DESIGN.md §6.
 *
 * <pre>{@code
 * assumeTrue(Lab.canRun(), "needs root and ip netns");
 * try (Lab lab = Lab.up()) {
 *     Lab.Database db = lab.startDatabase();
 *     Process server = lab.spawn(Lab.PRIMARY, log, "java", "-jar", ...);
 *     lab.exec(Lab.CLIENT, "ping", "-c1", "-W1", Lab.VIP);
 *     lab.crashPrimary(server.pid());
 * }   // kills every spawned process, then scripts/lab down
 * }</pre>
 *
 * <p>Addresses are the script's defaults; all lab traffic stays in 10.213.0.0/24 inside the
 * lab namespaces. Every process this class starts is tracked and destroyed by its own
 * {@link Process} handle (and that handle's descendants), never by name.
 */
public final class Lab implements AutoCloseable {

    public static final String LAN = "sj-lan";
    public static final String CLIENT = "sj-client";
    public static final String PRIMARY = "sj-primary";
    public static final String APPLIANCE = "sj-appliance";

    public static final String CLIENT_ADDR = "10.213.0.10";
    public static final String PRIMARY_ADDR = "10.213.0.2";
    public static final String VIP = "10.213.0.100";
    public static final String APPLIANCE_ADDR = "10.213.0.3";

    /** Pass as {@code netns} to run a command in the test JVM's own namespace. */
    public static final String NO_NETNS = "none";

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration LAB_TIMEOUT = Duration.ofSeconds(180);

    /** The values of a {@code db.env} written by {@code scripts/lab db-start}. */
    public record Database(
            String host,
            int port,
            String socket,
            String name,
            String primaryUser,
            String primaryPassword,
            String applianceUser,
            String appliancePassword,
            String jdbcUrl,
            Path stateDir) {

        public Path envFile() {
            return stateDir.resolve("db.env");
        }

        /** Parses {@code <stateDir>/db.env} (shell-style {@code KEY=value} lines). */
        public static Database load(Path stateDir) {
            Path file = stateDir.resolve("db.env");
            Map<String, String> env = new HashMap<>();
            try {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    String l = line.strip();
                    int eq = l.indexOf('=');
                    if (l.isEmpty() || l.startsWith("#") || eq <= 0) {
                        continue;
                    }
                    String v = l.substring(eq + 1);
                    if (v.length() >= 2
                            && (v.startsWith("'") && v.endsWith("'") || v.startsWith("\"") && v.endsWith("\""))) {
                        v = v.substring(1, v.length() - 1);
                    }
                    env.put(l.substring(0, eq), v);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file, e);
            }
            return new Database(
                    required(env, file, "SJ_DB_HOST"),
                    Integer.parseInt(required(env, file, "SJ_DB_PORT")),
                    required(env, file, "SJ_DB_SOCKET"),
                    required(env, file, "SJ_DB_NAME"),
                    required(env, file, "SJ_DB_PRIMARY_USER"),
                    required(env, file, "SJ_DB_PRIMARY_PASSWORD"),
                    required(env, file, "SJ_DB_APPLIANCE_USER"),
                    required(env, file, "SJ_DB_APPLIANCE_PASSWORD"),
                    required(env, file, "SJ_DB_JDBC_URL"),
                    stateDir);
        }

        private static String required(Map<String, String> env, Path file, String key) {
            String v = env.get(key);
            if (v == null) {
                throw new IllegalStateException(file + " has no " + key);
            }
            return v;
        }

        @Override
        public String toString() {
            return "Database[" + jdbcUrl + ", socket " + socket + ", users " + primaryUser + "/" + applianceUser
                    + ", env " + envFile() + "]";
        }
    }

    /** What a finished command did. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        String describe() {
            return String.join(" ", command) + " exited with " + exitCode
                    + "\n--- stdout ---\n" + stdout + "\n--- stderr ---\n" + stderr;
        }
    }

    /** A lab command failed, timed out, or could not be started. */
    public static final class LabException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public LabException(String message) {
            super(message);
        }

        public LabException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private static volatile String canRunReason;
    private int clients = 1;

    private final Path home;
    private final Path stateDir;
    private final List<Process> spawned = new ArrayList<>();
    private final List<Path> extraDatabases = new ArrayList<>();
    private final Thread shutdownHook;
    private boolean closed;

    private Lab(Path home) {
        this.home = home;
        String state = System.getenv("SJ_LAB_STATE");
        this.stateDir = Paths.get(state == null || state.isBlank() ? "/run/securejeebs-lab" : state);
        this.shutdownHook = new Thread(this::closeQuietly, "securejeebs-lab-shutdown");
    }

    // ------------------------------------------------------------------ locating

    /**
     * The repository root: system property {@code securejeebs.home}, else the nearest directory
     * at or above the working directory that contains {@code scripts/lab}.
     */
    /** The name of client namespace {@code n} (1-based) and its address. */
    public static String clientNamespace(int n) {
        return n == 1 ? CLIENT : CLIENT + n;
    }

    public static String clientAddress(int n) {
        return "10.213.0." + (9 + n);
    }

    public static Path home() {
        String prop = System.getProperty("securejeebs.home");
        if (prop != null && !prop.isBlank()) {
            Path p = Paths.get(prop).toAbsolutePath().normalize();
            if (!Files.isRegularFile(p.resolve("scripts/lab"))) {
                throw new IllegalStateException("securejeebs.home=" + p + " has no scripts/lab");
            }
            return p;
        }
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("scripts/lab"))) {
                return p;
            }
        }
        throw new IllegalStateException(
                "cannot find scripts/lab above " + Paths.get("").toAbsolutePath() + "; set -Dsecurejeebs.home");
    }

    /** The packaged {@code securejeebs} launcher (scripts/securejeebs over recovery/target/securejeebs/lib). */
    public static String launcher() {
        return home().resolve("scripts/securejeebs").toString();
    }

    /**
     * The systemd unit whose privileges the appliance runs under in the lab: {@code conf/securejeebs.service},
     * or {@code -Dsecurejeebs.unit=FILE} to try another (measuring which capabilities a failover needs).
     */
    public static Path applianceUnit() {
        String other = System.getProperty("securejeebs.unit");
        return other == null || other.isBlank() ? home().resolve("conf/securejeebs.service") : Path.of(other);
    }

    /**
     * Starts the {@code securejeebs} launcher with {@code args} in sj-appliance under exactly the privileges of
     * {@link #applianceUnit()} (its capability bounding set and the rest that applies without systemd:
     * {@code scripts/lab unit-exec}), like {@link #spawn} otherwise: the process is the JVM itself.
     */
    public Process spawnAppliance(Path logFile, String... args) {
        return spawnAppliance(applianceUnit(), logFile, args);
    }

    /** {@link #spawnAppliance(Path, String...)} under the privileges of another unit file. */
    public Process spawnAppliance(Path unit, Path logFile, String... args) {
        return spawnAppliance(unit, List.of(), logFile, args);
    }

    /**
     * The same, with {@code environment} (NAME=VALUE) set for the launcher over the unit's own Environment= (a test
     * that runs the appliance with a smaller heap, say).
     */
    public Process spawnAppliance(Path unit, List<String> environment, Path logFile, String... args) {
        List<String> cmd = new ArrayList<>(List.of(script().toString(), "unit-exec", APPLIANCE, unit.toString()));
        if (!environment.isEmpty()) {
            cmd.add("env");
            cmd.addAll(environment);
        }
        cmd.add(launcher());
        cmd.addAll(Arrays.asList(args));
        return spawn(NO_NETNS, logFile, cmd.toArray(String[]::new));
    }

    /** Class path for a JVM started inside a namespace: the packaged jars plus the end-to-end test classes. */
    public static String javaClasspath() {
        return home().resolve("recovery/target/securejeebs/lib") + "/*:" + home().resolve("e2e/target/test-classes");
    }

    public static Path script() {
        return home().resolve("scripts/lab");
    }

    public Path stateDir() {
        return stateDir;
    }

    // ------------------------------------------------------------------ capability

    /**
     * True when the lab can be built here: Linux, root, {@code scripts/lab} present and
     * {@code ip netns add/del} working. For {@code Assumptions.assumeTrue(Lab.canRun())}.
     */
    public static boolean canRun() {
        return whyNot() == null;
    }

    /** Null if {@link #canRun()}, else the reason it cannot. */
    public static synchronized String whyNot() {
        if (canRunReason == null) {
            canRunReason = probe();
        }
        return canRunReason.isEmpty() ? null : canRunReason;
    }

    private static String probe() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return "not Linux";
        }
        try {
            boolean root = Files.readAllLines(Paths.get("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("Uid:"))
                    .anyMatch(l -> l.split("\\s+")[1].equals("0"));
            if (!root) {
                return "not running as root";
            }
        } catch (IOException e) {
            return "cannot read /proc/self/status: " + e;
        }
        Path script;
        try {
            script = script();
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
        if (!Files.isExecutable(script)) {
            return script + " is not executable";
        }
        String probeNs = "sj-probe-java-" + ProcessHandle.current().pid();
        try {
            Result add = run(List.of("ip", "netns", "add", probeNs), Duration.ofSeconds(10));
            if (!add.ok()) {
                return "ip netns add does not work: " + add.stderr().strip();
            }
            return "";
        } catch (RuntimeException e) {
            return "ip netns unusable: " + e.getMessage();
        } finally {
            try {
                run(List.of("ip", "netns", "del", probeNs), Duration.ofSeconds(10));
            } catch (RuntimeException ignored) {
                // it was never created
            }
        }
    }

    // ------------------------------------------------------------------ lifecycle

    /** Runs {@code scripts/lab up} (idempotent) and returns a Lab whose {@link #close()} tears it down. */
    public static Lab up() {
        return up(1);
    }

    /** The lab with {@code clients} client namespaces: sj-client, then sj-client2… at .11, .12… */
    public static Lab up(int clients) {
        String why = whyNot();
        if (why != null) {
            throw new LabException("the lab cannot run here: " + why);
        }
        Lab lab = new Lab(home());
        lab.clients = clients;
        lab.lab("up");
        Runtime.getRuntime().addShutdownHook(lab.shutdownHook);
        return lab;
    }

    /** {@code scripts/lab ARGS...}; returns its stdout, throws on a non-zero exit. */
    public String lab(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.addAll(List.of("env", "SJ_LAB_CLIENTS=" + clients));
        cmd.add(home.resolve("scripts/lab").toString());
        cmd.addAll(Arrays.asList(args));
        Result r = run(cmd, LAB_TIMEOUT);
        if (!r.ok()) {
            throw new LabException(r.describe());
        }
        return r.stdout();
    }

    /** Starts (or finds running) the lab MariaDB in sj-appliance on 10.213.0.3:3306. */
    public Database startDatabase() {
        lab("db-start");
        return Database.load(stateDir);
    }

    /**
     * Starts a private MariaDB elsewhere, e.g. {@code startDatabase(NO_NETNS, "127.0.0.1", 23306, dir)}.
     * It is stopped by {@link #close()}.
     */
    public Database startDatabase(String netns, String bind, int port, Path state) {
        Path abs = state.toAbsolutePath().normalize();
        synchronized (this) {
            if (!extraDatabases.contains(abs) && !abs.equals(stateDir)) {
                extraDatabases.add(abs);
            }
        }
        lab("db-start", "--netns", netns, "--bind", bind, "--port", Integer.toString(port), "--state", abs.toString());
        return Database.load(abs);
    }

    /** {@code scripts/lab crash-primary PID}: fence sj-primary, SIGKILL the pid, take eth0 down. */
    public void crashPrimary(long pid) {
        lab("crash-primary", Long.toString(pid));
    }

    // ------------------------------------------------------------------ commands

    /** Runs {@code cmd} in {@code netns} with {@link #DEFAULT_TIMEOUT}; returns stdout, throws on failure. */
    public String exec(String netns, String... cmd) {
        return exec(DEFAULT_TIMEOUT, netns, cmd);
    }

    public String exec(Duration timeout, String netns, String... cmd) {
        Result r = run(timeout, netns, cmd);
        if (!r.ok()) {
            throw new LabException(r.describe());
        }
        return r.stdout();
    }

    /**
     * Makes a fresh Ed25519 client key pair at {@code key} (and {@code key}.pub) and installs the public
     * half as {@code user}'s only authorized key, with sshd's modes.
     */
    public void authorizeNewClientKey(String user, Path key) throws IOException {
        exec(Duration.ofSeconds(30), NO_NETNS, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.toString());
        Path ssh = Path.of("/home", user, ".ssh");
        Files.createDirectories(ssh);
        Files.copy(Path.of(key + ".pub"), ssh.resolve("authorized_keys"));
        exec(Duration.ofSeconds(10), NO_NETNS, "chown", "-R", user + ":" + user, ssh.toString());
        exec(Duration.ofSeconds(10), NO_NETNS, "chmod", "700", ssh.toString());
        exec(Duration.ofSeconds(10), NO_NETNS, "chmod", "600", ssh.resolve("authorized_keys").toString());
    }

    /** Like {@link #exec} but returns the result whatever the exit code (still throws on timeout). */
    public Result run(Duration timeout, String netns, String... cmd) {
        return run(inNetns(netns, cmd), timeout);
    }

    /**
     * Starts {@code cmd} in the background in {@code netns} ({@code ip netns exec}, which execs, so
     * {@link Process#pid()} is the command's own pid), stdout and stderr appended to {@code logFile},
     * stdin from /dev/null. The process and its descendants are destroyed by {@link #close()}.
     */
    public Process spawn(String netns, Path logFile, String... cmd) {
        return start(netns, logFile, false, cmd);
    }

    /** Like {@link #spawn}, with the process's stdin a pipe the test writes to (an interactive client). */
    public Process spawnInteractive(String netns, Path logFile, String... cmd) {
        return start(netns, logFile, true, cmd);
    }

    private Process start(String netns, Path logFile, boolean stdinPipe, String... cmd) {
        List<String> full = inNetns(netns, cmd);
        try {
            Path parent = logFile.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            ProcessBuilder pb = new ProcessBuilder(full)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            if (!stdinPipe) {
                pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            }
            synchronized (this) {
                if (closed) {
                    throw new IllegalStateException("lab is closed");
                }
                Process p = pb.start();
                spawned.add(p);
                return p;
            }
        } catch (IOException e) {
            throw new LabException("cannot start " + String.join(" ", full), e);
        }
    }

    /** Destroys a spawned process (and its descendants) now and waits up to 10 s for it. */
    public void destroy(Process p) {
        destroyTree(p.toHandle());
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<String> inNetns(String netns, String... cmd) {
        if (cmd.length == 0) {
            throw new IllegalArgumentException("no command");
        }
        List<String> full = new ArrayList<>();
        if (netns != null && !netns.equals(NO_NETNS)) {
            full.addAll(List.of("ip", "netns", "exec", netns));
        }
        full.addAll(Arrays.asList(cmd));
        return full;
    }

    /**
     * Runs a command, output to temporary files (so a background grandchild holding a pipe can
     * never hang us), waits up to {@code timeout}; on timeout destroys it and its descendants.
     */
    static Result run(List<String> cmd, Duration timeout) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("sj-lab-", ".out");
            err = Files.createTempFile("sj-lab-", ".err");
            Process p = new ProcessBuilder(cmd)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            boolean done;
            try {
                done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                destroyTree(p.toHandle());
                Thread.currentThread().interrupt();
                throw new LabException("interrupted while running " + String.join(" ", cmd), e);
            }
            if (!done) {
                destroyTree(p.toHandle());
                p.waitFor(5, TimeUnit.SECONDS);
                throw new LabException(String.join(" ", cmd) + " timed out after " + timeout.toSeconds() + " s"
                        + "\n--- stdout ---\n" + Files.readString(out) + "\n--- stderr ---\n" + Files.readString(err));
            }
            return new Result(List.copyOf(cmd), p.exitValue(), Files.readString(out), Files.readString(err));
        } catch (IOException e) {
            throw new LabException("cannot run " + String.join(" ", cmd) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LabException("interrupted while running " + String.join(" ", cmd), e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /** destroyForcibly on the handle and on every descendant (snapshotted first: they get reparented). */
    private static void destroyTree(ProcessHandle h) {
        List<ProcessHandle> descendants;
        try (Stream<ProcessHandle> s = h.descendants()) {
            descendants = s.toList();
        }
        h.destroyForcibly();
        descendants.forEach(ProcessHandle::destroyForcibly);
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // temp file
            }
        }
    }

    // ------------------------------------------------------------------ close

    /**
     * Destroys every spawned process (by its handle, with descendants), stops extra databases,
     * then runs {@code scripts/lab down}. Idempotent.
     */
    @Override
    public void close() {
        List<Process> procs;
        List<Path> dbs;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            procs = new ArrayList<>(spawned);
            dbs = new ArrayList<>(extraDatabases);
            spawned.clear();
            extraDatabases.clear();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException | SecurityException ignored) {
            // already shutting down: we are the hook
        }
        List<Throwable> errors = new ArrayList<>();
        Collections.reverse(procs);
        for (Process p : procs) {
            try {
                destroy(p);
                if (p.isAlive()) {
                    errors.add(new LabException("process " + p.pid() + " survived destroyForcibly"));
                }
            } catch (RuntimeException e) {
                errors.add(e);
            }
        }
        for (Path db : dbs) {
            try {
                lab("db-stop", "--state", db.toString());
            } catch (RuntimeException e) {
                errors.add(e);
            }
        }
        try {
            lab("down");
        } catch (RuntimeException e) {
            errors.add(e);
        }
        if (!errors.isEmpty()) {
            LabException e = new LabException("closing the lab failed: " + errors.get(0).getMessage());
            errors.forEach(e::addSuppressed);
            throw e;
        }
    }

    private void closeQuietly() {
        try {
            close();
        } catch (RuntimeException e) {
            System.err.println("securejeebs lab: " + e.getMessage());
        }
    }

    /** Lists the sj-* namespaces that exist now (for assertions). */
    public static List<String> namespaces() {
        Result r = run(List.of("ip", "netns", "list"), Duration.ofSeconds(10));
        if (!r.ok()) {
            throw new LabException(r.describe());
        }
        return r.stdout().lines()
                .map(l -> l.split("\\s+")[0])
                .filter(n -> n.startsWith("sj-"))
                .sorted(Comparator.naturalOrder())
                .toList();
    }

    @Override
    public String toString() {
        return "Lab[" + home + ", state " + stateDir + ", " + Objects.requireNonNullElse(whyNot(), "usable") + "]";
    }
}
