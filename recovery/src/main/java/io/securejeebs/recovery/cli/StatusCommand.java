package io.securejeebs.recovery.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.config.ConfigException;
import io.securejeebs.localsocket.LocalJsonClient;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.status.ControlServer;
import io.securejeebs.recovery.status.StatusTable;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * {@code securejeebs status [--config FILE | --socket PATH] [--json]}: asks the running daemon on its control
 * socket and prints its answer as tables, or as the daemon's JSON with {@code --json}. Without either option
 * the socket is the one {@code /etc/securejeebs/securejeebs.conf} names, or {@code /var/lib/securejeebs/control.sock}
 * when that file does not exist. Exit status: 0, 1 when the daemon cannot be asked or refuses, 2 for bad usage
 * or a bad config file.
 */
final class StatusCommand {
    static final String USAGE = "usage: securejeebs status [--config FILE | --socket PATH] [--json]";
    static final Duration TIMEOUT = Duration.ofSeconds(5);

    private StatusCommand() {}

    static int run(List<String> args, PrintStream out, PrintStream err) {
        return run(args, out, err, ApplianceConfig.DEFAULT_CONFIG, TIMEOUT);
    }

    static int run(List<String> args, PrintStream out, PrintStream err, Path defaultConfig, Duration timeout) {
        Path config = null;
        Path socket = null;
        boolean raw = false;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--config", "--socket" -> {
                    if (i + 1 >= args.size()) {
                        err.println("securejeebs status: " + a + " needs a path\n" + USAGE);
                        return SecureJeebsCli.USAGE;
                    }
                    Path p = Path.of(args.get(++i));
                    if (a.equals("--config")) {
                        config = p;
                    } else {
                        socket = p;
                    }
                }
                case "--json" -> raw = true;
                case "-h", "--help" -> {
                    out.println(USAGE);
                    return SecureJeebsCli.OK;
                }
                default -> {
                    err.println("securejeebs status: unknown argument '" + a + "'\n" + USAGE);
                    return SecureJeebsCli.USAGE;
                }
            }
        }
        if (config != null && socket != null) {
            err.println("securejeebs status: give --config or --socket, not both\n" + USAGE);
            return SecureJeebsCli.USAGE;
        }
        if (socket == null) {
            try {
                if (config == null && !Files.exists(defaultConfig)) {
                    socket = ApplianceConfig.DEFAULT_STATE_DIR.resolve(ApplianceConfig.CONTROL_SOCKET_NAME);
                } else {
                    socket = ApplianceConfig.load(config != null ? config : defaultConfig).controlSocket();
                }
            } catch (ConfigException e) {
                err.println("securejeebs: bad config: " + e.getMessage());
                return SecureJeebsCli.USAGE;
            }
        }

        String answer;
        try {
            answer = LocalJsonClient.exchange(socket, ControlServer.STATUS, timeout);
        } catch (LocalJsonClient.ExchangeException e) {
            err.println("securejeebs: " + explain(e, socket, timeout));
            return SecureJeebsCli.FAILED;
        }
        JsonNode doc;
        try {
            doc = new ObjectMapper().readTree(answer);
        } catch (JsonProcessingException e) {
            err.println("securejeebs: the appliance's answer on " + socket + " is not JSON: " + e.getOriginalMessage());
            return SecureJeebsCli.FAILED;
        }
        if (doc.has("error")) {
            String message = doc.path("error").asText();
            err.println("securejeebs: the appliance refused: " + message
                    + (message.startsWith("permission denied") ? " (run as root)" : ""));
            return SecureJeebsCli.FAILED;
        }
        if (raw) {
            out.println(answer);
        } else {
            out.print(StatusTable.render(doc));
        }
        return SecureJeebsCli.OK;
    }

    static String explain(LocalJsonClient.ExchangeException e, Path socket, Duration timeout) {
        return switch (e.failure()) {
            case NO_SOCKET -> "is the appliance running? expected its control socket at " + socket
                    + " (control.socket in its config; --config FILE or --socket PATH to look elsewhere)";
            case NOT_LISTENING -> "is the appliance running? nothing answers on " + socket + " (a stale socket)";
            case PERMISSION_DENIED -> "permission denied on " + socket + ": run as root";
            case TIMEOUT -> "the appliance did not answer within " + timeout.toMillis() / 1000.0 + " s on " + socket;
            case IO -> e.getMessage();
        };
    }
}
