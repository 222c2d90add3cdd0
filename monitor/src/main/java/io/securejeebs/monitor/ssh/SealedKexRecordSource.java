package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.seal.ExpectedBinding;
import io.securejeebs.keyexport.seal.RecordBinding;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.seal.RecordRejectedException;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.StoredKexRecord;
import io.securejeebs.monitor.capture.FatalErrorExit;
import io.securejeebs.monitor.tcp.ConnectionKey;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KEX records as the live appliance gets them: sealed rows in MySQL (read as {@code sj_appliance}),
 * opened with the appliance's private key and the primary's pinned export key, and bound to the
 * connection the monitor itself sees (never to what the row claims). A record is written before the
 * server's NEWKEYS leaves, but the client's NEWKEYS may be captured first, so a missing row is polled
 * for until {@code timeout}; then the connection is unrecoverable with the reason.
 *
 * <p>Polling cannot be turned against the database: any TCP client can send a plaintext KEXINIT and NEWKEYS
 * that no record will ever follow. Each request backs off exponentially ({@link Polling#firstInterval()},
 * doubling up to {@link Polling#maxInterval()}), and every query of every request draws on one global budget
 * ({@link Polling#maxQueriesPerSecond()}). Queries the budget holds back wait in one queue per client address,
 * served in turn: a client that floods fake key exchanges delays its own, and a genuine session from another
 * address gets the next query.
 *
 * <p>Reads are narrow: the records of that very key exchange (ordinal) of this primary, by the session for a
 * rekey, by the 4-tuple for the first exchange, newest first, at most {@link #CANDIDATE_ROWS} rows and
 * none over {@link KexRecordRepository#MAX_SEALED_BYTES}. A 4-tuple may be reused by a later connection;
 * the candidates are tried newest first, and the tracker checks that the record's KEXINITs are the ones on
 * the wire.
 *
 * <p>Records are deleted when their session closes ({@link #connectionEnded}) and by age
 * ({@link #startPurging}), on this source's threads, never the capture thread's.
 */
public final class SealedKexRecordSource implements KexRecordSource, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SealedKexRecordSource.class);
    /** Rows read per query at most. */
    public static final int CANDIDATE_ROWS = 8;
    /** Rows deleted per statement by the age purge. */
    static final int PURGE_BATCH = 1000;
    private static final long WARN_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

    /**
     * How a missing record is polled for.
     *
     * @param firstInterval the wait before the first retry; each retry waits twice as long as the one before
     * @param maxInterval the longest wait between two tries of one request
     * @param maxQueriesPerSecond record queries per second at most, over all requests (and bursts of as many)
     */
    public record Polling(Duration firstInterval, Duration maxInterval, int maxQueriesPerSecond) {
        public static final Polling DEFAULT = new Polling(Duration.ofMillis(5), Duration.ofMillis(500), 200);

        public Polling {
            if (firstInterval.isNegative() || firstInterval.isZero() || maxInterval.compareTo(firstInterval) < 0
                    || maxQueriesPerSecond < 1) {
                throw new IllegalArgumentException("bad polling: " + firstInterval + ", " + maxInterval + ", "
                        + maxQueriesPerSecond + "/s");
            }
        }
    }

    private final KexRecordRepository repository;
    private final RecordOpener opener;
    private final String primaryId;
    private final long timeoutNanos;
    private final Polling polling;
    private final QueryBudget budget;
    /** Queries waiting for the budget, per client address, in turn (guarded by itself). */
    private final FairQueue waiting = new FairQueue();
    private boolean dispatchScheduled; // guarded by waiting
    private final ScheduledExecutorService executor;
    /** The session-id digest of each tracked connection whose record was delivered: what to delete at its close. */
    private final Map<ConnectionKey, byte[]> sessions = new ConcurrentHashMap<>();
    private final AtomicLong queries = new AtomicLong();
    private final AtomicLong lastDeleteWarning = new AtomicLong(System.nanoTime() - WARN_EVERY_NANOS);

    /** With {@link Polling#DEFAULT}'s backoff ceiling and budget, first retry after {@code pollInterval}. */
    public SealedKexRecordSource(KexRecordRepository repository, RecordOpener opener, String primaryId,
                                 Duration timeout, Duration pollInterval, int threads) {
        this(repository, opener, primaryId, timeout, new Polling(pollInterval,
                pollInterval.compareTo(Polling.DEFAULT.maxInterval()) > 0 ? pollInterval : Polling.DEFAULT.maxInterval(),
                Polling.DEFAULT.maxQueriesPerSecond()), threads);
    }

    public SealedKexRecordSource(KexRecordRepository repository, RecordOpener opener, String primaryId,
                                 Duration timeout, Polling polling, int threads) {
        this.repository = repository;
        this.opener = opener;
        this.primaryId = primaryId;
        this.timeoutNanos = timeout.toNanos();
        this.polling = polling;
        this.budget = new QueryBudget(polling.maxQueriesPerSecond());
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
        request(key, ordinal, sessionId, null, delivery);
    }

    @Override
    public void request(ConnectionKey key, int ordinal, byte[] sessionId, byte[] clientKexInit, Delivery delivery) {
        long start = System.nanoTime();
        Wanted wanted = new Wanted(ordinal, sessionId, clientKexInit);
        query(key, start, 0, () -> attemptOrExit(key, wanted, delivery, start, 0), delivery);
    }

    /**
     * An executor keeps a task's Error in its Future, where nobody looks: the delivery runs the session's
     * tracker, so an Error here ends the process as one on the capture thread does.
     */
    private void attemptOrExit(ConnectionKey key, Wanted wanted, Delivery delivery, long start, int tries) {
        try {
            attempt(key, wanted, delivery, start, tries);
        } catch (Error e) {
            FatalErrorExit.exit("KEX record delivery", e);
        }
    }

    /** Which record a request wants: the key exchange's ordinal, its session, and the client's KEXINIT, if known. */
    private record Wanted(int ordinal, byte[] sessionId, byte[] clientKexInit) {}

    /**
     * Runs {@code attempt} now if the budget allows and nobody waits, else queues it behind its client's turn. A
     * query still waiting at the request's deadline is not made: the request fails, and no budget is spent on it.
     */
    private void query(ConnectionKey key, long start, int tries, Runnable attempt, Delivery delivery) {
        try {
            synchronized (waiting) {
                if (waiting.isEmpty() && budget.reserve(System.nanoTime()) == 0) {
                    executor.execute(attempt);
                    return;
                }
                Runnable expire = () -> delivery.failed("no record after " + (System.nanoTime() - start) / 1_000_000
                        + " ms and " + tries + " attempt(s): the appliance's record-query budget ("
                        + polling.maxQueriesPerSecond() + "/s) was spent on other sessions' key exchanges");
                waiting.add(key.client().address(), new Waiting(attempt, expire, start + timeoutNanos));
                if (!dispatchScheduled) {
                    dispatchScheduled = true;
                    executor.execute(this::dispatch);
                }
            }
        } catch (RejectedExecutionException e) {
            delivery.failed("the appliance is stopping");
        }
    }

    /** Hands waiting queries to the executor as the budget allows, a client at a time; then sleeps until the next token. */
    private void dispatch() {
        try {
            synchronized (waiting) {
                while (!waiting.isEmpty()) {
                    long now = System.nanoTime();
                    if (now - waiting.peek().deadline() >= 0) {
                        executor.execute(waiting.next().expire());
                        continue;
                    }
                    long wait = budget.reserve(now);
                    if (wait > 0) {
                        executor.schedule(this::dispatch, wait, TimeUnit.NANOSECONDS);
                        return;
                    }
                    executor.execute(waiting.next().attempt());
                }
                dispatchScheduled = false;
            }
        } catch (RejectedExecutionException stopping) {
            // closed: the waiting requests are dropped with the executor
        }
    }

    /** Record queries made so far (for tests and status). */
    public long queries() {
        return queries.get();
    }

    /** @param tries queries made so far for this request; the budget has granted this one */
    private void attempt(ConnectionKey key, Wanted wanted, Delivery delivery, long start, int tries) {
        int made = tries + 1;
        int ordinal = wanted.ordinal();
        queries.incrementAndGet();
        String lastProblem;
        try {
            KexRecord r = find(key, wanted);
            if (r != null) {
                log.debug("{}: KEX record #{} opened after {} ms ({} quer{})", key, ordinal,
                        (System.nanoTime() - start) / 1_000_000, made, made == 1 ? "y" : "ies");
                sessions.put(key, RecordBinding.sessionIdDigest(r.sessionId()));
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
        long backoff = backoffNanos(made);
        if (waited >= timeoutNanos || executor.isShutdown()) {
            delivery.failed(lastProblem + " after " + waited / 1_000_000 + " ms and " + made + " attempt(s)");
            return;
        }
        // The last try comes at the deadline rather than after it.
        long delay = Math.min(backoff, Math.max(0, timeoutNanos - waited));
        schedule(() -> query(key, start, made, () -> attemptOrExit(key, wanted, delivery, start, made), delivery),
                delay, delivery);
    }

    /** The wait after the {@code made}-th query: firstInterval, doubling, at most maxInterval. */
    long backoffNanos(int made) {
        long first = polling.firstInterval().toNanos();
        long max = polling.maxInterval().toNanos();
        int doublings = Math.min(made - 1, 62);
        return first > (max >> doublings) ? max : Math.min(max, first << doublings);
    }

    private void schedule(Runnable r, long delayNanos, Delivery delivery) {
        try {
            executor.schedule(r, delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            delivery.failed("the appliance is stopping");
        }
    }

    /**
     * The newest row of that ordinal that opens with this connection's binding and, when the client's KEXINIT is
     * known, carries that very KEXINIT; null if none is stored (yet).
     */
    private KexRecord find(ConnectionKey key, Wanted wanted) throws RecordStoreException, RecordRejectedException {
        int ordinal = wanted.ordinal();
        byte[] sessionId = wanted.sessionId();
        List<StoredKexRecord> rows = sessionId != null && ordinal > 0
                ? repository.candidates(primaryId, RecordBinding.sessionIdDigest(sessionId), ordinal, CANDIDATE_ROWS)
                : repository.candidates(primaryId, key.client().toSocketAddress(), key.server().toSocketAddress(),
                        ordinal, CANDIDATE_ROWS);
        ExpectedBinding expected = ExpectedBinding.of(primaryId, key.client().toSocketAddress(),
                key.server().toSocketAddress(), ordinal);
        if (sessionId != null) {
            expected = expected.inSession(sessionId);
        }
        RecordRejectedException rejected = null;
        for (StoredKexRecord row : rows) {
            try {
                KexRecord opened = opener.open(row.sealed(), expected);
                if (wanted.clientKexInit() != null && !Arrays.equals(opened.clientKexInit(), wanted.clientKexInit())) {
                    log.warn("{}: KEX record row {} (#{}) is another key exchange of this connection (its client"
                            + " KEXINIT is not the one on the wire): skipped", key, row.id(), ordinal);
                    continue;
                }
                return opened;
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

    /**
     * The connection table no longer tracks {@code key}. When it ended by closing, the records of its session
     * are deleted (later, on this source's thread): nothing will ever need its keys again. Cheap and non-blocking:
     * called on the capture thread.
     */
    public void connectionEnded(ConnectionKey key, boolean closed) {
        byte[] digest = sessions.remove(key);
        if (!closed || digest == null) {
            return;
        }
        try {
            executor.execute(() -> {
                try {
                    int n = repository.deleteSession(primaryId, digest);
                    log.debug("{}: closed: {} KEX record(s) deleted", key, n);
                } catch (RecordStoreException e) {
                    warnDeleteFailed(key + ": the KEX records of the closed session were not deleted (the age purge"
                            + " will): " + e.getMessage());
                }
            });
        } catch (RejectedExecutionException stopping) {
            // the age purge of the next run deletes them
        }
    }

    /**
     * Deletes this primary's records older than {@code retention} now, and then every {@code every}: a session
     * this old that is still open keeps its keys in the tracker's memory, but a restarted appliance cannot resume it.
     */
    public void startPurging(Duration retention, Duration every) {
        executor.scheduleWithFixedDelay(() -> purge(retention), 0, every.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** One purge round; returns the rows deleted. */
    int purge(Duration retention) {
        int total = 0;
        try {
            int n;
            do {
                n = repository.deleteOlderThan(primaryId, retention, PURGE_BATCH);
                total += n;
            } while (n == PURGE_BATCH && !executor.isShutdown());
            if (total > 0) {
                log.info("deleted {} KEX record(s) older than {} (records.retention)", total, retention);
            }
        } catch (RecordStoreException e) {
            warnDeleteFailed("old KEX records were not deleted (retried later): " + e.getMessage());
        } catch (RuntimeException e) {
            log.error("deleting old KEX records", e);
        }
        return total;
    }

    private void warnDeleteFailed(String message) {
        long now = System.nanoTime();
        long last = lastDeleteWarning.get();
        if (now - last >= WARN_EVERY_NANOS && lastDeleteWarning.compareAndSet(last, now)) {
            log.warn("{} (does sj_appliance have DELETE on kex_record? this warning repeats at most once a minute)",
                    message);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }

    /** A query waiting for the budget, and what to do instead if its request's deadline comes first. */
    record Waiting(Runnable attempt, Runnable expire, long deadline) {}

    /** Waiting queries, one FIFO per client address; {@link #next()} takes from each address in turn. */
    static final class FairQueue {
        private final java.util.LinkedHashMap<Object, java.util.ArrayDeque<Waiting>> byClient =
                new java.util.LinkedHashMap<>();

        boolean isEmpty() {
            return byClient.isEmpty();
        }

        void add(Object client, Waiting w) {
            byClient.computeIfAbsent(client, c -> new java.util.ArrayDeque<>()).add(w);
        }

        /** What {@link #next()} would return. */
        Waiting peek() {
            return byClient.values().iterator().next().peek();
        }

        /** The head of the first client's queue; that client goes to the back of the line. */
        Waiting next() {
            Object client = byClient.keySet().iterator().next();
            java.util.ArrayDeque<Waiting> queue = byClient.remove(client);
            Waiting r = queue.poll();
            if (!queue.isEmpty()) {
                byClient.put(client, queue);
            }
            return r;
        }
    }

    /** A token bucket: {@code rate} tokens a second, holding at most {@code rate}. */
    static final class QueryBudget {
        private final double tokensPerNano;
        private final double capacity;
        private double tokens;
        private long updated;

        QueryBudget(int ratePerSecond) {
            this.tokensPerNano = ratePerSecond / 1e9;
            this.capacity = ratePerSecond;
            this.tokens = ratePerSecond;
            this.updated = System.nanoTime();
        }

        /** Takes a token and returns 0, or returns how long until one is there (taking nothing). */
        synchronized long reserve(long now) {
            tokens = Math.min(capacity, tokens + (now - updated) * tokensPerNano);
            updated = now;
            if (tokens >= 1) {
                tokens -= 1;
                return 0;
            }
            return Math.max(1, (long) Math.ceil((1 - tokens) / tokensPerNano));
        }
    }
}
