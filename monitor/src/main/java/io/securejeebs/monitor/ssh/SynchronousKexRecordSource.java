package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.tcp.ConnectionKey;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Hands another source's outcome to the tracker on the tracker's own thread, inside
 * {@link #request}: the caller waits for it. For reading a capture file, where the records are already
 * stored: each record is applied right where the tracker asked for it, before the next captured segment,
 * so the result does not depend on how fast the database answers (a live source delivers later, and the
 * tracker holds what it cannot decrypt yet up to a limit, which a file read at full speed would reach).
 *
 * <p>The wrapped source must deliver on another thread without taking the connection table's lock (as
 * {@link SealedKexRecordSource} does), or inline: the caller holds that lock while it waits.
 */
public final class SynchronousKexRecordSource implements KexRecordSource {
    private final KexRecordSource source;
    private final Duration wait;

    /**
     * @param wait the longest wait for an outcome; the wrapped source should give up before it (a
     *             {@link SealedKexRecordSource} after its own timeout), this only guards against a lost one
     */
    public SynchronousKexRecordSource(KexRecordSource source, Duration wait) {
        this.source = source;
        this.wait = wait;
    }

    @Override
    public void request(ConnectionKey key, int ordinal, Delivery delivery) {
        request(key, ordinal, null, delivery);
    }

    @Override
    public void request(ConnectionKey key, int ordinal, byte[] sessionId, Delivery delivery) {
        CompletableFuture<KexRecord> outcome = new CompletableFuture<>();
        source.request(key, ordinal, sessionId, new Delivery() {
            @Override
            public void record(KexRecord record) {
                outcome.complete(record);
            }

            @Override
            public void failed(String reason) {
                outcome.completeExceptionally(new Failure(reason));
            }
        });
        KexRecord record;
        try {
            record = outcome.get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            delivery.failed(e.getCause().getMessage());
            return;
        } catch (TimeoutException e) {
            delivery.failed("no answer from the record source within " + wait.toMillis() + " ms");
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            delivery.failed("interrupted while waiting for the record");
            return;
        }
        delivery.record(record);
    }

    private static final class Failure extends Exception {
        Failure(String reason) {
            super(reason, null, false, false);
        }
    }
}
