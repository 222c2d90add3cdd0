package io.securejeebs.recovery.monitor;

import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.monitor.capture.CaptureFile;
import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The live monitor's SSH tracking run over a capture file: the same {@code FrameDecoder}, the same
 * {@link ConnectionTable} and one {@link SshSessionTracker} per connection, with the records from
 * {@code records} (for a file, a {@link io.securejeebs.monitor.ssh.SynchronousKexRecordSource}, so that
 * each record is applied where the tracker asked for it). The result is each connection's state at the
 * end of the file.
 */
public final class OfflineMonitor {
    /** The watched port when no server is named. */
    public static final int SSH_PORT = 22;
    /** As the appliance's defaults (monitor.max-buffer-per-connection, monitor.max-connections). */
    static final long MAX_BUFFER_PER_CONNECTION = 4L << 20;
    static final int MAX_CONNECTIONS = 100_000;

    private OfflineMonitor() {}

    /** One connection of the file, with its tracker's model (the full model, secrets included: for tests). */
    public record Tracked(ConnectionKey key, ConnectionSnapshot snapshot, SshSessionModel model, String reason) {}

    /**
     * @param servers the watched servers, exactly; empty: every destination of TCP port 22 in the file
     */
    public static MonitorReport run(CaptureFile file, List<Endpoint> servers, KexRecordSource records,
                                    String recordsDescription) throws CaptureException {
        List<Tracked> tracked = new ArrayList<>();
        FrameCounters counters = new FrameCounters();
        List<Endpoint> watched = servers.isEmpty() ? destinationsOfPort(file, SSH_PORT) : servers;
        CaptureFile.Pass pass = track(file, watched, records, counters, tracked);
        List<MonitorReport.Session> sessions = new ArrayList<>();
        for (Tracked t : tracked) {
            sessions.add(MonitorReport.Session.of(t));
        }
        return new MonitorReport(file.path().toString(), file.linkTypeDescription(), pass.frames(), pass.truncation(),
                recordsDescription, watched.stream().map(Endpoint::toString).toList(), counters.asMap(), sessions);
    }

    /** Tracks every connection to {@code watched} in the file; fills {@code out} in the order they began. */
    public static CaptureFile.Pass track(CaptureFile file, List<Endpoint> watched, KexRecordSource records,
                                         FrameCounters counters, List<Tracked> out) throws CaptureException {
        if (watched.isEmpty()) {
            return file.forEachSegment(counters, s -> counters.notWatched.increment());
        }
        record Created(ConnectionKey key, SshSessionTracker tracker) {}
        List<Created> created = new ArrayList<>();
        ConnectionTable table = new ConnectionTable(
                new WatchedServices(watched.stream().map(Endpoint::address).distinct().toList(),
                        watched.stream().map(Endpoint::port).distinct().toList()),
                (key, updates) -> {
                    SshSessionTracker t = new SshSessionTracker(key, records, updates, SshSessionTracker.Limits.DEFAULT);
                    created.add(new Created(key, t));
                    return t;
                }, MAX_BUFFER_PER_CONNECTION, MAX_CONNECTIONS, counters);
        table.keepEndedConnections();
        Set<Endpoint> exactly = Set.copyOf(watched);
        CaptureFile.Pass pass = file.forEachSegment(counters, s -> {
            // WatchedServices is every address with every port; only the servers named are wanted.
            if (exactly.contains(new Endpoint(s.dstAddress, s.dstPort))
                    || exactly.contains(new Endpoint(s.srcAddress, s.srcPort))) {
                table.onSegment(s);
            } else {
                counters.notWatched.increment();
            }
        });
        Map<ConnectionKey, SshSessionTracker> latest = new HashMap<>();
        for (Created c : created) {
            latest.put(c.key(), c.tracker());
        }
        for (Created c : created) {
            synchronized (table) { // the table's lock: a late delivery could still be running
                if (latest.get(c.key()) == c.tracker()) {
                    ConnectionSnapshot s = table.snapshot(c.key());
                    out.add(new Tracked(c.key(), s, c.tracker().resumeState(), s.unrecoverableReason()));
                } else {
                    out.add(new Tracked(c.key(), null, c.tracker().resumeState(),
                            "a later connection reused this 4-tuple (a new SYN)"));
                }
            }
        }
        return pass;
    }

    /** Every address that TCP segments to {@code port} go to, in order of appearance. */
    static List<Endpoint> destinationsOfPort(CaptureFile file, int port) throws CaptureException {
        Set<Endpoint> servers = new LinkedHashSet<>();
        file.forEachSegment(new FrameCounters(), s -> {
            if (s.dstPort == port) {
                servers.add(new Endpoint(s.dstAddress, port));
            }
        });
        return List.copyOf(servers);
    }

    static String instant(long micros) {
        return micros == 0 ? null : Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L),
                Math.floorMod(micros, 1_000_000L) * 1000).toString();
    }
}
