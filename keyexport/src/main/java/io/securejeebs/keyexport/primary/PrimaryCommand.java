package io.securejeebs.keyexport.primary;

import io.securejeebs.config.ConfigException;
import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.store.KexRecordStore;
import io.securejeebs.keyexport.store.SealedRecordStores;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code securejeebs primary --config FILE}: runs the primary SSH server until the process is stopped
 * (SIGTERM from systemd).
 *
 * <p>Exit status: 2 for a usage or config error (the message is {@code file:line: reason}), 1 when the
 * server cannot start (port in use, unreadable host key, not root...), 0 after a clean stop.
 *
 * <p>The KEX record sink is the sealing store the config names (export.database.*). Without one the
 * server still runs fail-open and says so loudly: every session is then unprotected; with
 * {@code export.fail-closed = yes} it refuses to start instead, since it would refuse every login.
 */
public final class PrimaryCommand {
    private static final Logger log = LoggerFactory.getLogger(PrimaryCommand.class);
    static final String USAGE = "usage: securejeebs primary --config FILE";

    private PrimaryCommand() {}

    public static int run(List<String> args, PrintStream out, PrintStream err) {
        Path configPath = null;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--config" -> {
                    if (i + 1 >= args.size()) {
                        err.println("primary: --config needs a file\n" + USAGE);
                        return 2;
                    }
                    configPath = Path.of(args.get(++i));
                }
                case "-h", "--help" -> {
                    out.println(USAGE);
                    return 0;
                }
                default -> {
                    err.println("primary: unknown argument '" + a + "'\n" + USAGE);
                    return 2;
                }
            }
        }
        if (configPath == null) {
            err.println("primary: --config is required\n" + USAGE);
            return 2;
        }

        PrimaryConfig config;
        KexRecordSink sink;
        try {
            config = PrimaryConfig.load(configPath);
            sink = sinkFor(configPath.toString(), config, err);
        } catch (ConfigException e) {
            err.println(e.getMessage());
            return 2;
        } catch (IOException e) {
            err.println(configPath + ": cannot set up the KEX export: " + e.getMessage());
            return 2;
        }
        if (sink == null) {
            return 2;
        }

        PrimaryServer server;
        try {
            server = new PrimaryServer(config, sink);
            server.start();
        } catch (IOException | RuntimeException e) {
            if (sink instanceof AutoCloseable closeable) {
                try {
                    closeable.close();
                } catch (Exception ignored) {
                    // reporting the start failure matters more
                }
            }
            err.println("primary: cannot start: " + e.getMessage());
            log.error("cannot start", e);
            return 1;
        }
        out.println("primary '" + config.primaryId() + "' listening on "
                + config.listen().getAddress().getHostAddress() + ":" + server.port());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping the primary ({})", server.exportStatistics());
            try {
                server.close();
            } catch (IOException e) {
                log.warn("stopping the primary: {}", e.getMessage());
            }
            if (sink instanceof AutoCloseable closeable) {
                try {
                    closeable.close(); // the export's connection pool
                } catch (Exception e) {
                    log.warn("closing the KEX export: {}", e.getMessage());
                }
            }
            stopped.countDown();
        }, "primary-shutdown"));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /** The sealing store the config names; null (after an error message) when the combination cannot run. */
    private static KexRecordSink sinkFor(String file, PrimaryConfig config, PrintStream err) throws IOException {
        PrimaryConfig.ExportDestination d = config.exportDestination();
        if (d != null) {
            KexRecordStore store = SealedRecordStores.open(d.databaseUrl(), d.databaseUser(), d.databasePasswordFile(),
                    d.appliancePublicKey(), d.exportSigningKey(), config.exportTimeout());
            log.info("KEX records are sealed and exported to {} as {}", store, d.databaseUser());
            return store;
        }
        if (config.exportFailClosed()) {
            err.println(file + ": export.fail-closed is on, but export.database.url is not set:"
                    + " every login would be refused");
            return null;
        }
        log.warn("NO KEX EXPORT IS CONFIGURED (export.database.url): every session of this primary is UNPROTECTED"
                + " (it will not survive a failover)");
        return record -> {
            throw new KexExportException("no KEX export is configured in this primary");
        };
    }
}
