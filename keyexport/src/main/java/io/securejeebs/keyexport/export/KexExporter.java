package io.securejeebs.keyexport.export;

import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordSink;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands each key exchange's record to the {@link KexRecordSink}, synchronously and within a time limit, and
 * applies the failure policy:
 * <ul>
 * <li>fail-open (default): the session goes on; it is logged (4-tuple, reason; the user once known) as
 *     UNPROTECTED and counted, because the appliance cannot carry it over a failover;</li>
 * <li>fail-closed: the session is disconnected before the server's NEWKEYS, with a clear reason.</li>
 * </ul>
 * The sink runs on a separate thread only so that a hung sink can be abandoned after the timeout; the
 * calling thread (MINA's, inside {@code checkKeys()}) waits for it either way.
 */
public final class KexExporter implements SessionListener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KexExporter.class);

    /** Exports that may hang at once before new ones are refused (each waiting session holds one). */
    private static final int MAX_CONCURRENT_EXPORTS = 64;

    private final String primaryId;
    private final KexRecordSink sink;
    private final Duration timeout;
    private final boolean failClosed;
    private final ThreadPoolExecutor executor;
    private final LongAdder exported = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder unprotected = new LongAdder();
    private final LongAdder refused = new LongAdder();

    public KexExporter(String primaryId, KexRecordSink sink, Duration timeout, boolean failClosed) {
        this.primaryId = Objects.requireNonNull(primaryId, "primaryId");
        this.sink = Objects.requireNonNull(sink, "sink");
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        this.failClosed = failClosed;
        AtomicInteger n = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(0, MAX_CONCURRENT_EXPORTS, 30, TimeUnit.SECONDS,
                new SynchronousQueue<>(), r -> {
                    Thread t = new Thread(r, "kex-export-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
    }

    public String primaryId() {
        return primaryId;
    }

    public boolean failClosed() {
        return failClosed;
    }

    public KexExportStatistics statistics() {
        return new KexExportStatistics(exported.sum(), failed.sum(), unprotected.sum(), refused.sum());
    }

    /**
     * Exports one record. Returns normally when it was exported, or when it was not and the policy is
     * fail-open (the session is then marked unprotected).
     *
     * @throws ExportRefusedException under fail-closed; the session turns it into a disconnect before its
     *         NEWKEYS (MINA's {@code checkKeys()} may not throw checked exceptions)
     */
    void export(ExportingServerSession session, KexRecord record) {
        String failure = tryExport(record);
        if (failure == null) {
            exported.increment();
            log.debug("exported {}", record);
            return;
        }
        failed.increment();
        if (failClosed) {
            refused.increment();
            log.warn("session {}: key exchange #{} ({}) could not be exported ({}); disconnecting it (export.fail-closed)",
                    session.describeConnection(), record.ordinal(), record.kexName(), failure);
            throw new ExportRefusedException("this server requires every session to be protected for failover,"
                    + " and this session's key exchange could not be exported");
        }
        if (session.markUnprotected(failure)) {
            unprotected.increment();
            log.warn("session {}{}: UNPROTECTED, key exchange #{} ({}) could not be exported: {}."
                            + " It goes on (fail-open) but will not survive a failover.",
                    session.describeConnection(), userSuffix(session), record.ordinal(), record.kexName(), failure);
        } else {
            log.warn("session {}{}: key exchange #{} ({}) could not be exported either: {}",
                    session.describeConnection(), userSuffix(session), record.ordinal(), record.kexName(), failure);
        }
    }

    /** @return null when exported, else why not (never key material) */
    private String tryExport(KexRecord record) {
        Future<?> future;
        try {
            future = executor.submit(() -> {
                sink.export(record);
                return null;
            });
        } catch (RejectedExecutionException e) {
            return MAX_CONCURRENT_EXPORTS + " exports are already running (is the sink hanging?)";
        }
        try {
            future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return null;
        } catch (TimeoutException e) {
            future.cancel(true);
            return "the sink did not answer within " + timeout.toMillis() + " ms";
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            return "interrupted while waiting for the sink";
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof KexExportException) {
                return cause.getMessage();
            }
            return "the sink failed: " + cause.getClass().getName()
                    + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
        }
    }

    private static String userSuffix(Session session) {
        String user = session.getUsername();
        return user == null ? "" : " (user " + user + ")";
    }

    @Override
    public void sessionEvent(Session session, Event event) {
        if (event == Event.Authenticated && session instanceof ExportingServerSession s && s.unprotectedReason() != null) {
            log.warn("session {}: the UNPROTECTED session is user {} ({})", s.describeConnection(),
                    session.getUsername(), s.unprotectedReason());
        }
    }

    @Override
    public void sessionClosed(Session session) {
        if (session instanceof ExportingServerSession s && s.unprotectedReason() != null) {
            log.info("session {}{}: UNPROTECTED session closed", s.describeConnection(), userSuffix(session));
        }
    }

    /** Fail-closed: this key exchange must not complete. The message is what the client is told. */
    static final class ExportRefusedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ExportRefusedException(String message) {
            super(message, null, false, false);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
