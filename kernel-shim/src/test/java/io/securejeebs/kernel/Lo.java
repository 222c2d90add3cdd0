package io.securejeebs.kernel;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousSocketChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Test helpers: root check, 127.0.0.1 only, payload patterns, and I/O with deadlines. */
final class Lo {

    /** The only address these tests ever use. */
    static final InetAddress LOOPBACK;

    static {
        try {
            LOOPBACK = InetAddress.getByAddress(new byte[] {127, 0, 0, 1});
        } catch (UnknownHostException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Lo() {
    }

    static InetSocketAddress any() {
        return new InetSocketAddress(LOOPBACK, 0);
    }

    /** TCP_REPAIR needs CAP_NET_ADMIN: skip (not fail) when not root. */
    static void assumeRoot() {
        long uid = -1;
        long capEff = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    uid = Long.parseLong(line.split("\\s+")[2]); // effective uid
                } else if (line.startsWith("CapEff:")) {
                    capEff = Long.parseUnsignedLong(line.split("\\s+")[1], 16);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assumeTrue(uid == 0, "kernel-shim tests need root (CAP_NET_ADMIN for TCP_REPAIR); effective uid is " + uid);
        assumeTrue((capEff & (1L << 12)) != 0, "running as root but without CAP_NET_ADMIN; TCP_REPAIR is not allowed");
    }

    /** Deterministic pseudo-random payload. */
    static byte[] pattern(long seed, int len) {
        byte[] b = new byte[len];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < len; i++) {
            b[i] = (byte) r.nextInt(256);
        }
        return b;
    }

    /** Open fds of this process (to check that a failed restore leaked nothing). */
    static List<String> openFds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static boolean isOpenFd(int fd) {
        return Files.exists(Path.of("/proc/self/fd/" + fd));
    }

    // ---- non-blocking SocketChannel I/O with a deadline ----------------------------------------

    static void writeFully(SocketChannel ch, ByteBuffer buf) throws IOException {
        if (ch.isBlocking()) {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            return;
        }
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_WRITE);
            while (buf.hasRemaining()) {
                if (ch.write(buf) == 0) {
                    waitFor(sel, deadline, "write");
                }
            }
        }
    }

    static void readFully(SocketChannel ch, ByteBuffer buf) throws IOException {
        if (ch.isBlocking()) {
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    throw new EOFException("EOF after " + buf.position() + " bytes");
                }
            }
            return;
        }
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_READ);
            while (buf.hasRemaining()) {
                int n = ch.read(buf);
                if (n < 0) {
                    throw new EOFException("EOF after " + buf.position() + " bytes");
                }
                if (n == 0) {
                    waitFor(sel, deadline, "read");
                }
            }
        }
    }

    private static void waitFor(Selector sel, long deadline, String what) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new IOException("timed out waiting to " + what);
        }
        sel.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        sel.selectedKeys().clear();
    }

    // ---- AsynchronousSocketChannel I/O with a deadline -----------------------------------------

    static void writeFully(AsynchronousSocketChannel ch, ByteBuffer buf) throws Exception {
        while (buf.hasRemaining()) {
            ch.write(buf).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    static void readFully(AsynchronousSocketChannel ch, ByteBuffer buf) throws Exception {
        while (buf.hasRemaining()) {
            int n = ch.read(buf).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (n < 0) {
                throw new EOFException("EOF after " + buf.position() + " bytes");
            }
        }
    }

    /** Runs a task with a deadline (blocking channels cannot time out by themselves). */
    static <T> T within(ExecutorService pool, Callable<T> task) throws Exception {
        Future<T> f = pool.submit(task);
        try {
            return f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (TimeoutException e) {
            f.cancel(true);
            throw e;
        }
    }

    static ExecutorService pool() {
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "kernel-shim-test");
            t.setDaemon(true);
            return t;
        });
    }
}
