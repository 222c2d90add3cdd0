package io.securejeebs.monitor.tcp;

import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.app.ApplicationUpdates;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All tracked connections to the watched services. The capture thread feeds segments; the failover path
 * takes snapshots. Methods are synchronized: the lock is uncontended on the capture path.
 */
public final class ConnectionTable implements ApplicationUpdates {
    private static final Logger log = LoggerFactory.getLogger(ConnectionTable.class);
    /** A closed or unrecoverable connection stays visible this long after its last segment. */
    private static final long LINGER_MICROS = 60_000_000L;

    private final WatchedServices watched;
    private final ApplicationTrackerFactory trackers;
    private final long memoryLimitPerConnection;
    private final int maxConnections;
    private final FrameCounters counters;
    private final Map<ConnectionKey, TcpConnection> connections = new HashMap<>();
    private long rejectedForCapacity;
    private long lastSweepMicros;
    private boolean keepEnded;

    public ConnectionTable(WatchedServices watched, ApplicationTrackerFactory trackers,
                           long memoryLimitPerConnection, int maxConnections, FrameCounters counters) {
        this.watched = watched;
        this.trackers = trackers;
        this.memoryLimitPerConnection = memoryLimitPerConnection;
        this.maxConnections = maxConnections;
        this.counters = counters;
    }

    public WatchedServices watched() {
        return watched;
    }

    /**
     * Never forgets closed or unrecoverable connections. For reading a capture file, which is reported
     * whole: the linger runs on capture time, so a long file would otherwise lose its early connections
     * and the reasons they ended.
     */
    public synchronized void keepEndedConnections() {
        keepEnded = true;
    }

    public synchronized void onSegment(TcpSegment s) {
        boolean fromClient = watched.isServer(s.dstAddress, s.dstPort);
        if (!fromClient && !watched.isServer(s.srcAddress, s.srcPort)) {
            counters.notWatched.increment();
            return;
        }
        ConnectionKey key = fromClient
                ? new ConnectionKey(s.source(), s.destination())
                : new ConnectionKey(s.destination(), s.source());
        TcpConnection c = connections.get(key);
        if (fromClient && s.has(TcpSegment.SYN) && !s.has(TcpSegment.ACK)) {
            if (c == null || c.clientIsn() != s.seq) { // only the latest SYN of a 4-tuple defines the connection
                if (c == null && !admit(key)) {
                    return;
                }
                c = new TcpConnection(key, s, trackers.create(key, this), memoryLimitPerConnection);
                connections.put(key, c);
                log.debug("tracking {}", key);
            }
            return;
        }
        if (c == null) {
            counters.withoutConnection.increment();
            if (s.has(TcpSegment.RST) || s.has(TcpSegment.FIN) || s.has(TcpSegment.SYN) || !admit(key)) {
                return;
            }
            c = TcpConnection.seenMidStream(key, s, trackers.create(key, this));
            connections.put(key, c);
            log.info("{}: unrecoverable: {}", key, c.unrecoverableReason());
            return;
        }
        TcpConnection.State before = c.state();
        if (fromClient) {
            c.onClientSegment(s);
        } else {
            c.onServerSegment(s);
        }
        if (c.state() != before) {
            if (c.state() == TcpConnection.State.UNRECOVERABLE) {
                log.warn("{}: unrecoverable: {}", key, c.unrecoverableReason());
            } else {
                log.debug("{}: {} -> {}", key, before, c.state());
            }
        }
        sweep(s.timestampMicros);
    }

    @Override
    public synchronized void apply(ConnectionKey key, ApplicationTracker app, ApplicationUpdate update) {
        TcpConnection c = connections.get(key);
        if (c == null || c.application() != app) {
            return; // the connection ended, or a new one took its 4-tuple
        }
        TcpConnection.State before = c.state();
        c.onApplicationUpdate(update);
        if (c.state() != before && c.state() == TcpConnection.State.UNRECOVERABLE) {
            log.warn("{}: unrecoverable: {}", key, c.unrecoverableReason());
        }
    }

    private boolean admit(ConnectionKey key) {
        if (connections.size() < maxConnections) {
            return true;
        }
        if (rejectedForCapacity++ % 1000 == 0) {
            log.warn("not tracking {}: already tracking {} connections (monitor.max-connections)", key, maxConnections);
        }
        return false;
    }

    /** Forgets closed and unrecoverable connections that have been silent for a while. */
    private void sweep(long nowMicros) {
        if (keepEnded || nowMicros - lastSweepMicros < 1_000_000L) {
            return;
        }
        lastSweepMicros = nowMicros;
        for (Iterator<TcpConnection> it = connections.values().iterator(); it.hasNext(); ) {
            TcpConnection c = it.next();
            boolean ended = c.state() == TcpConnection.State.CLOSED || c.state() == TcpConnection.State.UNRECOVERABLE;
            if (ended && nowMicros - c.lastSeenMicros() > LINGER_MICROS) {
                it.remove();
            }
        }
    }

    /** Snapshots of every connection that is still open (established, or unrecoverable but not closed). */
    public synchronized List<ConnectionSnapshot> snapshotOpenConnections() {
        List<ConnectionSnapshot> out = new ArrayList<>();
        for (TcpConnection c : connections.values()) {
            if (c.state() != TcpConnection.State.CLOSED) {
                out.add(c.snapshot());
            }
        }
        return out;
    }

    public synchronized ConnectionSnapshot snapshot(ConnectionKey key) {
        TcpConnection c = connections.get(key);
        return c == null ? null : c.snapshot();
    }

    public synchronized int size() {
        return connections.size();
    }

    public synchronized long bytesHeld() {
        long sum = 0;
        for (TcpConnection c : connections.values()) {
            sum += c.bytesHeld();
        }
        return sum;
    }

    public synchronized Map<TcpConnection.State, Integer> countByState() {
        Map<TcpConnection.State, Integer> m = new HashMap<>();
        for (TcpConnection c : connections.values()) {
            m.merge(c.state(), 1, Integer::sum);
        }
        return m;
    }
}
