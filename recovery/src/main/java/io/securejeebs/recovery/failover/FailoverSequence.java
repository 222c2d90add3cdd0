package io.securejeebs.recovery.failover;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.securejeebs.cpr.ConnectionRestorer;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Takes over from a dead primary (DESIGN §4): guard the tracked connections, take the VIP, announce it,
 * then restore every recoverable connection through TCP_REPAIR, hand it to the protocol's takeover, and
 * let its packets through. Each step is timed and logged; the report goes to the state dir.
 */
public final class FailoverSequence {
    private static final Logger log = LoggerFactory.getLogger(FailoverSequence.class);
    private static final DateTimeFormatter FILE_TIME =
            DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS").withZone(ZoneOffset.UTC);

    /**
     * What a protocol or a site adds around the takeover: fencing the old primary, checking the VIP is
     * free (split-brain), and starting the services that take the connections over.
     */
    public interface Hooks {
        /** Fences the old primary (e.g. IPMI power-off); throws if it fails: no takeover then. */
        default String fence() throws IOException {
            return "no fence command configured";
        }

        /** Whether something still answers for the VIP: then the primary is not dead, and nothing is taken over. */
        default boolean vipStillAnswers() throws IOException {
            return false;
        }

        /** Starts what serves the connections once the VIP is here (the recovery server). */
        default String startServices() throws IOException {
            return "nothing to start";
        }
    }

    /**
     * Waits until the capture has processed every frame it took before the call (see
     * {@code LiveCapture#awaitCaughtUp}); the state read for each connection's recovery must include its last
     * captured bytes.
     */
    @FunctionalInterface
    public interface CaptureBarrier {
        /** @return a line for the failover report */
        String awaitCaughtUp() throws IOException;
    }

    private final ConnectionTable table;
    private Hooks hooks = new Hooks() {};
    private CaptureBarrier capture = () -> "no live capture";
    private final NftGuard guard;
    private final VipTakeover vip;
    private final ConnectionTakeover takeover;
    private final int garpCount;
    private final int parallelism;
    private final Path stateDir;

    public FailoverSequence(ConnectionTable table, NftGuard guard, VipTakeover vip, ConnectionTakeover takeover,
                            int garpCount, int parallelism, Path stateDir) {
        this.table = table;
        this.guard = guard;
        this.vip = vip;
        this.takeover = takeover;
        this.garpCount = garpCount;
        this.parallelism = parallelism;
        this.stateDir = stateDir;
    }

    public FailoverSequence withHooks(Hooks hooks) {
        this.hooks = hooks;
        return this;
    }

    public FailoverSequence withCaptureBarrier(CaptureBarrier capture) {
        this.capture = capture;
        return this;
    }

