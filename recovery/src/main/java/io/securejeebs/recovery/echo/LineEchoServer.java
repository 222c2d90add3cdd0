package io.securejeebs.recovery.echo;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The line-echo service: every newline-terminated line a client sends comes back unchanged. It stands in
 * for the protected application while SecureJeebs proves it can move plain TCP connections; the lab's
 * primary runs it ({@code securejeebs echo-server}), and {@link LineEchoTakeover} continues it.
 */
public final class LineEchoServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LineEchoServer.class);

    private final ServerSocketChannel listener;

    public LineEchoServer(InetSocketAddress listen) throws IOException {
        listener = ServerSocketChannel.open();
        listener.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
        listener.bind(listen, 128);
        log.info("line-echo service listening on {}", listen);
    }

    public void serveForever() throws IOException {
        while (listener.isOpen()) {
            SocketChannel ch = listener.accept();
            Thread t = new Thread(() -> serve(ch, 0), "echo-" + ch.socket().getPort());
            t.setDaemon(true);
            t.start();
        }
    }

    /**
     * Serves one connection until EOF.
     *
     * @param skipFirstAnswerBytes bytes of the first answer that were already sent by a previous server
     */
    static void serve(SocketChannel ch, int skipFirstAnswerBytes) {
        String peer = String.valueOf(ch.socket().getRemoteSocketAddress());
        long lines = 0;
        try (ch) {
            ByteBuffer in = ByteBuffer.allocate(64 * 1024);
            int skip = skipFirstAnswerBytes;
            while (ch.read(in) >= 0) {
                in.flip();
                int lineStart = in.position();
                for (int i = in.position(); i < in.limit(); i++) {
                    if (in.get(i) == '\n') {
                        ByteBuffer answer = in.duplicate();
                        answer.position(lineStart + Math.min(skip, i + 1 - lineStart)).limit(i + 1);
                        skip = 0;
                        while (answer.hasRemaining()) {
                            ch.write(answer);
                        }
                        lineStart = i + 1;
                        lines++;
                    }
                }
                in.position(lineStart);
                in.compact();
                if (!in.hasRemaining()) {
                    log.warn("{}: line longer than {} bytes, closing", peer, in.capacity());
                    return;
                }
            }
            log.debug("{}: EOF after {} line(s)", peer, lines);
        } catch (IOException e) {
            log.info("{}: connection ended after {} line(s): {}", peer, lines, e.getMessage());
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
    }
}
