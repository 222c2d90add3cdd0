package io.securejeebs.recovery.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * TEST ONLY: a TCP relay on 127.0.0.1 for one connection, recording both byte streams as they pass (what the
 * monitor would capture). One thread with a selector, so that {@link #detach()} can stop it between two reads
 * and hand out the client-facing socket with no I/O in progress (for TCP_REPAIR).
 */
final class RecordingRelay implements AutoCloseable {
    private final ServerSocketChannel listener;
    private final InetSocketAddress target;
    private final ByteArrayOutputStream c2s = new ByteArrayOutputStream();
    private final ByteArrayOutputStream s2c = new ByteArrayOutputStream();
    private final Thread thread;
    private final CompletableFuture<SocketChannel> detached = new CompletableFuture<>();
    private volatile boolean detachRequested;
    private volatile boolean closed;
    private volatile Selector selector;
    private SocketChannel client;
    private SocketChannel upstream;

    RecordingRelay(InetSocketAddress target) throws IOException {
        this.target = target;
        this.listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        this.thread = new Thread(this::run, "recording-relay");
        thread.setDaemon(true);
        thread.start();
    }

    InetSocketAddress address() throws IOException {
        return (InetSocketAddress) listener.getLocalAddress();
    }

    int port() throws IOException {
        return address().getPort();
    }

    byte[] clientToServer() {
        synchronized (c2s) {
            return c2s.toByteArray();
        }
    }

    byte[] serverToClient() {
        synchronized (s2c) {
            return s2c.toByteArray();
        }
    }

    private void run() {
        try {
            client = listener.accept();
            upstream = SocketChannel.open(target);
            client.configureBlocking(false);
            upstream.configureBlocking(false);
            selector = Selector.open();
            client.register(selector, SelectionKey.OP_READ);
            upstream.register(selector, SelectionKey.OP_READ);
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            while (!closed) {
                if (detachRequested) {
                    selector.close(); // deregisters both channels
                    client.configureBlocking(true);
                    detached.complete(client);
                    return;
                }
                selector.select(100);
                for (SelectionKey k : selector.selectedKeys()) {
                    SocketChannel from = (SocketChannel) k.channel();
                    SocketChannel to = from == client ? upstream : client;
                    ByteArrayOutputStream record = from == client ? c2s : s2c;
                    buf.clear();
                    int n = from.read(buf);
                    if (n < 0) {
                        closed = true;
                        break;
                    }
                    buf.flip();
                    synchronized (record) {
                        record.write(buf.array(), 0, buf.limit());
                    }
                    while (buf.hasRemaining()) {
                        to.write(buf); // loopback: the peer drains quickly
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            detached.completeExceptionally(e);
        } finally {
            if (!detached.isDone()) {
                detached.completeExceptionally(new IOException("the relay stopped"));
                closeQuietly();
            }
        }
    }

    /**
     * Stops relaying and returns the client-facing socket, blocking and idle (nothing being read or
     * written). The upstream connection stays open until {@link #close()}.
     */
    SocketChannel detach() throws Exception {
        detachRequested = true;
        Selector s = selector;
        if (s != null) {
            s.wakeup();
        }
        return detached.get(10, TimeUnit.SECONDS);
    }

    private void closeQuietly() {
        for (var c : new java.io.Closeable[] {client, upstream, selector, listener}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        Selector s = selector;
        if (s != null) {
            s.wakeup();
        }
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            if (upstream != null) {
                upstream.close();
            }
            if (!detached.isDone() && client != null) {
                client.close();
            }
        } finally {
            listener.close();
        }
    }
}
