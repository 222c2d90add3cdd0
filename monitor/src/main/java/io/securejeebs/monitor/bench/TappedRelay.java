package io.securejeebs.monitor.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * A TCP relay on 127.0.0.1 that forwards one connection to a server and hands every chunk of both
 * directions, in order, to a tap before forwarding it (an answer is never tapped before its cause): the
 * bytes the tracker would reassemble from a capture. For benchmarks and tests on loopback.
 */
public final class TappedRelay implements AutoCloseable {
    public interface Tap {
        void onBytes(boolean fromClient, byte[] data, int length);
    }

    private final ServerSocket listener;
    private final int serverPort;
    private final Tap tap;
    private volatile long lastActivityNanos = System.nanoTime();
    private Socket client;
    private Socket server;

    public TappedRelay(int serverPort, Tap tap) throws IOException {
        this.listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.serverPort = serverPort;
        this.tap = tap;
        Thread t = new Thread(this::accept, "relay-accept");
        t.setDaemon(true);
        t.start();
    }

    public int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        try {
            client = listener.accept();
            server = new Socket(InetAddress.getLoopbackAddress(), serverPort);
            pump(client.getInputStream(), server.getOutputStream(), true);
            pump(server.getInputStream(), client.getOutputStream(), false);
        } catch (IOException ignored) {
            // closed
        }
    }

    private void pump(InputStream in, OutputStream out, boolean fromClient) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try {
                for (int n; (n = in.read(buf)) > 0; ) {
                    lastActivityNanos = System.nanoTime();
                    tap.onBytes(fromClient, buf, n);
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException ignored) {
                // closed
            }
        }, fromClient ? "relay-c2s" : "relay-s2c");
        t.setDaemon(true);
        t.start();
    }

    /** Waits until no byte has moved either way for {@code quietMillis}: a quiet moment. */
    public void awaitQuiet(long quietMillis) throws InterruptedException {
        while ((System.nanoTime() - lastActivityNanos) / 1_000_000 < quietMillis) {
            Thread.sleep(20);
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }
}
