package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.seal.ExpectedBinding;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.seal.RecordRejectedException;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.StoredKexRecord;
import io.securejeebs.monitor.capture.FatalErrorExit;
import io.securejeebs.monitor.tcp.ConnectionKey;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KEX records as the live appliance gets them: sealed rows in MySQL (read as {@code sj_appliance}),
 * opened with the appliance's private key and the primary's pinned export key, and bound to the
 * connection the monitor itself sees (never to what the row claims). A record is written before the
 * server's NEWKEYS leaves, but the client's NEWKEYS may be captured first, so a missing row is polled
 * for until {@code timeout}; then the connection is unrecoverable with the reason.
 *
 * <p>A 4-tuple may be reused by a later connection; candidates are tried newest first, and the tracker
 * checks that the record's KEXINITs are the ones on the wire.
 */
public final class SealedKexRecordSource implements KexRecordSource, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SealedKexRecordSource.class);

    private final KexRecordRepository repository;
    private final RecordOpener opener;
    private final String primaryId;
    private final long timeoutNanos;
    private final long pollMillis;
    private final ScheduledExecutorService executor;

    public SealedKexRecordSource(KexRecordRepository repository, RecordOpener opener, String primaryId,
                                 Duration timeout, Duration pollInterval, int threads) {
        this.repository = repository;
        this.opener = opener;
        this.primaryId = primaryId;
        this.timeoutNanos = timeout.toNanos();
        this.pollMillis = Math.max(1, pollInterval.toMillis());
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newScheduledThreadPool(threads, r -> {
            Thread t = new Thread(r, "sj-kex-records-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void request(ConnectionKey key, int ordinal, Delivery delivery) {
        request(key, ordinal, null, delivery);
    }

    @Override
    public void request(ConnectionKey key, int ordinal, byte[] sessionId, Delivery delivery) {
        long start = System.nanoTime();
        executor.execute(() -> attemptOrExit(key, ordinal, sessionId, delivery, start, 1));
    }

    /**
     * An executor keeps a task's Error in its Future, where nobody looks: the delivery runs the session's
     * tracker, so an Error here ends the process as one on the capture thread does.
     */
    private void attemptOrExit(ConnectionKey key, int ordinal, byte[] sessionId, Delivery delivery, long start,
                               int tries) {
        try {
            attempt(key, ordinal, sessionId, delivery, start, tries);
        } catch (Error e) {
            FatalErrorExit.exit("KEX record delivery", e);
        }
    }

    private void attempt(ConnectionKey key, int ordinal, byte[] sessionId, Delivery delivery, long start, int tries) {
        String lastProblem;
        try {
            KexRecord r = find(key, ordinal, sessionId);
            if (r != null) {
                log.debug("{}: KEX record #{} opened after {} ms ({} quer{})", key, ordinal,
                        (System.nanoTime() - start) / 1_000_000, tries, tries == 1 ? "y" : "ies");
                delivery.record(r);
                return;
            }
            lastProblem = "not in the database";
        } catch (RecordStoreException e) {
            lastProblem = "database: " + e.getMessage();
        } catch (RecordRejectedException e) {
            lastProblem = "rejected: " + e.getMessage();
        } catch (RuntimeException e) {
            lastProblem = "internal error: " + e;
            log.error("{}: KEX record #{}", key, ordinal, e);
        }
        long waited = System.nanoTime() - start;
        if (waited >= timeoutNanos || executor.isShutdown()) {
            delivery.failed(lastProblem + " after " + waited / 1_000_000 + " ms and " + tries + " attempt(s)");
            return;
        }
        try {
            executor.schedule(() -> attemptOrExit(key, ordinal, sessionId, delivery, start, tries + 1), pollMillis,
                    TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            delivery.failed("the appliance is stopping");
        }
    }

    /** The newest row of that ordinal that opens with this connection's binding, or null if none is stored. */
    private KexRecord find(ConnectionKey key, int ordinal, byte[] sessionId)
            throws RecordStoreException, RecordRejectedException {
        List<StoredKexRecord> rows = repository.findByConnection(key.client().toSocketAddress(), key.server().toSocketAddress())
                .stream().filter(r -> r.ordinal() == ordinal)
                .sorted(Comparator.comparingLong(StoredKexRecord::id).reversed()).toList();
        ExpectedBinding expected = ExpectedBinding.of(primaryId, key.client().toSocketAddress(),
                key.server().toSocketAddress(), ordinal);
        if (sessionId != null) {
            expected = expected.inSession(sessionId);
        }
        RecordRejectedException rejected = null;
        for (StoredKexRecord row : rows) {
            try {
                return opener.open(row.sealed(), expected);
            } catch (RecordRejectedException e) {
                log.warn("{}: KEX record row {} (#{}) rejected: {}", key, row.id(), ordinal, e.getMessage());
                rejected = e;
            }
        }
        if (rejected != null) {
            throw rejected;
        }
        return null;
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
