package io.securejeebs.recovery.server;

import io.securejeebs.monitor.bench.ThreadedCommand;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.command.CommandFactory;
import org.apache.sshd.server.shell.ShellFactory;

/** TEST ONLY: a "shell" that says it is ready (with its TERM and size) and echoes every byte it receives. */
final class EchoShell extends ThreadedCommand {
    static final String READY = "echo-shell ready";

    /** Shell and exec both make an echo shell; exec prints its command first. */
    static final class Factory implements ShellFactory, CommandFactory {
        @Override
        public Command createShell(ChannelSession channel) {
            return new EchoShell(null);
        }

        @Override
        public Command createCommand(ChannelSession channel, String command) {
            return new EchoShell(command);
        }
    }

    private final String command;

    EchoShell(String command) {
        this.command = command;
    }

    @Override
    protected void work(Environment env) throws IOException {
        String banner = READY + " TERM=" + env.getEnv().get("TERM") + " " + env.getEnv().get(Environment.ENV_COLUMNS)
                + "x" + env.getEnv().get(Environment.ENV_LINES) + (command == null ? "" : " exec " + command) + "\r\n";
        out.write(banner.getBytes(StandardCharsets.UTF_8));
        out.flush();
        echoUntilEof();
    }
}
