package io.securejeebs.monitor.bench;

import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.sshd.common.cipher.BuiltinCiphers;

/**
 * Heap per idle SSH session in the monitor. One real session is recorded in this JVM (a MINA client
 * logs in through a tapping relay to a {@link BenchSshServer} that exports its KEX record to memory,
 * opens a shell with a pty, types two commands, then goes quiet), then replayed into one
 * {@link ConnectionTable} as N connections that differ only in their client address and port: every
 * byte framed as Ethernet/IPv4/TCP segments of at most 1448 bytes, each acknowledged, through the live
 * {@link FrameDecoder}, one {@link SshSessionTracker} per connection, each given its own decoded copy of
 * the record (as from the database). The retained heap (used heap after a full GC, with the table alive,
 * minus the same before the replay) divided by N is the figure: TCP state, reassemblers, SSH tracker,
 * keys and ciphers, the replay prefix and the first KEX record, per session.
 */
public final class IdleSessionFootprint {
    private static final int MSS = 1448;
    private static final int SERVER = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, 1});
    private static final Duration T = Duration.ofSeconds(10);

    private IdleSessionFootprint() {}

    /** What was measured. */
    public record Result(int sessions, int recoverable, String cipher, long recordedClientBytes, long recordedServerBytes,
                         long heapBefore, long heapAfter) {
        public double kibPerSession() {
            return (heapAfter - heapBefore) / 1024.0 / sessions;
        }

        public String line() {
            return String.format("FOOTPRINT sessions=%d recoverable=%d cipher=%s session_c2s_bytes=%d session_s2c_bytes=%d"
                            + " heap_before_mib=%.1f heap_after_mib=%.1f kib_per_session=%.1f",
                    sessions, recoverable, cipher, recordedClientBytes, recordedServerBytes, heapBefore / 1048576.0,
                    heapAfter / 1048576.0, kibPerSession());
        }
    }

    /**
     * @param cipher the client's only cipher (so the session's), or null for MINA's default choice
     */
    public static void run(int sessions, String cipher, PrintStream out) throws Exception {
        out.println(measure(sessions, cipher).line());
    }

    public static Result measure(int sessions, String cipher) throws Exception {
        if (sessions < 1 || sessions > 1_000_000) {
            throw new IllegalArgumentException("sessions must be between 1 and 1000000, got " + sessions);
        }
        BuiltinCiphers only = null;
        if (cipher != null) {
            only = BuiltinCiphers.fromFactoryName(cipher);
            if (only == null || !only.isSupported()) {
                throw new IllegalArgumentException("cipher '" + cipher + "' is not one MINA SSHD supports here");
            }
        }
        RecordedSshSession rec = record(only);
        KexRecordSource source = rec.recordSource(); // each tracker gets its own copy, as from the database
        FrameCounters counters = new FrameCounters();
        List<SshSessionTracker> trackers = new ArrayList<>(sessions);
        ConnectionTable table = new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)), (key, updates) -> {
            SshSessionTracker t = new SshSessionTracker(key, source, updates, SshSessionTracker.Limits.DEFAULT);
            trackers.add(t);
            return t;
        }, 4L << 20, sessions + 1, counters);
        FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, counters);
        // Warm up the code paths (class loading, JIT) on one connection outside the measurement.
        replay(rec, new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)),
                (key, updates) -> new SshSessionTracker(key, source, updates, SshSessionTracker.Limits.DEFAULT),
                4L << 20, 2, new FrameCounters()), decoder, Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, (byte) 254}), 9);

        long before = usedHeapAfterGc();
        for (int i = 0; i < sessions; i++) {
            int client = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, (byte) (2 + i / 40_000)});
            replay(rec, table, decoder, client, 20_000 + i % 40_000);
        }
        long after = usedHeapAfterGc();

        int recoverable = 0;
        for (ConnectionSnapshot s : table.snapshotOpenConnections()) {
            if (s.recoverable() && s.resume() instanceof SshSessionModel m && m.user() != null) {
                recoverable++;
            }
        }
        Reference.reachabilityFence(trackers);
        Reference.reachabilityFence(table);
        return new Result(sessions, recoverable, rec.cipher(), rec.clientBytes(), rec.serverBytes(), before, after);
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    // ---------------------------------------------------------------- the recorded session

    /** A pty shell in which two commands are typed, then nothing: an idle interactive session. */
    private static RecordedSshSession record(BuiltinCiphers cipher) throws Exception {
        return RecordedSshSession.record(cipher, session -> {
            TypedChannel shell = TypedChannel.shell(session, "xterm-256color", 80, 24, Map.of(), 1 << 16);
            for (String line : List.of("ls -l\n", "echo hello\n")) {
                shell.type(line);
            }
        }, 300);
    }

    // ---------------------------------------------------------------- replay as TCP

    /** Feeds the recording to the table as one connection from {@code clientAddress:clientPort}. */
    private static void replay(RecordedSshSession rec, ConnectionTable table, FrameDecoder decoder, int clientAddress,
                               int clientPort) {
        rec.replay(table, decoder, SERVER, clientAddress, clientPort, MSS);
    }
}
