package io.securejeebs.localsocket;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A local control socket that answers each connection with one JSON document and closes it: a root-only UNIX
 * domain socket ({@link PrivateSocketPath}), served by one thread with a selector, so no client can block it.
 *
 * <ul>
 * <li>{@link Mode#REQUEST_LINE}: the client sends one line (at most {@link Limits#maxRequestBytes()} bytes before
 *     the newline) and gets the handler's answer to it.</li>
 * <li>{@link Mode#ON_CONNECT}: the client gets the handler's answer as soon as it connects; it sends nothing.</li>
 * </ul>
 *
 * <p>Whatever goes wrong is answered with {@code {"error": "message"}}: a request that is too long, a request
 * that does not arrive within {@link Limits#timeout()}, a peer of another user or whose credentials cannot be read
 * (checked with SO_PEERCRED, on top of the file modes: a peer is let in only when it is known to be the owner),
 * too many clients at once, a request the handler refuses ({@link RequestException}) or an
 * internal failure. A client that connects and then stalls is dropped at its deadline; a client that reads its
 * answer slowly is dropped after {@link Limits#timeout()} without progress. The handler runs on the server's
 * thread: it must be quick (a snapshot, not I/O).
 */
public final class LocalJsonServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LocalJsonServer.class);

    public enum Mode { REQUEST_LINE, ON_CONNECT }

    /**
     * @param maxRequestBytes longest request line, without its newline
     * @param timeout how long a client may take to send its request, and to read each part of the answer
     * @param maxClients connections served at once; more are answered with an error and closed
     */
    public record Limits(int maxRequestBytes, Duration timeout, int maxClients) {
        public static final Limits DEFAULT = new Limits(1024, Duration.ofSeconds(5), 32);

        public Limits {
            if (maxRequestBytes < 1 || maxClients < 1 || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("bad limits: " + maxRequestBytes + " bytes, " + timeout + ", "
                        + maxClients + " clients");
            }
        }
    }

    /** Computes the answer to one request (null in {@link Mode#ON_CONNECT}); the result is serialised by Jackson. */
    @FunctionalInterface
    public interface Handler {
        Object respond(String request) throws Exception;
    }

    /** How a connected peer's user is read: SO_PEERCRED, except in tests that need it to fail. */
    @FunctionalInterface
    interface PeerCredentials {
        PeerCredentials SO_PEERCRED = ch -> ch.getOption(ExtendedSocketOptions.SO_PEERCRED);

        /** @return the peer, or null when the kernel gave none */
        UnixDomainPrincipal read(SocketChannel ch) throws IOException;
    }

    /** A request the handler refuses; its message goes to the client as the error. */
    public static final class RequestException extends Exception {
        public RequestException(String message) {
            super(message);
        }
    }

    private final String name;
    private final Path path;
    private final Mode mode;
    private final Limits limits;
    private final Handler handler;
    private final ObjectMapper json;
    private final ServerSocketChannel server;
    private final Selector selector;
    private final String owner;
    private final PeerCredentials peers;
    private final Set<Connection> connections = new HashSet<>();
    private final Thread thread;
    private volatile boolean running = true;

    private LocalJsonServer(String name, Path path, Mode mode, Limits limits, Handler handler, ObjectMapper json,
                            ServerSocketChannel server, PeerCredentials peers) throws IOException {
        this.name = name;
        this.path = path;
        this.mode = mode;
        this.limits = limits;
        this.handler = handler;
        this.json = json;
        this.server = server;
        this.owner = System.getProperty("user.name");
        this.peers = peers;
        this.selector = Selector.open();
        server.configureBlocking(false);
        server.register(selector, SelectionKey.OP_ACCEPT);
        this.thread = new Thread(this::loop, name);
        this.thread.setDaemon(true);
    }

    /**
     * Binds {@code path} ({@link PrivateSocketPath#bind}) and starts serving.
     *
     * @param name the thread's name and the name in log lines
     * @param tightenParent whether group/other permissions may be removed from an existing directory of the socket
     */
    public static LocalJsonServer start(String name, Path path, boolean tightenParent, Mode mode, Limits limits,
                                        ObjectMapper json, Handler handler) throws IOException {
        return start(name, path, tightenParent, mode, limits, json, handler, PeerCredentials.SO_PEERCRED);
    }

    static LocalJsonServer start(String name, Path path, boolean tightenParent, Mode mode, Limits limits,
                                 ObjectMapper json, Handler handler, PeerCredentials peers) throws IOException {
        ServerSocketChannel server = PrivateSocketPath.bind(path, tightenParent);
        LocalJsonServer s;
        try {
            s = new LocalJsonServer(name, path, Objects.requireNonNull(mode), Objects.requireNonNull(limits),
                    Objects.requireNonNull(handler), Objects.requireNonNull(json), server,
                    Objects.requireNonNull(peers));
        } catch (IOException | RuntimeException e) {
            server.close();
            PrivateSocketPath.remove(path);
            throw e;
        }
        s.thread.start();
        return s;
    }

    public Path path() {
        return path;
    }

    private final class Connection {
        final SocketChannel channel;
        final ByteBuffer in;
        ByteBuffer out;
        long deadline;
        int scanned;

        Connection(SocketChannel channel, long now) {
            this.channel = channel;
            this.in = mode == Mode.REQUEST_LINE ? ByteBuffer.allocate(limits.maxRequestBytes() + 2) : null;
            this.deadline = now + limits.timeout().toNanos();
        }
    }

    private void loop() {
        try {
            while (running) {
                long now = System.nanoTime();
                long next = Long.MAX_VALUE;
                for (Connection c : connections) {
                    next = Math.min(next, c.deadline);
                }
                long waitMillis = next == Long.MAX_VALUE ? 0 : Math.max(1, (next - now + 999_999) / 1_000_000);
                selector.select(waitMillis);
                for (SelectionKey key : selector.selectedKeys()) {
                    try {
                        if (!key.isValid()) {
                            continue;
                        }
                        if (key.isAcceptable()) {
                            accept();
                        } else if (key.isReadable()) {
                            read((Connection) key.attachment());
                        } else if (key.isWritable()) {
                            write((Connection) key.attachment());
                        }
                    } catch (IOException e) {
                        if (key.attachment() instanceof Connection c) {
                            log.debug("{}: dropping a client: {}", name, e.getMessage());
                            close(c);
                        } else if (running) {
                            log.warn("{}: accept failed: {}", name, e.getMessage());
                        }
                    }
                }
                selector.selectedKeys().clear();
                expire(System.nanoTime());
            }
        } catch (IOException | ClosedSelectorException e) {
            if (running) {
                log.error("{}: stopped serving {}: {}", name, path, e.getMessage(), e);
            }
        } finally {
            for (Connection c : new ArrayList<>(connections)) {
                close(c);
            }
        }
    }

    private void accept() throws IOException {
        SocketChannel ch = server.accept();
        if (ch == null) {
            return;
        }
        ch.configureBlocking(false);
        long now = System.nanoTime();
        Connection c = new Connection(ch, now);
        connections.add(c);
        SelectionKey key = ch.register(selector, 0, c);
        String refused = null;
        if (connections.size() > limits.maxClients()) {
            refused = "too many clients at once (at most " + limits.maxClients() + "); try again";
        } else {
            refused = peerRefusal(ch);
        }
        if (refused != null) {
            log.debug("{}: refusing a client: {}", name, refused);
            answer(c, key, error(refused));
        } else if (mode == Mode.ON_CONNECT) {
            answer(c, key, respond(null));
        } else {
            key.interestOps(SelectionKey.OP_READ);
        }
    }

    /** Null when the peer is the owner; otherwise why it is refused. Unknown credentials are refused too. */
    private String peerRefusal(SocketChannel ch) {
        UnixDomainPrincipal p;
        try {
            p = peers.read(ch);
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("{}: refusing a client whose credentials (SO_PEERCRED) cannot be read: {}", name, e.toString());
            return "permission denied: the peer's credentials cannot be read";
        }
        if (p == null || p.user() == null) {
            log.warn("{}: refusing a client without credentials (SO_PEERCRED)", name);
            return "permission denied: the peer's credentials cannot be read";
        }
        String peer = p.user().getName();
        return peer.equals(owner) ? null : "permission denied: only " + owner + " may use this socket, not " + peer;
    }

    private void read(Connection c) throws IOException {
        int n = c.channel.read(c.in);
        if (n < 0) {
            close(c); // the client went away before finishing its request
            return;
        }
        byte[] b = c.in.array();
        for (int i = c.scanned; i < c.in.position(); i++) {
            if (b[i] == '\n') {
                int end = i > 0 && b[i - 1] == '\r' ? i - 1 : i;
                String request = new String(b, 0, end, StandardCharsets.UTF_8).strip();
                answer(c, c.channel.keyFor(selector), end > limits.maxRequestBytes()
                        ? error(tooLong()) : respond(request));
                return;
            }
        }
        c.scanned = c.in.position();
        if (c.in.position() > limits.maxRequestBytes()) {
            answer(c, c.channel.keyFor(selector), error(tooLong()));
        }
    }

    private String tooLong() {
        return "request too long: at most " + limits.maxRequestBytes() + " bytes, then a newline";
    }

    private byte[] respond(String request) {
        try {
            return json.writeValueAsBytes(handler.respond(request));
        } catch (RequestException e) {
            return error(e.getMessage());
        } catch (Exception e) {
            log.warn("{}: cannot answer {}: {}", name, request == null ? "a client" : "'" + request + "'",
                    e.toString(), e);
            return error("internal error: " + e);
        }
    }

    /** {@code {"error": message}} */
    public byte[] error(String message) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("error", message);
        try {
            return json.writeValueAsBytes(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ByteBuffer line(byte[] document) {
        ByteBuffer out = ByteBuffer.allocate(document.length + 1);
        out.put(document).put((byte) '\n').flip();
        return out;
    }

    private void answer(Connection c, SelectionKey key, byte[] document) throws IOException {
        c.out = line(document);
        c.deadline = System.nanoTime() + limits.timeout().toNanos();
        key.interestOps(SelectionKey.OP_WRITE);
        write(c);
    }

    private void write(Connection c) throws IOException {
        int n = c.channel.write(c.out);
        if (!c.out.hasRemaining()) {
            close(c);
        } else if (n > 0) {
            c.deadline = System.nanoTime() + limits.timeout().toNanos(); // a slow reader, but a reader
        }
    }

    private void expire(long now) {
        List<Connection> late = new ArrayList<>();
        for (Connection c : connections) {
            if (now - c.deadline >= 0) {
                late.add(c);
            }
        }
        for (Connection c : late) {
            if (c.out == null) {
                // best effort, without waiting: the client may read it, or may not
                try {
                    c.channel.write(line(error("no complete request within " + limits.timeout().toMillis() + " ms")));
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
            log.debug("{}: dropping a client that took too long", name);
            close(c);
        }
    }

    private void close(Connection c) {
        connections.remove(c);
        SelectionKey key = c.channel.keyFor(selector);
        if (key != null) {
            key.cancel();
        }
        try {
            c.channel.close();
        } catch (IOException ignored) {
            // nothing left to do with it
        }
    }

    @Override
    public void close() {
        running = false;
        selector.wakeup();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            server.close();
            selector.close();
        } catch (IOException ignored) {
            // shutting down
        }
        PrivateSocketPath.remove(path);
    }
}
