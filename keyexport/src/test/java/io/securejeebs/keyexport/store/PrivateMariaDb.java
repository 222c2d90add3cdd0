package io.securejeebs.keyexport.store;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * JUnit 5 extension: a real, private MariaDB on 127.0.0.1, started by {@code scripts/lab db-start
 * --netns none} on a free port with a fresh state directory (schema loaded, users {@code sj_primary} and
 * {@code sj_appliance} created), shared by every test class of the run and stopped by
 * {@code scripts/lab db-stop} when the run ends, whatever the outcome; a JVM shutdown hook stops it if
 * the run is killed. Tests receive it as a {@link Database} parameter.
 *
 * <p>Needs root (the lab script runs mariadbd as another user). Without root the tests fail, on purpose:
 * nothing here is skipped.
 */
public final class PrivateMariaDb implements BeforeAllCallback, ParameterResolver {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(200); // the lab lock waits up to 120 s
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(60);

    /** What {@code <state>/db.env} says. */
    public record Database(String host, int port, String jdbcUrl, String primaryUser, String primaryPassword,
                           String applianceUser, String appliancePassword) {

        public DatabaseSettings primary(Duration timeout) {
            return DatabaseSettings.of(jdbcUrl, primaryUser, primaryPassword, timeout);
        }

        public DatabaseSettings appliance(Duration timeout) {
            return DatabaseSettings.of(jdbcUrl, applianceUser, appliancePassword, timeout);
        }

        @Override
        public String toString() {
            return "Database[" + jdbcUrl + "]";
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        instance(context);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == Database.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return instance(context).database;
    }

    private static Instance instance(ExtensionContext context) {
        ExtensionContext.Store store = context.getRoot().getStore(ExtensionContext.Namespace.create(PrivateMariaDb.class));
        return store.getOrComputeIfAbsent(Instance.class, k -> Instance.start(), Instance.class);
    }

    /** One running server; closed by JUnit at the end of the run (the root store closes AutoCloseables). */
    static final class Instance implements AutoCloseable {
        private final Path lab;
        private final Path state;
        private final Database database;
        private final Thread shutdownHook;
        private boolean stopped;

        private Instance(Path lab, Path state, Database database) {
            this.lab = lab;
            this.state = state;
            this.database = database;
            this.shutdownHook = new Thread(this::stop, "private-mariadb-stop");
            Runtime.getRuntime().addShutdownHook(shutdownHook);
        }

        static Instance start() {
            if (!runningAsRoot()) {
                throw new IllegalStateException("the database tests need root (scripts/lab db-start runs mariadbd);"
                        + " running as " + System.getProperty("user.name"));
            }
            Path lab = findLabScript();
            Path state;
            int port;
            try {
                state = Files.createTempDirectory(Path.of("/tmp"), "sj-kex-db-");
                try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                    port = probe.getLocalPort();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            try {
                run(lab, START_TIMEOUT, "db-start", "--netns", "none", "--bind", "127.0.0.1",
                        "--port", String.valueOf(port), "--state", state.toString());
                return new Instance(lab, state, readEnv(state.resolve("db.env")));
            } catch (RuntimeException e) {
                try {
                    run(lab, STOP_TIMEOUT, "db-stop", "--state", state.toString());
                } catch (RuntimeException stopFailure) {
                    e.addSuppressed(stopFailure);
                }
                throw e;
            }
        }

        @Override
        public void close() {
            stop();
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or about to: it finds the instance stopped
            }
        }

        private synchronized void stop() {
            if (stopped) {
                return;
            }
            stopped = true;
            run(lab, STOP_TIMEOUT, "db-stop", "--state", state.toString());
        }
    }

    private static boolean runningAsRoot() {
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static Path findLabScript() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path lab = dir.resolve("scripts/lab");
            if (Files.isExecutable(lab) && Files.isRegularFile(dir.resolve("conf/schema.sql"))) {
                return lab;
            }
        }
        throw new IllegalStateException("scripts/lab not found above " + Path.of("").toAbsolutePath());
    }

    /** Runs {@code scripts/lab ARGS}; output goes to a temporary log that a failure message includes. */
    private static void run(Path lab, Duration timeout, String... args) {
        Path output = null;
        try {
            output = Files.createTempFile("sj-lab-", ".log");
            List<String> command = new ArrayList<>(List.of("bash", lab.toString()));
            command.addAll(List.of(args));
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(output.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("scripts/lab " + String.join(" ", args) + " did not finish within "
                        + timeout.toSeconds() + " s:\n" + Files.readString(output));
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("scripts/lab " + String.join(" ", args) + " exited with "
                        + p.exitValue() + ":\n" + Files.readString(output));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running scripts/lab " + args[0], e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException ignored) {
                    // a stray log in /tmp
                }
            }
        }
    }

    private static Database readEnv(Path file) {
        Map<String, String> env = new HashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                int eq = line.indexOf('=');
                if (eq > 0 && !line.startsWith("#")) {
                    env.put(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return new Database(required(env, file, "SJ_DB_HOST"), Integer.parseInt(required(env, file, "SJ_DB_PORT")),
                required(env, file, "SJ_DB_JDBC_URL"), required(env, file, "SJ_DB_PRIMARY_USER"),
                required(env, file, "SJ_DB_PRIMARY_PASSWORD"), required(env, file, "SJ_DB_APPLIANCE_USER"),
                required(env, file, "SJ_DB_APPLIANCE_PASSWORD"));
    }

    private static String required(Map<String, String> env, Path file, String key) {
        String v = env.get(key);
        if (v == null || v.isEmpty()) {
            throw new IllegalStateException(file + " has no " + key);
        }
        return v;
    }
}
