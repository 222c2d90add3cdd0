package io.securejeebs.monitor.warmup;

import io.securejeebs.monitor.bench.RecordedSshSession;
import io.securejeebs.monitor.bench.SyntheticTcpWire;
import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.client.channel.ChannelExec;
import org.apache.sshd.client.channel.ClientChannelEvent;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings the monitor's per-byte path to compiled speed before it must follow bulk traffic. A fresh JVM
 * interprets the frame decoder, the reassembler, the SSH tracker and the ciphers (AES-GCM's GHASH, MINA's
 * chacha20 and Poly1305 are Java code until the JIT compiles them): measured with scripts/bench-monitor,
 * it followed a few hundred Mbit/s for the first second, long enough for a 1 Gbit/s session to overrun
 * the 64 MiB capture ring, while the same code, warm, follows several Gbit/s of AES-GCM.
 *
 * <p>For each cipher, one real bulk session is recorded in this JVM on loopback ({@link RecordedSshSession}:
 * a MINA client reads {@code stream} output from a {@link io.securejeebs.monitor.bench.BenchSshServer}),
 * then replayed several times as captured TCP frames through a private {@link ConnectionTable} with the
 * real {@link SshSessionTracker}: the very code the live capture runs, on a table nobody else sees.
 * Nothing leaves the JVM but loopback traffic to itself.
 */
public final class TrackingWarmUp {
    private static final Logger log = LoggerFactory.getLogger(TrackingWarmUp.class);
    private static final int SERVER = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 201, 1});
    private static final int CLIENT = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 201, 2});
    /** As loopback or GRO captures bulk: large super-frames. */
    private static final int SEGMENT = 60_000;

    /** The ciphers the warm-up covers when none are named: every family the primary offers by default. */
    public static final List<String> DEFAULT_CIPHERS = List.of("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
            "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr");

    /** One cipher's warm-up: what was replayed, and how fast the last pass went. */
    public record Result(String cipher, long sessionBytes, int passes, double lastPassMbitPerSecond, long millis) {}

    private final double streamSeconds;
    private final int passes;

    /**
     * @param streamSeconds how long each recorded session streams (at most 400 Mbit/s: ~20 MB for 0.4 s)
     * @param passes how many times each recording is replayed
     */
    public TrackingWarmUp(double streamSeconds, int passes) {
        if (streamSeconds <= 0 || streamSeconds > 10 || passes < 1 || passes > 100) {
            throw new IllegalArgumentException("warm-up of " + streamSeconds + " s x " + passes + " passes");
        }
        this.streamSeconds = streamSeconds;
        this.passes = passes;
    }

    /** The appliance's: ~20 MB per cipher, replayed 5 times. */
    public static TrackingWarmUp standard() {
        return new TrackingWarmUp(0.4, 5);
    }

    /**
     * Warms the path for each cipher MINA supports here (others are skipped), one after the other, on the
     * calling thread. A cipher that fails is logged and skipped: the warm-up is never worth failing for.
     */
    public List<Result> run(List<String> ciphers) {
        List<Result> results = new ArrayList<>();
        for (String name : ciphers) {
            BuiltinCiphers cipher = BuiltinCiphers.fromFactoryName(name);
            if (cipher == null || !cipher.isSupported()) {
                continue;
            }
            try {
                results.add(warm(cipher));
            } catch (Exception | LinkageError e) {
                log.warn("tracking warm-up of {} failed: {}", name, e.toString());
            }
        }
        return results;
    }

    /** {@link #run} on a low-priority daemon thread, logging what it did and how long it took. */
    public Thread startInBackground(List<String> ciphers) {
        Thread t = new Thread(() -> {
            long t0 = System.nanoTime();
            List<Result> results = run(ciphers);
            log.info("tracking warm-up done in {} ms: {}", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                    describe(results));
        }, "sj-tracking-warm-up");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
        return t;
    }

    /** One line per result, for logs and benchmark output. */
    public static String describe(List<Result> results) {
        StringBuilder b = new StringBuilder();
        for (Result r : results) {
            b.append(b.isEmpty() ? "" : "; ").append(String.format("%s %.1f MB x %d, last pass %.0f Mbit/s (%d ms)",
                    r.cipher(), r.sessionBytes() / 1e6, r.passes(), r.lastPassMbitPerSecond(), r.millis()));
        }
        return b.isEmpty() ? "no cipher warmed" : b.toString();
    }

    private Result warm(BuiltinCiphers cipher) throws Exception {
        long t0 = System.nanoTime();
        String command = String.format(java.util.Locale.ROOT, "stream %.3f 400", streamSeconds);
        RecordedSshSession rec = RecordedSshSession.record(cipher, session -> {
            try (ChannelExec exec = session.createExecChannel(command)) {
                exec.setOut(java.io.OutputStream.nullOutputStream());
                exec.open().verify(10, TimeUnit.SECONDS);
                exec.waitFor(List.of(ClientChannelEvent.CLOSED), TimeUnit.SECONDS.toMillis(30));
            }
        }, 50);
        KexRecordSource records = rec.recordSource();
        long bytes = rec.clientBytes() + rec.serverBytes();
        double lastMbit = 0;
        for (int pass = 0; pass < passes; pass++) {
            List<SshSessionTracker> trackers = new ArrayList<>(1);
            ConnectionTable table = new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)), (key, updates) -> {
                SshSessionTracker t = new SshSessionTracker(key, records, updates, SshSessionTracker.Limits.DEFAULT)
                        .processClientBytesWhenAcknowledged();
                trackers.add(t);
                return t;
            }, 64L << 20, 2, new FrameCounters());
            long p0 = System.nanoTime();
            rec.replay(table, new FrameDecoder(FrameDecoder.DLT_EN10MB, new FrameCounters()), SERVER, CLIENT,
                    40_000 + pass, Math.min(SEGMENT, SyntheticTcpWire.MAX_SEGMENT));
            lastMbit = bytes * 8 / ((System.nanoTime() - p0) / 1e3);
            for (ConnectionSnapshot s : table.snapshotOpenConnections()) {
                if (!s.recoverable()) { // the warm-up followed something else than the live path would
                    throw new IllegalStateException("the recorded session was not followed: " + s.unrecoverableReason());
                }
            }
        }
        return new Result(rec.cipher(), bytes, passes, lastMbit, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }
}
