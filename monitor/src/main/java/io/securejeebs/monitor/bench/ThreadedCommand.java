package io.securejeebs.monitor.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;

/**
 * A MINA SSHD command for benchmark and test servers, never for users: {@link #work} runs on a daemon
 * thread of its own with the channel's streams; it returning ends the command with exit status 0, an
 * {@link IOException} (the channel went away) with 1. stderr is not used.
 */
public abstract class ThreadedCommand implements Command {
    protected InputStream in;
    protected OutputStream out;
    private ExitCallback exit;
    private Thread thread;

    /** The command's work, on its own thread. */
    protected abstract void work(Environment env) throws IOException;

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
    }

    @Override
    public void setExitCallback(ExitCallback exit) {
        this.exit = exit;
    }

    @Override
    public void start(ChannelSession channel, Environment env) {
        thread = new Thread(() -> {
            try {
                work(env);
                exit.onExit(0);
            } catch (IOException e) {
                exit.onExit(1, e.toString());
            }
        }, getClass().getSimpleName().toLowerCase(Locale.ROOT));
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void destroy(ChannelSession channel) {
        if (thread != null) {
            thread.interrupt();
        }
    }

    /** Copies the input to the output until EOF. */
    protected final void echoUntilEof() throws IOException {
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) > 0; ) {
            out.write(buf, 0, n);
            out.flush();
        }
    }
}
