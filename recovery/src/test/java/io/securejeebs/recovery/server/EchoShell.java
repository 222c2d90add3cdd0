package io.securejeebs.recovery.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.command.CommandFactory;
import org.apache.sshd.server.shell.ShellFactory;

/** TEST ONLY: a "shell" that says it is ready (with its TERM and size) and echoes every byte it receives. */
final class EchoShell implements Command {
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
    private InputStream in;
    private OutputStream out;
    private ExitCallback exit;

    EchoShell(String command) {
        this.command = command;
    }

    @Override
    public void setInputStream(InputStream in) {
        this.in = in;
    }

    @Override
    public void setOutputStream(OutputStream out) {
        this.out = out;
    }

    @Override
    public void setErrorStream(OutputStream err) {
        // unused
    }

    @Override
    public void setExitCallback(ExitCallback callback) {
        this.exit = callback;
    }

    @Override
    public void start(ChannelSession channel, Environment env) {
        Thread t = new Thread(() -> {
            try {
                String banner = READY + " TERM=" + env.getEnv().get("TERM") + " " + env.getEnv().get(Environment.ENV_COLUMNS)
                        + "x" + env.getEnv().get(Environment.ENV_LINES) + (command == null ? "" : " exec " + command) + "\r\n";
                out.write(banner.getBytes(StandardCharsets.UTF_8));
                out.flush();
                byte[] buf = new byte[4096];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    if (n > 0) {
                        out.write(buf, 0, n);
                        out.flush();
                    }
                }
                exit.onExit(0);
            } catch (IOException e) {
                exit.onExit(1, e.toString());
            }
        }, "echo-shell");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void destroy(ChannelSession channel) {
        // the thread ends with its input stream
    }
}
