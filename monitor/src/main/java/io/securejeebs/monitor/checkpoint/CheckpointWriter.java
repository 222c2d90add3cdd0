package io.securejeebs.monitor.checkpoint;

import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.SessionCheckpointRepository;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Change;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Delete;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Save;
import io.securejeebs.monitor.capture.FatalErrorExit;
import io.securejeebs.monitor.tcp.CheckpointWork;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the tracked connections' checkpoints to {@code session_checkpoint}, on one thread of its own, so the
 * capture thread never waits for the database (DESIGN §3.2).
 *
 * <ul>
 * <li>When: every {@code interval} for each connection that changed since its last checkpoint, and soon
 *     (after {@code coalesce}, so that a burst of state-setting messages costs one write) when a connection
 *     asks for it: a login, a channel opened, closed or asked something, a KEX record applied, a change of
 *     state.</li>
 * <li>What: the state is taken from the connection table when it is written, in batches of at most
 *     {@link #MAX_BATCH} connections (one short hold of the table's lock each), and each batch is one
 *     transaction. So only the latest state of a connection is ever written, and nothing but the set of
 *     connections that still need a write is queued, whatever the database does.</li>
 * <li>A closed connection's row is deleted; an unrecoverable one's is replaced by the reason.</li>
 * <li>Database down: the batch is given back to the table (those connections ask again), the failure is
 *     logged once a minute, and the next attempt is at the next interval.</li>
 * </ul>
 */
public final class CheckpointWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CheckpointWriter.class);
    public static final int MAX_BATCH = 256;
    public static final Duration DEFAULT_COALESCE = Duration.ofMillis(50);
    private static final long FAILURE_LOG_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final ConnectionTable table;
    private final SessionCheckpointRepository repository;
    private final long intervalNanos;
    private final long coalesceMillis;
    private final Thread thread;
    private final Object lock = new Object();
    // under lock
    private boolean running = true;
    private boolean signalled;
    private long flushRequested;
    private long flushDone;
    private boolean lastRoundWritten = true;
    private boolean closed;
    // writer thread (and close(), after the thread ended)
    private boolean databaseDown;
    private long lastFailureLogNanos;
    private long failuresSinceLog;
    private volatile long written;
    private volatile long failedBatches;
    private volatile String lastError;

    /**
     * @param interval how often the connections that changed are checkpointed
     * @param coalesce how long a checkpoint asked for waits for the rest of its burst
     */
    public CheckpointWriter(ConnectionTable table, SessionCheckpointRepository repository, Duration interval,
                            Duration coalesce) {
        this.table = table;
        this.repository = repository;
        this.intervalNanos = interval.toNanos();
        this.coalesceMillis = Math.min(coalesce.toMillis(), interval.toMillis());
        this.thread = new Thread(this::run, "sj-checkpoint-writer");
        this.thread.setDaemon(true);
    }

    public CheckpointWriter start() {
        table.onCheckpointWanted(this::signal);
        thread.start();
        log.info("checkpointing tracked connections to {} every {} ms and at state-setting messages",
                repository.settings().describe(), intervalNanos / 1_000_000);
        return this;
    }

    /** Called by the table on the capture thread: wakes the writer, never waits for it. */
    private void signal() {
        synchronized (lock) {
            signalled = true;
            lock.notifyAll();
        }
    }

    /** Checkpoint rows written (saved, replaced or deleted) so far. */
    public long written() {
        return written;
    }

    /** Batches that could not be written. */
    public long failedBatches() {
        return failedBatches;
    }

    /** The last write failure, or null if there was none. */
    public String lastError() {
        return lastError;
    }

    /**
     * Writes every connection that changed, now, and waits for it.
     *
     * @return whether everything could be written; false on a database failure or when {@code timeout} passed
     */
    public boolean flush(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            long ticket = ++flushRequested;
            lock.notifyAll();
            while (flushDone < ticket && running) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
            return flushDone >= ticket && lastRoundWritten;
        }
    }

    private void run() {
        long nextRound = System.nanoTime() + intervalNanos;
        while (true) {
            boolean urgent;
            boolean round;
            long ticket;
            synchronized (lock) {
                while (running && !signalled && flushRequested == flushDone && System.nanoTime() < nextRound) {
                    long waitMillis = Math.max(1, (nextRound - System.nanoTime()) / 1_000_000);
                    try {
                        lock.wait(waitMillis);
                    } catch (InterruptedException e) {
                        running = false;
                    }
                }
                if (!running) {
                    return;
                }
                urgent = signalled;
                signalled = false;
                ticket = flushRequested;
                round = ticket != flushDone || System.nanoTime() >= nextRound;
            }
            if (urgent && !round && coalesceMillis > 0) {
                try {
                    Thread.sleep(coalesceMillis); // the rest of the burst: one write for all of it
                } catch (InterruptedException e) {
                    return;
                }
            }
            if (round) {
                nextRound = System.nanoTime() + intervalNanos;
                table.queueChangedCheckpoints();
            }
            boolean ok;
            try {
                ok = drain();
            } catch (RuntimeException e) { // a bug: logged, and the writer goes on
                log.error("checkpoint writer", e);
                ok = false;
            } catch (Error e) {
                FatalErrorExit.exit("the checkpoint writer", e);
                return;
            }
            synchronized (lock) {
                flushDone = Math.max(flushDone, ticket);
                lastRoundWritten = ok;
                lock.notifyAll();
            }
        }
    }

    /** Writes batches until nothing is asked for; false at the first that fails. */
    private boolean drain() {
        while (true) {
            List<CheckpointWork> batch = table.takeCheckpoints(MAX_BATCH);
            if (batch.isEmpty()) {
                return true;
            }
            if (!write(batch)) {
                return false;
            }
        }
    }

    private boolean write(List<CheckpointWork> batch) {
        List<Change> changes = new ArrayList<>(batch.size());
        List<ConnectionKey> keys = new ArrayList<>(batch.size());
        for (CheckpointWork w : batch) {
            String connKey = w.key().toString();
            keys.add(w.key());
            if (w.delete()) {
                changes.add(new Delete(connKey));
            } else if (w.checkpoint() != null) {
                try {
                    changes.add(new Save(connKey, CheckpointCodec.encode(w.checkpoint()), true, null));
                } catch (RuntimeException e) {
                    log.warn("{}: its checkpoint cannot be encoded: {}", w.key(), e.getMessage());
                    changes.add(new Save(connKey, null, false, "its checkpoint cannot be encoded: " + e.getMessage()));
                }
            } else {
                changes.add(new Save(connKey, null, false, w.unrecoverableReason()));
            }
        }
        try {
            repository.apply(changes);
        } catch (RecordStoreException e) {
            table.checkpointsFailed(keys);
            failedBatches++;
            lastError = e.getMessage();
            long now = System.nanoTime();
            if (!databaseDown) {
                log.warn("checkpoints not written (tracking goes on; retried every {} ms, reported once a minute): {}",
                        intervalNanos / 1_000_000, e.getMessage());
                lastFailureLogNanos = now;
                failuresSinceLog = 0;
            } else if (now - lastFailureLogNanos >= FAILURE_LOG_NANOS) {
                log.warn("checkpoints still not written ({} more failure(s) in the last minute): {}", failuresSinceLog + 1,
                        e.getMessage());
                lastFailureLogNanos = now;
                failuresSinceLog = 0;
            } else {
                failuresSinceLog++;
            }
            databaseDown = true;
            return false;
        }
        if (databaseDown) {
            log.info("checkpoints written again, after {} failed attempt(s) since the last report", failuresSinceLog);
            databaseDown = false;
            failuresSinceLog = 0;
        }
        written += changes.size();
        return true;
    }

    /**
     * Stops the writer; before that, writes what changed once more (one attempt, bounded by the database's
     * timeout), so that a restart loses nothing.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            running = false;
            lock.notifyAll();
        }
        table.onCheckpointWanted(() -> { });
        try {
            thread.join(repository.settings().timeout().toMillis() * 2 + 1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (thread.isAlive()) {
            log.warn("the checkpoint writer did not stop in time; the last changes are not written");
            return;
        }
        table.queueChangedCheckpoints();
        boolean ok = drain();
        log.info("checkpoint writer stopped: {} row change(s) written in all{}", written,
                ok ? "" : "; the last changes could not be written");
    }
}
