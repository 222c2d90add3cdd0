package io.securejeebs.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The lab's line-echo client, run inside sj-client by the end-to-end tests. It opens N connections to
 * the service and, on each, streams numbered lines while checking, byte by byte, that what comes back
 * is exactly the stream it sent: every line once, in order. It never reconnects: a failure on a socket
 * is recorded and that connection stops.
 *
 * <p>Protocol with the test: it prints {@code READY port...} once connected and {@code PROGRESS ...} lines
 * every 100 ms; when the stop file appears it stops sending, waits for the remaining echoes, prints
 * {@code RESULT ...} per connection and exits (0 if all are exact).
 */
public final class LineEchoClient {
    private static final int LINE_LENGTH = 64;

    static byte[] line(int conn, long n) {
        String s = String.format("conn %d line %010d ", conn, n);
        StringBuilder b = new StringBuilder(s);
        while (b.length() < LINE_LENGTH - 1) {
            b.append((char) ('a' + (n + b.length()) % 26));
        }
        return b.append('\n').toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static final class Conversation {
        final int id;
        final Socket socket;
        final AtomicLong linesSent = new AtomicLong();
        final AtomicLong bytesEchoed = new AtomicLong();
        final AtomicLong lastEchoNanos = new AtomicLong(System.nanoTime());
        final AtomicLong maxGapNanos = new AtomicLong();
        final AtomicReference<String> error = new AtomicReference<>();
        volatile boolean sending = true;
        Thread writer;
        Thread reader;

        Conversation(int id, Socket socket) {
            this.id = id;
            this.socket = socket;
        }

        void write() {
            try {
                OutputStream out = socket.getOutputStream();
                long n = 0;
                while (sending) {
                    linesSent.incrementAndGet(); // before the write: its echo may come back first
                    out.write(line(id, n++));
                    Thread.sleep(intervalMillis);
                }
                out.flush();
            } catch (IOException | InterruptedException e) {
                error.compareAndSet(null, "write: " + e);
            }
        }

        /** Compares each received byte with the byte the sent stream has at that position. */
        void read() {
            try {
                InputStream in = socket.getInputStream();
                byte[] buf = new byte[8192];
                long line = 0;
                byte[] expected = line(id, 0);
                int pos = 0;
                int n;
                while ((n = in.read(buf)) >= 0) {
                    long now = System.nanoTime();
                    maxGapNanos.accumulateAndGet(now - lastEchoNanos.getAndSet(now), Math::max);
                    for (int i = 0; i < n; i++) {
                        if (buf[i] != expected[pos]) {
                            error.compareAndSet(null, "byte " + (bytesEchoed.get() + i) + " (line " + line + ", column " + pos
                                    + ") is '" + (char) buf[i] + "', expected '" + (char) expected[pos] + "'");
                            return;
                        }
                        if (++pos == expected.length) {
                            expected = line(id, ++line);
                            pos = 0;
                        }
                    }
                    bytesEchoed.addAndGet(n);
                    if (line > linesSent.get()) {
                        error.compareAndSet(null, "echo ahead of what was sent");
                        return;
                    }
                }
                error.compareAndSet(null, "EOF from the server after " + bytesEchoed.get() + " bytes");
            } catch (IOException e) {
                error.compareAndSet(null, "read: " + e);
            }
        }
    }

    private static int intervalMillis = 2;

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: LineEchoClient HOST:PORT CONNECTIONS INTERVAL_MS STOP_FILE");
            System.exit(2);
        }
        String[] hp = args[0].split(":");
        InetSocketAddress target = new InetSocketAddress(hp[0], Integer.parseInt(hp[1]));
        int count = Integer.parseInt(args[1]);
        intervalMillis = Integer.parseInt(args[2]);
        java.nio.file.Path stopFile = java.nio.file.Path.of(args[3]);
        List<Conversation> conversations = new ArrayList<>();
        StringBuilder ports = new StringBuilder("READY");
        for (int i = 0; i < count; i++) {
            Socket s = new Socket();
            s.connect(target, 5000);
            Conversation c = new Conversation(i, s);
            conversations.add(c);
            ports.append(' ').append(s.getLocalPort());
        }
        for (Conversation c : conversations) {
            c.writer = new Thread(c::write, "writer-" + c.id);
            c.reader = new Thread(c::read, "reader-" + c.id);
            c.reader.start();
            c.writer.start();
        }
        System.out.println(ports);
        System.out.flush();

        Thread progress = new Thread(() -> {
            while (true) {
                StringBuilder b = new StringBuilder("PROGRESS");
                for (Conversation c : conversations) {
                    b.append(" conn=").append(c.id).append(",sent=").append(c.linesSent.get())
                            .append(",echoed=").append(c.bytesEchoed.get() / LINE_LENGTH)
                            .append(",error=").append(c.error.get() == null ? "none" : c.error.get().replace(' ', '_'));
                }
                System.out.println(b);
                System.out.flush();
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "progress");
        progress.setDaemon(true);
        progress.start();

        while (!java.nio.file.Files.exists(stopFile)) {
            Thread.sleep(20);
        }
        for (Conversation c : conversations) {
            c.sending = false;
        }
        boolean allExact = true;
        for (Conversation c : conversations) {
            c.writer.join(5000);
            long deadline = System.nanoTime() + 20_000_000_000L;
            long expectedBytes = c.linesSent.get() * LINE_LENGTH;
            while (c.bytesEchoed.get() < expectedBytes && c.error.get() == null && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            long echoed = c.bytesEchoed.get();
            boolean exact = c.error.get() == null && echoed == expectedBytes;
            allExact &= exact;
            System.out.printf("RESULT conn=%d port=%d sent_lines=%d sent_bytes=%d echoed_bytes=%d max_gap_ms=%d exact=%b error=%s%n",
                    c.id, c.socket.getLocalPort(), c.linesSent.get(), expectedBytes, echoed,
                    c.maxGapNanos.get() / 1_000_000, exact, c.error.get() == null ? "none" : c.error.get().replace(' ', '_'));
        }
        System.out.flush();
        for (Conversation c : conversations) {
            c.socket.close();
        }
        System.exit(allExact ? 0 : 1);
    }
}