    /**
     * @param lastAliveEpochMillis  when the primary last answered
     * @param deadAfterEpochMillis  from when it no longer answered (0: unknown, taken as now). Client bytes it never
     *                              acknowledged and that were captured up to then may have been read by it: they
     *                              are not delivered again (see {@code TcpConnection#settleClientBytesBefore})
     */
    public FailoverReport run(String evidence, long lastAliveEpochMillis, long deadAfterEpochMillis) {
        long t0 = System.nanoTime();
        FailoverReport report = new FailoverReport();
        report.evidence = evidence;
        report.lastAliveEpochMillis = lastAliveEpochMillis;
        report.deadAfterEpochMillis = deadAfterEpochMillis > 0 ? deadAfterEpochMillis : System.currentTimeMillis();
        report.detectedEpochMillis = System.currentTimeMillis();
        log.warn("FAILOVER started: {}", evidence);

        List<ConnectionSnapshot> open = table.snapshotOpenConnections();
        List<ConnectionKey> recoverable = new ArrayList<>();
        List<ConnectionKey> unrecoverable = new ArrayList<>();
        for (ConnectionSnapshot s : open) {
            if (s.recoverable()) {
                recoverable.add(s.key());
            } else {
                unrecoverable.add(s.key());
                log.warn("{}: unrecoverable: {}", s.key(), s.unrecoverableReason());
            }
        }
        try {
            String[] fenced = new String[1];
            step(report, t0, "fence", () -> fenced[0] = hooks.fence(), () -> fenced[0]);
            boolean[] answered = new boolean[1];
            step(report, t0, "arp-probe-vip", () -> answered[0] = hooks.vipStillAnswers(),
                    () -> answered[0] ? "the VIP answered" : "no answer: the VIP is free");
            if (answered[0]) {
                throw new IOException("the VIP still answers ARP: the primary (or another host) holds it; "
                        + "taking over would be split-brain");
            }
            step(report, t0, "guard", () -> guard.guard(recoverable),
                    recoverable.size() + " connection(s) guarded");
            step(report, t0, "take-vip", vip::addAddress, "VIP added");
            step(report, t0, "gratuitous-arp", () -> vip.announce(garpCount), garpCount + " sent");
            String[] caughtUp = new String[1];
            step(report, t0, "capture-caught-up", () -> caughtUp[0] = capture.awaitCaughtUp(), () -> caughtUp[0]);
            int[] reset = new int[1];
            step(report, t0, "reset-unrecoverable", () -> reset[0] = resetUnrecoverable(unrecoverable, report, t0),
                    () -> reset[0] + " of " + unrecoverable.size() + " reset");
            String[] started = new String[1];
            step(report, t0, "start-services", () -> started[0] = hooks.startServices(), () -> started[0]);
        } catch (IOException e) {
            log.error("FAILOVER aborted: {}", e.getMessage());
            report.aborted = e.getMessage();
            report.steps.add(new FailoverReport.Step("aborted", ms(t0), 0, e.getMessage()));
            for (ConnectionKey key : unrecoverable) {
                ConnectionSnapshot s = table.snapshot(key);
                report.connections.add(FailoverReport.ConnectionOutcome.notRecovered(key.toString(), "unrecoverable",
                        s == null ? "no longer tracked" : s.unrecoverableReason(), ms(t0), 0, null));
                report.unrecoverable++;
            }
            finish(report, t0);
            return report;
        }

        double restoreStart = ms(t0);
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(parallelism, recoverable.size())),
                r -> new Thread(r, "sj-restore"));
        try {
            List<Future<?>> done = new ArrayList<>();
            for (ConnectionKey key : recoverable) {
                done.add(pool.submit(() -> recover(key, report, t0)));
            }
            for (Future<?> f : done) {
                try {
                    f.get();
                } catch (Exception e) {
                    log.error("restore task failed", e);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        report.steps.add(new FailoverReport.Step("restore-connections", restoreStart, ms(t0) - restoreStart,
                report.recovered + " recovered, " + report.failed + " failed"));
        finish(report, t0);
        return report;
    }

    /**
     * Every tracked connection that will not be recovered is reset now, the VIP being here (its client's answer,
     * if any, comes to this host): a client with nothing to retransmit, in the middle of a key exchange or at a
     * password prompt, would otherwise hang for hours. They are not guarded, so a later segment of theirs
     * draws the kernel's own RST too.
     *
     * @return how many were reset
     */
    private int resetUnrecoverable(List<ConnectionKey> keys, FailoverReport report, long t0) {
        int n = 0;
        for (ConnectionKey key : keys) {
            ConnectionSnapshot s = table.snapshot(key); // fresh: the last bytes captured count
            String reason = s == null ? "no longer tracked" : s.unrecoverableReason();
            if (s != null && s.recoverable()) {
                reason = "not recoverable when the failover started";
            }
            String how = resetQuietly(key, s);
            n += how.startsWith("RST") ? 1 : 0;
            synchronized (report) {
                report.unrecoverable++;
            }
            report.connections.add(FailoverReport.ConnectionOutcome.notRecovered(key.toString(), "unrecoverable",
                    reason, ms(t0), 0, how));
        }
        return n;
    }

    /** Resets one connection; never throws: says what was done, or why not. */
    private static String resetQuietly(ConnectionKey key, ConnectionSnapshot s) {
        if (s == null || !s.resettable()) {
            String why = "not reset: its sequence numbers are not known (the client learns of it at its next segment)";
            log.warn("{}: {}", key, why);
            return why;
        }
        try {
            String how = ConnectionRestorer.reset(s, System.currentTimeMillis() * 1000);
            log.info("{}: reset ({}): its client is told the connection is gone", key, how);
            return how;
        } catch (IOException | RuntimeException e) {
            String why = "not reset: " + e.getMessage();
            log.warn("{}: {}", key, why);
            return why;
        }
    }

    private void recover(ConnectionKey key, FailoverReport report, long t0) {
        // fresh: bytes captured since the guard went up count too; those the primary may have read are settled
        ConnectionSnapshot s = table.settleAndSnapshot(key, report.deadAfterEpochMillis * 1000);
        if (s == null || !s.recoverable()) {
            String reason = s == null ? "no longer tracked" : s.unrecoverableReason();
            String how = resetQuietly(key, s);
            releaseAfterFailure(key);
            synchronized (report) {
                report.unrecoverable++;
            }
            report.connections.add(FailoverReport.ConnectionOutcome.notRecovered(key.toString(), "unrecoverable",
                    reason, ms(t0), 0, how));
            log.warn("{}: unrecoverable: {}", key, reason);
            return;
        }
        long r0 = System.nanoTime();
        try {
            ConnectionTakeover.Result result = takeover.takeOver(s, () -> guard.release(key));
            double tookMillis = (System.nanoTime() - r0) / 1e6;
            synchronized (report) {
                report.recovered++;
            }
            report.connections.add(new FailoverReport.ConnectionOutcome(key.toString(), "recovered", null, ms(t0),
                    tookMillis, s.serverUnacked().length, s.clientUnconsumed().length,
                    s.clientBytesAwaitingAck(), result.detail(), result.channels(), null));
            log.info("{}: recovered at +{} ms (took {} ms; send queue {} B unacked by the client; receive queue {} B, "
                            + "{} B of it never acknowledged by the primary; {}; channels {})",
                    key, fmt(ms(t0)), fmt(tookMillis), s.serverUnacked().length, s.clientUnconsumed().length,
                    s.clientBytesAwaitingAck(), result.detail(), result.channels());
        } catch (IOException | RuntimeException e) {
            log.error("{}: recovery failed: {}", key, e.getMessage());
            // the recovery server never handed the session over (or dropped it): its client must not hang
            String how = resetQuietly(key, table.snapshot(key));
            releaseAfterFailure(key);
            synchronized (report) {
                report.failed++;
            }
            report.connections.add(FailoverReport.ConnectionOutcome.notRecovered(key.toString(), "failed",
                    e.getMessage(), ms(t0), (System.nanoTime() - r0) / 1e6, how));
        }
    }

    /** A connection that could not be restored leaves the guard: its later segments draw the kernel's RST. */
    private void releaseAfterFailure(ConnectionKey key) {
        try {
            guard.release(key);
        } catch (IOException e) {
            log.error("{}: could not release it from the guard: {}", key, e.getMessage());
        }
    }

    private interface Action {
        void run() throws IOException;
    }

    private static void step(FailoverReport report, long t0, String name, Action action, String detail) throws IOException {
        step(report, t0, name, action, () -> detail);
    }

    private static void step(FailoverReport report, long t0, String name, Action action,
                             java.util.function.Supplier<String> describe) throws IOException {
        double start = ms(t0);
        action.run();
        double took = ms(t0) - start;
        String detail = describe.get();
        report.steps.add(new FailoverReport.Step(name, start, took, detail));
        log.info("failover step {} done at +{} ms (took {} ms): {}", name, fmt(start + took), fmt(took), detail);
    }

    private void finish(FailoverReport report, long t0) {
        report.totalMillis = ms(t0);
        log.warn("FAILOVER finished in {} ms: {} recovered, {} unrecoverable, {} failed",
                fmt(report.totalMillis), report.recovered, report.unrecoverable, report.failed);
        try {
            Files.createDirectories(stateDir);
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            Path file = stateDir.resolve("failover-" + FILE_TIME.format(Instant.ofEpochMilli(report.detectedEpochMillis)) + ".json");
            json.writeValue(file.toFile(), report);
            Path last = stateDir.resolve("last-failover.json");
            // whole or not at all for a reader (status, a monitoring script): a copy under another name, then a rename
            Path next = stateDir.resolve(".last-failover.json.tmp");
            Files.copy(file, next, StandardCopyOption.REPLACE_EXISTING);
            Files.move(next, last, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            log.info("failover report written to {}", file);
        } catch (IOException e) {
            log.error("could not write the failover report to {}: {}", stateDir, e.getMessage());
        }
    }

    private static double ms(long t0) {
        return (System.nanoTime() - t0) / 1e6;
    }

    private static String fmt(double millis) {
        return String.format("%.1f", millis);
    }
}
