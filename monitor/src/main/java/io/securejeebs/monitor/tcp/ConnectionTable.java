package io.securejeebs.monitor.tcp;

import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.app.ApplicationUpdates;
import io.securejeebs.monitor.app.CheckpointUnavailableException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All tracked connections to the watched services. The capture thread feeds segments; the failover path
 * takes snapshots. Methods are synchronized: the lock is uncontended on the capture path.
 *
 * <p>Checkpoints: every segment marks its connection changed; a state-setting message (or a change of
 * state) also asks for its checkpoint soon, through the signal the checkpoint writer installs. The writer
 * takes the checkpoints in small batches under this lock ({@link #takeCheckpoints}) and writes them on its
 * own thread: the capture thread never waits for the database. A restarted appliance puts the stored
 * checkpoints back ({@link #resume}) before capture starts.
 *
 * <p>Hostile traffic: a segment the receiver's kernel would ignore changes nothing here either
 * ({@link TcpConnection#onClientSegment}); it is counted ({@code ignored-unacceptable}) and logged once in a
 * thousand. Handshakes are kept apart from connections until they complete, in a queue bounded by
 * {@code monitor.max-connections} that forgets the oldest first and ages out after the kernel's SYN-RECV
 * lifetime: a SYN flood fills that queue, never the connections. When the connections are full, an ended one
 * (closed or unrecoverable) makes room; one that can still be recovered is never pushed out.
 */
public final class ConnectionTable implements ApplicationUpdates {
    private static final Logger log = LoggerFactory.getLogger(ConnectionTable.class);
    /** A closed or unrecoverable connection stays visible this long after its last segment. */
    private static final long LINGER_MICROS = 60_000_000L;
    /**
     * A handshake that shows no segment for this long is forgotten: the kernel forgets a SYN-RECV request after
     * its five SYN-ACK retransmissions, 1 + 2 + 4 + 8 + 16 + 32 = 63 s after the SYN.
     */
    static final long HANDSHAKE_TIMEOUT_MICROS = 65_000_000L;

    private final WatchedServices watched;
    private final ApplicationTrackerFactory trackers;
    private final long memoryLimitPerConnection;
    private final int maxConnections;
    private final FrameCounters counters;
    private final Map<ConnectionKey, TcpConnection> connections = new HashMap<>();
    /** Handshakes not complete yet, the one with the oldest segment first. */
    private final LinkedHashMap<ConnectionKey, Handshake> handshakes = new LinkedHashMap<>();
    /** Connections that ended (closed or unrecoverable), the oldest first: what goes when the table is full. */
    private final LinkedHashSet<ConnectionKey> ended = new LinkedHashSet<>();
    private long ignoredLogged;
    private long handshakesEvictedLogged;
    private long rejectedForCapacity;
    private long lastSweepMicros;
    private boolean keepEnded;
    /** Connections whose checkpoint should be written (or deleted) soon, in the order they asked. */
    private final Set<ConnectionKey> checkpointSoon = new LinkedHashSet<>();
    private Runnable checkpointSignal = () -> { };
    /** A connection resumed from a checkpoint that shows no traffic for this long is forgotten. */
    private long resumeRetentionMicros = Long.MAX_VALUE;
    private EndListener endListener = (key, closed) -> { };

    /** Told when a connection ends; called on the capture thread under the table's lock: it must not wait. */
    @FunctionalInterface
    public interface EndListener {
        /** @param closed whether it closed (else it is forgotten: unrecoverable, or resumed and then silent) */
        void ended(ConnectionKey key, boolean closed);
    }

    public ConnectionTable(WatchedServices watched, ApplicationTrackerFactory trackers,
                           long memoryLimitPerConnection, int maxConnections, FrameCounters counters) {
        this.watched = watched;
        this.trackers = trackers;
        this.memoryLimitPerConnection = memoryLimitPerConnection;
        this.maxConnections = maxConnections;
        this.counters = counters;
    }

    /** Installs what is told when a connection closes or is forgotten (SSH: its KEX records are deleted). */
    public synchronized void onConnectionEnded(EndListener listener) {
        this.endListener = listener;
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
        sweep(s.timestampMicros);
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
            onSyn(key, s, c);
            return;
        }
        Handshake h = handshakes.get(key);
        if (h != null) {
            switch (h.take(s, fromClient)) {
                case TAKEN -> {
                    if (h.refused) {
                        handshakes.remove(key);
                    } else {
                        touch(key, h, s.timestampMicros);
                    }
                    return;
                }
                case COMPLETES -> {
                    c = complete(key, h, c);
                    if (c == null) {
                        return;
                    }
                }
                case NOT_ITS_OWN -> {
                    if (c == null && h.synAckMissed(s, fromClient)) {
                        handshakes.remove(key); // shown as unrecoverable below, like a connection seen mid-stream
                    } else if (c == null) {
                        ignored(key, "a segment that belongs to no handshake in progress");
                        return;
                    }
                }
            }
        }
        if (c == null) {
            counters.withoutConnection.increment();
            if (s.has(TcpSegment.RST) || s.has(TcpSegment.FIN) || s.has(TcpSegment.SYN) || !admit(key)) {
                return;
            }
            c = TcpConnection.seenMidStream(key, s, trackers.create(key, this));
            connections.put(key, c);
            ended.add(key);
            log.info("{}: unrecoverable: {}", key, c.unrecoverableReason());
            return;
        }
        TcpConnection.State before = c.state();
        String ignored;
        try {
            ignored = fromClient ? c.onClientSegment(s) : c.onServerSegment(s);
        } catch (RuntimeException e) { // a bug in a tracker costs its connection, never the capture
            log.error("{}: tracking failed", key, e);
            c.markUnrecoverable("internal error while tracking: " + e);
            ignored = null;
        }
        if (ignored != null) {
            ignored(key, ignored);
            if (c.state() == before) {
                return;
            }
        }
        if (c.state() != before) {
            if (c.state() == TcpConnection.State.CLOSED) {
                endListener.ended(key, true);
            }
            if (c.state() == TcpConnection.State.UNRECOVERABLE) {
                log.warn("{}: unrecoverable: {}", key, c.unrecoverableReason());
            } else if (before == TcpConnection.State.RESUMING) {
                log.info("{}: resumed: both directions continue where its checkpoint left off", key);
            } else {
                log.debug("{}: {} -> {}", key, before, c.state());
            }
        }
        changed(c, before);
    }

    /**
     * A client's SYN. Only the latest SYN of a 4-tuple defines a connection, as long as the 4-tuple is free: a
     * SYN on a connection that is still synchronized is answered by the server's kernel with a challenge ACK
     * and dropped (RFC 5961 §4), so it is ignored here too. Once the old connection ended (FIN both ways
     * acknowledged, or an RST the kernel accepts) the 4-tuple is free again, as after TIME_WAIT. The new
     * connection replaces the old only when its handshake completes.
     */
    private void onSyn(ConnectionKey key, TcpSegment s, TcpConnection c) {
        if (c != null && !isEnded(c)) {
            if (c.clientIsn() != s.seq) {
                ignored(key, "c->s: a SYN with a new ISN " + SeqNum.toString(s.seq) + " on a synchronized connection");
            }
            return;
        }
        Handshake h = handshakes.get(key);
        if (h != null && h.syn.seq == s.seq) {
            touch(key, h, s.timestampMicros); // a retransmitted SYN
            return;
        }
        if (h == null && handshakes.size() >= maxConnections) {
            Iterator<Handshake> oldest = handshakes.values().iterator();
            oldest.next();
            oldest.remove();
            counters.handshakesEvicted.increment();
            if (handshakesEvictedLogged++ % 10_000 == 0) {
                log.warn("{} handshakes in progress (monitor.max-connections): the oldest is forgotten for each new"
                        + " SYN (a SYN flood?); established connections are not affected", maxConnections);
            }
        }
        handshakes.remove(key);
        handshakes.put(key, new Handshake(s.copy()));
    }

    /** Moves a handshake that showed a segment to the young end of the queue, so the oldest goes first. */
    private void touch(ConnectionKey key, Handshake h, long nowMicros) {
        h.lastMicros = nowMicros;
        handshakes.remove(key);
        handshakes.put(key, h);
    }

    /** The handshake completed: its connection is tracked from its SYN on, in place of an ended one. */
    private TcpConnection complete(ConnectionKey key, Handshake h, TcpConnection previous) {
        handshakes.remove(key);
        if (previous == null && !admit(key)) {
            return null;
        }
        TcpConnection c = new TcpConnection(key, h.syn, trackers.create(key, this), memoryLimitPerConnection);
        c.onServerSegment(h.synAck);
        if (previous != null) {
            c.checkpointStored = previous.checkpointStored; // a stale row to replace
            ended.remove(key);
        }
        connections.put(key, c);
        log.debug("tracking {}", key);
        return c;
    }

    private void ignored(ConnectionKey key, String why) {
        counters.ignoredSegments.increment();
        if (ignoredLogged++ % 1000 == 0) {
            log.info("{}: ignored {}, as the primary's kernel does ({} segment(s) ignored so far)", key, why,
                    counters.ignoredSegments.sum());
        }
    }

    private static boolean isEnded(TcpConnection c) {
        return c.state() == TcpConnection.State.CLOSED || c.state() == TcpConnection.State.UNRECOVERABLE;
    }

    /**
     * A handshake in progress: the client's SYN and, once seen, the server's SYN-ACK that answers it. Kept
     * apart from the connections and small (two segment headers), like the kernel's request socks: a SYN flood
     * fills these and they age out, while a connection that completed its handshake is never refused for them.
     */
    private static final class Handshake {
        enum Disposition { TAKEN, COMPLETES, NOT_ITS_OWN }

        final TcpSegment syn;
        TcpSegment synAck;
        long lastMicros;
        /** The server refused it, or the client gave up: it is forgotten. */
        boolean refused;

        Handshake(TcpSegment syn) {
            this.syn = syn;
            this.lastMicros = syn.timestampMicros;
        }

        /** The server acknowledges the SYN in a segment after its SYN-ACK, which the capture did not see. */
        boolean synAckMissed(TcpSegment s, boolean fromClient) {
            return synAck == null && !fromClient && s.has(TcpSegment.ACK) && !s.has(TcpSegment.SYN)
                    && !s.has(TcpSegment.RST) && s.ack == syn.seq + 1;
        }

        Disposition take(TcpSegment s, boolean fromClient) {
            int clientIsn = syn.seq;
            if (s.has(TcpSegment.RST)) {
                refused = fromClient ? s.seq == clientIsn + 1
                        : s.has(TcpSegment.ACK) && s.ack == clientIsn + 1;
                return refused ? Disposition.TAKEN : Disposition.NOT_ITS_OWN;
            }
            if (!fromClient && s.has(TcpSegment.SYN)) {
                if (s.has(TcpSegment.ACK) && s.ack == clientIsn + 1) {
                    synAck = s.copy(); // the latest: a server that restarted its half of the handshake
                    return Disposition.TAKEN;
                }
                return Disposition.NOT_ITS_OWN;
            }
            if (synAck != null && s.has(TcpSegment.ACK) && !s.has(TcpSegment.SYN)) {
                int serverIsn = synAck.seq;
                boolean completes = fromClient ? s.seq == clientIsn + 1 && s.ack == serverIsn + 1
                        : s.seq == serverIsn + 1 && s.ack == clientIsn + 1;
                if (completes) {
                    return Disposition.COMPLETES;
                }
            }
            return Disposition.NOT_ITS_OWN;
        }
    }

    /** After a segment or an update: the checkpoint is stale; a new state or a state-setting message wants it soon. */
    private void changed(TcpConnection c, TcpConnection.State before) {
        c.changes++;
        if (c.state() != before && isEnded(c)) {
            ended.add(c.key());
        }
        boolean wanted = c.application().takeCheckpointRequest();
        if (wanted || c.state() != before) {
            checkpointSoon(c.key());
        }
    }

    private void checkpointSoon(ConnectionKey key) {
        if (checkpointSoon.add(key) && checkpointSoon.size() == 1) {
            checkpointSignal.run();
        }
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
        changed(c, before);
    }

    /**
     * Whether a new connection may be tracked: there is room, or an ended connection (closed or unrecoverable:
     * it protects nothing) makes room. A connection that can still be recovered is never pushed out.
     */
    private boolean admit(ConnectionKey key) {
        if (connections.size() < maxConnections) {
            return true;
        }
        Iterator<ConnectionKey> oldest = ended.iterator();
        if (oldest.hasNext()) {
            ConnectionKey gone = oldest.next();
            oldest.remove();
            forget(connections.remove(gone));
            return true;
        }
        if (rejectedForCapacity++ % 1000 == 0) {
            log.warn("not tracking {}: already tracking {} connections (monitor.max-connections)", key, maxConnections);
        }
        return false;
    }

    /** A connection left the table: its stored checkpoint row goes too. */
    private void forget(TcpConnection c) {
        if (c != null && c.checkpointStored && checkpointSoon.size() < maxConnections) {
            checkpointSoon(c.key()); // no connection left: its row is deleted
        }
    }

    /**
     * Forgets handshakes that have been silent for {@link #HANDSHAKE_TIMEOUT_MICROS}, and closed and
     * unrecoverable connections that have been silent for a while.
     */
    private void sweep(long nowMicros) {
        if (nowMicros - lastSweepMicros < 1_000_000L) {
            return;
        }
        lastSweepMicros = nowMicros;
        for (Iterator<Handshake> it = handshakes.values().iterator(); it.hasNext(); ) {
            Handshake h = it.next();
            if (nowMicros - h.lastMicros <= HANDSHAKE_TIMEOUT_MICROS) {
                break; // the rest are younger
            }
            it.remove();
            counters.handshakesExpired.increment();
        }
        if (keepEnded) {
            return;
        }
        for (Iterator<TcpConnection> it = connections.values().iterator(); it.hasNext(); ) {
            TcpConnection c = it.next();
            boolean forgotten = c.state() == TcpConnection.State.RESUMING
                    && nowMicros - c.lastSeenMicros() > resumeRetentionMicros;
            if (isEnded(c) && nowMicros - c.lastSeenMicros() > LINGER_MICROS || forgotten) {
                if (forgotten) {
                    log.info("{}: forgotten: no traffic since its checkpoint, {} s ago", c.key(),
                            (nowMicros - c.lastSeenMicros()) / 1_000_000);
                }
                it.remove();
                if (c.state() != TcpConnection.State.CLOSED) {
                    endListener.ended(c.key(), false);
                }
                ended.remove(c.key());
                forget(c);
            }
        }
    }

    // ---------------------------------------------------------------- checkpoints

    /**
     * Installs what the table calls (on the capture thread, under its lock) when the first connection asks
     * for its checkpoint soon: it must only wake the writer, never wait.
     */
    public synchronized void onCheckpointWanted(Runnable signal) {
        this.checkpointSignal = signal;
        if (!checkpointSoon.isEmpty()) {
            signal.run();
        }
    }

    /** Connections resumed from a checkpoint and silent for longer than {@code retention} are forgotten. */
    public synchronized void setResumeRetention(Duration retention) {
        this.resumeRetentionMicros = retention.toNanos() / 1000;
    }

    /** Asks for the checkpoint of every connection that changed since its last one (the writer's periodic round). */
    public synchronized void queueChangedCheckpoints() {
        for (TcpConnection c : connections.values()) {
            if (c.changes != c.checkpointedChanges) {
                checkpointSoon.add(c.key());
            }
        }
    }

    /** Whether some connection waits for its checkpoint to be taken. */
    public synchronized boolean checkpointsWanted() {
        return !checkpointSoon.isEmpty();
    }

    /**
     * Takes up to {@code max} of the checkpoints asked for: what to write, replace or delete for each. A
     * connection that cannot be checkpointed just now stays changed, for the next round. The work is
     * counted as done; {@link #checkpointsFailed} undoes that when it could not be written.
     */
    public synchronized List<CheckpointWork> takeCheckpoints(int max) {
        List<CheckpointWork> out = new ArrayList<>();
        for (Iterator<ConnectionKey> it = checkpointSoon.iterator(); it.hasNext() && out.size() < max; ) {
            ConnectionKey key = it.next();
            it.remove();
            TcpConnection c = connections.get(key);
            CheckpointWork w = c == null ? CheckpointWork.delete(key) : work(c);
            if (w != null) {
                out.add(w);
            }
        }
        return out;
    }

    private CheckpointWork work(TcpConnection c) {
        long changes = c.changes;
        switch (c.state()) {
            case CLOSED -> {
                c.checkpointedChanges = changes;
                if (c.checkpointStored) {
                    c.checkpointStored = false;
                    return CheckpointWork.delete(c.key());
                }
                return null;
            }
            case UNRECOVERABLE -> {
                c.checkpointedChanges = changes;
                return markUnrecoverable(c, c.unrecoverableReason());
            }
            default -> { }
        }
        try {
            ConnectionCheckpoint cp = c.checkpoint();
            c.checkpointedChanges = changes;
            c.checkpointStored = true;
            c.checkpointReasonStored = false;
            return CheckpointWork.save(cp);
        } catch (CheckpointUnavailableException e) {
            if (!e.lasting()) {
                return null; // still changed: the next round tries again
            }
            c.checkpointedChanges = changes;
            return markUnrecoverable(c, e.getMessage());
        } catch (RuntimeException e) { // a bug must not stop the writer; the connection is left as it is
            log.error("{}: taking its checkpoint failed", c.key(), e);
            c.checkpointedChanges = changes;
            return null;
        }
    }

    /** A stored checkpoint is replaced by the reason, once: later segments of the connection change nothing. */
    private static CheckpointWork markUnrecoverable(TcpConnection c, String reason) {
        if (!c.checkpointStored || c.checkpointReasonStored) {
            return null;
        }
        c.checkpointReasonStored = true;
        return CheckpointWork.unrecoverable(c.key(), reason);
    }

    /** Work taken by {@link #takeCheckpoints} could not be written: those connections ask again. */
    public synchronized void checkpointsFailed(List<ConnectionKey> keys) {
        for (ConnectionKey key : keys) {
            TcpConnection c = connections.get(key);
            if (c != null) {
                c.checkpointedChanges = c.changes - 1;
                c.checkpointStored = true; // it may have been written after all: a later state replaces it
                c.checkpointReasonStored = false;
            }
            checkpointSoon.add(key);
        }
    }

    /**
     * Follows a connection on from its checkpoint (a restarted appliance): it is {@link TcpConnection.State#RESUMING}
     * until its next segments show whether it can be. A checkpoint the tracker cannot resume from leaves the
     * connection unrecoverable, with the reason, which is then written in place of the checkpoint.
     *
     * @return null, or why the connection cannot be resumed
     */
    public synchronized String resume(ConnectionCheckpoint checkpoint, long nowMicros) {
        ConnectionKey key = checkpoint.key();
        if (connections.containsKey(key)) {
            return "already tracked";
        }
        TcpConnection c;
        String reason = null;
        try {
            ApplicationTracker app = trackers.resume(key, this, checkpoint.application());
            c = TcpConnection.resume(checkpoint.tcp(), app, memoryLimitPerConnection);
        } catch (TrackingException | RuntimeException e) {
            reason = "cannot resume from its checkpoint: " + (e instanceof TrackingException ? e.getMessage() : e.toString());
            c = TcpConnection.unrecoverable(key, trackers.create(key, ApplicationUpdates.NONE), reason, nowMicros);
            c.checkpointStored = true;
            checkpointSoon(key);
            ended.add(key);
        }
        connections.put(key, c);
        return reason;
    }

    /**
     * Shows a connection known from a checkpoint only as unrecoverable, with the reason, as long as a closed
     * one stays visible.
     *
     * @param stored whether its row should still be replaced by the reason (then deleted when it goes)
     */
    public synchronized void addUnrecoverable(ConnectionKey key, String reason, long nowMicros, boolean stored) {
        if (connections.containsKey(key)) {
            return;
        }
        TcpConnection c = TcpConnection.unrecoverable(key, trackers.create(key, ApplicationUpdates.NONE), reason,
                nowMicros);
        c.checkpointStored = stored;
        connections.put(key, c);
        ended.add(key);
        if (stored) {
            checkpointSoon(key);
        }
    }

    /** The state of one tracked connection (SYN_SENT for a handshake in progress), or null. */
    public synchronized TcpConnection.State state(ConnectionKey key) {
        TcpConnection c = connections.get(key);
        if (c == null) {
            return handshakes.containsKey(key) ? TcpConnection.State.SYN_SENT : null;
        }
        return c.state();
    }

    /** Handshakes in progress (kept apart from the connections, see {@link #onSegment}). */
    public synchronized int handshakesInProgress() {
        return handshakes.size();
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

    /**
     * The snapshot of a connection at a failover, after the client bytes the dead server may have read (captured
     * at or before {@code deadAfterMicros}, never acknowledged) were settled by its tracker; see
     * {@link TcpConnection#settleClientBytesBefore}.
     */
    public synchronized ConnectionSnapshot settleAndSnapshot(ConnectionKey key, long deadAfterMicros) {
        TcpConnection c = connections.get(key);
        if (c == null) {
            return null;
        }
        c.settleClientBytesBefore(deadAfterMicros);
        return c.snapshot();
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
        if (!handshakes.isEmpty()) {
            m.merge(TcpConnection.State.SYN_SENT, handshakes.size(), Integer::sum);
        }
        return m;
    }
}
