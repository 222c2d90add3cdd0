package io.securejeebs.monitor.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.channel.ClientChannel;
import org.apache.sshd.client.channel.ClientChannelEvent;
import org.apache.sshd.client.session.ClientSession;

/**
 * A MINA client channel to an echoing shell or {@code cat} (the benchmark and test servers'), driven like a
 * user at a keyboard: {@link #type} sends text and waits until as many bytes came back, so that the
 * exchange has crossed the wire both ways before the caller looks at the tracker. For benchmarks and tests.
 */
public final class TypedChannel {
    private static final Duration T = Duration.ofSeconds(10);

    private final ClientChannel channel;
    private final PipedOutputStream typing = new PipedOutputStream();
    private final ByteArrayOutputStream echoed = new ByteArrayOutputStream();

    private TypedChannel(ClientChannel channel, int inputBuffer) throws IOException {
        this.channel = channel;
        channel.setIn(new PipedInputStream(typing, inputBuffer));
        channel.setOut(echoed);
        channel.setErr(echoed);
    }

    /**
     * Opens a shell on a pty of that type and size, with those environment variables.
     *
     * @param inputBuffer the most bytes one {@link #type} may send (the pipe to the channel)
     */
    public static TypedChannel shell(ClientSession session, String term, int columns, int rows, Map<String, String> env,
                                     int inputBuffer) throws IOException {
        ChannelShell shell = session.createShellChannel();
        shell.setPtyType(term);
        shell.setPtyColumns(columns);
        shell.setPtyLines(rows);
        env.forEach(shell::setEnv);
        TypedChannel c = new TypedChannel(shell, inputBuffer);
        shell.open().verify(T);
        return c;
    }

    /** Opens an exec channel running {@code command}. */
    public static TypedChannel exec(ClientSession session, String command) throws IOException {
        TypedChannel c = new TypedChannel(session.createExecChannel(command), 1 << 16);
        c.channel.open().verify(T);
        return c;
    }

    /** The shell channel (window changes), or the exec channel. */
    public ClientChannel channel() {
        return channel;
    }

    /** Sends {@code text} and waits until as many bytes were echoed. */
    public void type(String text) throws IOException, InterruptedException {
        int before = echoed.size();
        typing.write(text.getBytes(StandardCharsets.UTF_8));
        typing.flush();
        long deadline = System.nanoTime() + T.toNanos();
        while (echoed.size() < before + text.length()) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("the channel did not echo '" + text.strip().substring(0,
                        Math.min(40, text.strip().length())) + "' within " + T.toSeconds() + " s");
            }
            Thread.sleep(5);
        }
    }

    /** Ends the input (EOF) and waits for the channel to close. */
    public void endInputAndAwaitClose() throws IOException {
        typing.close();
        channel.waitFor(List.of(ClientChannelEvent.CLOSED), T);
    }
}
