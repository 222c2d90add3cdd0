package io.securejeebs.localsocket;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/** The client side of {@link LocalJsonServer}: one request line (or none), one JSON document back, within a deadline. */
public final class LocalJsonClient {
    /** Answers larger than this are refused rather than held in memory. */
    public static final int MAX_RESPONSE_BYTES = 256 << 20;

    /** Why an exchange failed, so that a command line can say what to do about it. */
    public enum Failure { NO_SOCKET, NOT_LISTENING, PERMISSION_DENIED, TIMEOUT, IO }

    public static final class ExchangeException extends IOException {
        private final Failure failure;

        public ExchangeException(Failure failure, String message, Throwable cause) {
            super(message, cause);
            this.failure = failure;
        }

        public Failure failure() {
            return failure;
        }
    }

    private LocalJsonClient() {}

    /**
     * Connects to {@code socket}, sends {@code request} and a newline (nothing if null), and reads the answer
     * until the server closes the connection.
     *
     * @return the answer, without its trailing newline
     */
    public static String exchange(Path socket, String request, Duration timeout) throws ExchangeException {
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            Path dir = socket.getParent();
            if (dir != null && Files.exists(dir) && !Files.isExecutable(dir)) {
                throw new ExchangeException(Failure.PERMISSION_DENIED, "permission denied: cannot enter " + dir, null);
            }
            throw new ExchangeException(Failure.NO_SOCKET, "no socket at " + socket, null);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX); Selector selector = Selector.open()) {
            connect(ch, socket, deadline, timeout);
            ch.configureBlocking(false);
            SelectionKey key = ch.register(selector, 0);
            IOException writeFailure = null;
            if (request != null) {
                ByteBuffer out = ByteBuffer.wrap((request + "\n").getBytes(StandardCharsets.UTF_8));
                key.interestOps(SelectionKey.OP_WRITE);
                try {
                    while (out.hasRemaining()) {
                        ch.write(out);
                        if (out.hasRemaining()) {
                            await(selector, deadline, socket, timeout);
                        }
                    }
                } catch (ExchangeException e) {
                    throw e;
                } catch (IOException e) {
                    // The server may answer and close before reading the request (an error such as "too many
                    // clients"): its answer is still there to read.
                    writeFailure = e;
                }
            }
            key.interestOps(SelectionKey.OP_READ);
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(64 << 10);
            while (true) {
                int n;
                try {
                    n = ch.read(buf);
                } catch (IOException e) {
                    if (answer.size() > 0) {
                        break; // a reset after the whole answer (the server dropped what we sent on top)
                    }
                    throw writeFailure != null ? writeFailure : e;
                }
                if (n < 0) {
                    break;
                }
                if (n == 0) {
                    await(selector, deadline, socket, timeout);
                    continue;
                }
                answer.write(buf.array(), 0, buf.position());
                buf.clear();
                if (answer.size() > MAX_RESPONSE_BYTES) {
                    throw new ExchangeException(Failure.IO, "the answer from " + socket + " exceeds "
                            + MAX_RESPONSE_BYTES + " bytes", null);
                }
            }
            String text = answer.toString(StandardCharsets.UTF_8);
            if (text.isEmpty() && writeFailure != null) {
                throw writeFailure;
            }
            if (text.isEmpty()) {
                throw new ExchangeException(Failure.IO, socket + " closed the connection without an answer", null);
            }
            return text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        } catch (ExchangeException e) {
            throw e;
        } catch (IOException e) {
            throw new ExchangeException(Failure.IO, socket + ": " + e.getMessage(), e);
        }
    }

    /**
     * A blocking connect: a UNIX socket connects at once unless the server's accept backlog is full, that is
     * unless the server is stuck; a watchdog closes the channel at the deadline, which ends the wait.
     */
    private static void connect(SocketChannel ch, Path socket, long deadline, Duration timeout) throws IOException {
        Thread watchdog = new Thread(() -> {
            try {
                long left = deadline - System.nanoTime();
                if (left > 0) {
                    Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
                }
                ch.close();
            } catch (InterruptedException | IOException done) {
                // connected in time
            }
        }, "local-socket-connect-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
        } catch (java.nio.channels.AsynchronousCloseException e) {
            throw new ExchangeException(Failure.TIMEOUT, "no answer on " + socket + " within "
                    + timeout.toMillis() + " ms (it does not accept connections)", e);
        } catch (IOException e) {
            throw classify(socket, e);
        } finally {
            watchdog.interrupt();
        }
        if (!ch.isOpen()) {
            throw new ExchangeException(Failure.TIMEOUT, "no answer on " + socket + " within "
                    + timeout.toMillis() + " ms", null);
        }
    }

    private static void await(Selector selector, long deadline, Path socket, Duration timeout) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new ExchangeException(Failure.TIMEOUT, "no answer on " + socket + " within "
                    + timeout.toMillis() + " ms", null);
        }
        selector.select(Math.max(1, left / 1_000_000));
        selector.selectedKeys().clear();
    }

    private static ExchangeException classify(Path socket, IOException e) {
        String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
        if (m.contains("permission denied") || e instanceof java.nio.file.AccessDeniedException) {
            return new ExchangeException(Failure.PERMISSION_DENIED, "permission denied on " + socket, e);
        }
        if (m.contains("connection refused")) {
            return new ExchangeException(Failure.NOT_LISTENING, "nothing listens on " + socket + " (a stale socket)", e);
        }
        if (m.contains("no such file")) {
            return new ExchangeException(Failure.NO_SOCKET, "no socket at " + socket, e);
        }
        return new ExchangeException(Failure.IO, "cannot connect to " + socket + ": " + e.getMessage(), e);
    }
}
