package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.app.ApplicationUpdates;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TrackingException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Measures the heap one idle {@link SshSessionTracker} retains: {@code n} trackers, each fed a recorded
 * session up to its idle point (logged in, a shell with a pty, a little typing echoed, nothing in flight)
 * and each with its own copy of the KEX records, are kept referenced; the heap after GC, minus the heap
 * before, divided by {@code n}. A measurement, not a test: it prints, it does not assert.
 *
 * <p>From a shell (the test classpath is needed for the recording fixture):
 * <pre>
 * mvn -o -q -pl monitor dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java -cp monitor/target/test-classes:monitor/target/classes:$(cat /tmp/cp.txt) \
 *     io.securejeebs.monitor.ssh.IdleSessionFootprint 1000 10000
 * </pre>
 * Arguments: session counts (default 1000); {@code -Dfootprint.cipher=aes128-gcm@openssh.com} (and
 * {@code -Dfootprint.mac=...}) picks the transport, the client's defaults otherwise;
 * {@code -Dfootprint.pause=true} then holds the trackers for {@code jcmd <pid> GC.class_histogram}.
 *
 * <p>Measured with MINA 2.20's defaults (sntrup761x25519-sha512, chacha20-poly1305): about 13 KiB per
 * session, 12.5 to 14.6 KiB across transports. Byte arrays are most of it, and most of those are replay
 * material a tracker must keep: the verbatim client prefix (about 3 KiB, the client's KEXINIT and hybrid
 * KEX_ECDH_INIT included) and the first KEX record (about 5 KiB: I_C, I_S and 2.6 KiB of hybrid key-exchange
 * messages). Cipher and MAC state is under 1 KiB with chacha20 and GCM, about 1 KiB more with CTR + HMAC.
 */
public final class IdleSessionFootprint {
    private IdleSessionFootprint() {
    }

    /** One measurement. */
    public record Result(int sessions, long bytesRetained) {
        public double kibPerSession() {
            return bytesRetained / 1024.0 / sessions;
        }

        @Override
        public String toString() {
            return String.format("%d idle SSH trackers retain %.1f MiB: %.1f KiB per session", sessions,
                    bytesRetained / 1024.0 / 1024.0, kibPerSession());
        }
    }

    /** Builds {@code n} trackers idle at the end of {@code session} and measures what they retain. */
    public static Result measure(RecordedSession session, int n) throws TrackingException {
        idleTracker(session); // class loading, JIT and crypto providers are not the trackers' footprint
        long before = usedHeapAfterGc();
        List<SshSessionTracker> kept = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            kept.add(idleTracker(session));
        }
        long after = usedHeapAfterGc();
        if (kept.size() != n) { // keeps them reachable until after the measurement
            throw new IllegalStateException();
        }
        return new Result(n, after - before);
    }

    /** A tracker that has followed {@code session} to its end, which is an idle point, with records of its own. */
    static SshSessionTracker idleTracker(RecordedSession session) throws TrackingException {
        // Each delivery is a copy of its own, as each session's records are; the source keeps none (it is
        // shared in the appliance), so a tracker retains exactly the records it keeps itself.
        KexRecordSource source = (key, ordinal, delivery) -> delivery.record(copy(session.records().get(ordinal)));
        SshSessionTracker tracker = new SshSessionTracker(TrackerReplay.KEY, source, ApplicationUpdates.NONE,
                SshSessionTracker.Limits.DEFAULT);
        StreamSink c2s = tracker.clientStream();
        StreamSink s2c = tracker.serverStream();
        int a = 0;
        int b = 0;
        for (int turn : session.tapOrder()) { // the chunks as captured, in their order
            if (turn > 0) {
                c2s.onData(a, session.c2s(), a, turn);
                a += turn;
            } else {
                s2c.onData(b, session.s2c(), b, -turn);
                b -= turn;
            }
        }
        String reason = tracker.unrecoverableReason();
        if (reason != null) {
            throw new IllegalStateException("the recorded session does not end idle: " + reason);
        }
        return tracker;
    }

    /** A record with arrays of its own, as each session's record is in the appliance. */
    static KexRecord copy(KexRecord r) {
        return new KexRecord(r.primaryId(), r.client(), r.server(), r.ordinal(), r.kexName(), r.hashAlgorithm(),
                r.clientVersion(), r.serverVersion(), r.clientKexInit().clone(), r.serverKexInit().clone(),
                r.clientKexMessages().stream().map(byte[]::clone).toList(),
                r.serverKexMessages().stream().map(byte[]::clone).toList(), r.sharedSecret().clone(),
                r.sharedSecretEncoding(), r.exchangeHash().clone(), r.sessionId().clone(), r.strictKex());
    }

    static long usedHeapAfterGc() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) { // the lowest of a few full collections: finalizers and soft references settle
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    public static void main(String[] args) throws Exception {
        int[] counts = args.length == 0 ? new int[] {1000} : Arrays.stream(args).mapToInt(Integer::parseInt).toArray();
        RecordedSession.Script script = new RecordedSession.Script(System.getProperty("footprint.cipher"),
                System.getProperty("footprint.mac"), false);
        Path dir = Files.createTempDirectory("footprint");
        RecordedSession session;
        try {
            session = RecordedSession.record(dir, script);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
        SshSessionModel model = idleTracker(session).resumeState();
        System.out.println("recorded " + session + ", " + model.clientToServer().cipher()
                + (model.clientToServer().mac() == null ? "" : "+" + model.clientToServer().mac()));
        for (int n : counts) {
            System.out.println(measure(session, n));
        }
        if (Boolean.getBoolean("footprint.pause")) { // time for jcmd <pid> GC.class_histogram
            List<SshSessionTracker> kept = new ArrayList<>();
            for (int i = 0; i < counts[counts.length - 1]; i++) {
                kept.add(idleTracker(session));
            }
            System.out.println("pid " + ProcessHandle.current().pid() + ": " + kept.size() + " idle trackers held; press Enter");
            System.in.read();
            System.out.println(kept.size());
        }
    }
}
