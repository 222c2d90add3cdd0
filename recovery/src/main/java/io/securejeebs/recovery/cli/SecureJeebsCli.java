package io.securejeebs.recovery.cli;

import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.config.ConfigException;
import io.securejeebs.keyexport.keys.KeysCommand;
import io.securejeebs.keyexport.primary.PrimaryCommand;
import io.securejeebs.recovery.ApplianceDaemon;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.echo.LineEchoServer;
import io.securejeebs.recovery.monitor.BenchCommands;
import io.securejeebs.recovery.monitor.MonitorCommand;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * {@code securejeebs} command line. Exit status: 0 success, 1 runtime failure, 2 bad usage or bad config.
 */
public final class SecureJeebsCli {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;

    private static final String USAGE_TEXT = """
            usage: securejeebs <command> [options]

              run --config FILE          run the appliance daemon (capture, heartbeat, failover)
              status [--config FILE | --socket PATH] [--json]
                                         ask the running daemon (as root): primaries, sessions,
                                         the last failover; --json prints the daemon's JSON
              primary --config FILE      run the primary SSH server, exporting every key exchange
              check-config --config FILE validate a config file and print the settings
              keys init --dir DIR [--only appliance|export]
                                         create the appliance key pair (X25519) and the primary's
                                         export key pair (Ed25519), mode 0600, never overwriting
              keys fingerprint FILE      print a key file's fingerprint
              monitor --pcap FILE [--server IP:PORT ...] [--json] RECORDS
                                         track the SSH sessions of a capture file as the live
                                         monitor does, with the KEX records from the database;
                                         print each connection's state at the end of the file
                                         (default: every server on port 22). RECORDS:
                                         --records-db JDBC_URL --db-user U --db-password-file F
                                         --appliance-key F --export-pub F --primary-id ID, or
                                         --config APPLIANCE_CONF (its records.* settings)
              echo-server --listen IP:PORT
                                         run the line-echo service (the lab's protected application)
              capture-bench --interface IF --vip IP --port N --seconds S [--ssh RECORDS]
                                         capture and reassemble for S seconds, print counters
                                         (scripts/bench-capture runs it next to tcpdump); with
                                         --ssh, track and decrypt SSH as the monitor does
              bench-ssh-server --listen IP:PORT ...
                                         a MINA server exporting sealed KEX records, for
                                         scripts/bench-monitor (no accounts: never for users)
              bench-monitor-footprint --sessions N [--cipher NAME]
                                         heap per idle SSH session in the monitor, N sessions
              help                       this text
            """;

    private SecureJeebsCli() {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
            (args.length == 0 ? err : out).print(USAGE_TEXT);
            return args.length == 0 ? USAGE : OK;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        try {
            return switch (args[0]) {
                case "run" -> runDaemon(ApplianceConfig.loadChecked(configPath(rest)));
                case "check-config" -> {
                    ApplianceConfig c = ApplianceConfig.loadChecked(configPath(rest));
                    for (String warning : c.warnings()) {
                        err.println("securejeebs: WARNING: " + c.sourceName() + ": " + warning);
                    }
                    out.println(c.sourceName() + ": OK");
                    out.println(c); // the fence command's arguments are redacted (FenceCommand.toString)
                    yield OK;
                }
                case "status" -> StatusCommand.run(rest, out, err);
                case "keys" -> KeysCommand.run(rest, out, err);
                case "primary" -> PrimaryCommand.run(rest, out, err);
                case "monitor" -> MonitorCommand.run(rest, out, err);
                case "echo-server" -> {
                    try (LineEchoServer server = new LineEchoServer(socketAddress(option(rest, "--listen")))) {
                        server.serveForever();
                    }
                    yield OK;
                }
                case "capture-bench" -> BenchCommands.captureBench(rest, out, err);
                case "bench-ssh-server" -> BenchCommands.sshServer(rest, out, err);
                case "bench-monitor-footprint" -> BenchCommands.footprint(rest, out, err);
                default -> {
                    err.println("securejeebs: unknown command '" + args[0] + "'");
                    err.print(USAGE_TEXT);
                    yield USAGE;
                }
            };
        } catch (ConfigException e) {
            err.println("securejeebs: bad config: " + e.getMessage());
            return USAGE;
        } catch (UsageException | NumberFormatException e) {
            err.println("securejeebs: " + e.getMessage());
            err.print(USAGE_TEXT);
            return USAGE;
        } catch (IOException | CaptureException e) {
            err.println("securejeebs: " + e.getMessage());
            return FAILED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return FAILED;
        }
    }

    private static int runDaemon(ApplianceConfig config) throws IOException, CaptureException, InterruptedException {
        ApplianceDaemon daemon = new ApplianceDaemon(config);
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::close, "sj-shutdown"));
        daemon.start();
        daemon.awaitStop();
        return OK;
    }

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    private static Path configPath(List<String> args) throws UsageException {
        return Path.of(option(args, "--config"));
    }

    private static String option(List<String> args, String name) throws UsageException {
        int i = args.indexOf(name);
        if (i < 0 || i + 1 >= args.size()) {
            throw new UsageException("missing " + name);
        }
        return args.get(i + 1);
    }

    private static InetSocketAddress socketAddress(String v) throws UsageException {
        int colon = v.lastIndexOf(':');
        if (colon < 0) {
            throw new UsageException("'" + v + "' is not IP:PORT");
        }
        try {
            return new InetSocketAddress(v.substring(0, colon), Integer.parseInt(v.substring(colon + 1)));
        } catch (IllegalArgumentException e) {
            throw new UsageException("'" + v + "' is not IP:PORT: " + e.getMessage());
        }
    }
}
