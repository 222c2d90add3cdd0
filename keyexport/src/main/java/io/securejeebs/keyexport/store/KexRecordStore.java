package io.securejeebs.keyexport.store;

import com.zaxxer.hikari.HikariDataSource;
import io.securejeebs.keyexport.Endpoints;
import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.seal.RecordBinding;
import io.securejeebs.keyexport.seal.RecordSealer;
import io.securejeebs.keyexport.seal.SealedKexRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary's {@link KexRecordSink}: seals each record ({@link RecordSealer}) and INSERTs it into
 * {@code kex_record} as the insert-only account, synchronously: {@link #export} returns once the row is
 * committed, so the server's NEWKEYS leaves only after the appliance can read the record (DESIGN §3.1).
 *
 * <p>One time budget, {@link DatabaseSettings#timeout()}, bounds a whole export: getting a connection
 * from the pool (HikariCP's connectionTimeout, which covers connecting), then the INSERT (the remaining
 * time as the connection's network timeout, and as the statement's query timeout when a whole second or
 * more remains). Past it, {@link #export} throws a {@link KexExportException} that says why (refused,
 * unreachable, timed out...) and how long it waited.
 *
 * <p>Caveat: when only the network timeout fires (less than a second left for the statement), the server
 * may still complete the INSERT after the client gave up; the session-wide innodb_lock_wait_timeout keeps
 * that window to about the budget. A record that arrives although the export "failed" is harmless.
 *
 * <p>Each export is logged at DEBUG with the 4-tuple, ordinal, session-id digest prefix and time taken.
 * Thread-safe; close it to close the pool.
 */
public final class KexRecordStore implements KexRecordSink, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KexRecordStore.class);
    private static final String INSERT = "INSERT INTO kex_record"
            + " (primary_id, client_addr, client_port, server_addr, server_port, session_id_digest, ordinal, sealed)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

    private final DatabaseSettings settings;
    private final RecordSealer sealer;
    private final HikariDataSource pool;

    public KexRecordStore(DatabaseSettings settings, RecordSealer sealer) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.sealer = Objects.requireNonNull(sealer, "sealer");
        this.pool = ConnectionPools.create("kex-export", settings);
        log.info("exporting KEX records to {} (timeout {} ms), sealed to appliance key {}, signed by export key {}",
                settings.describe(), settings.timeout().toMillis(), sealer.applianceKeyFingerprint(),
                sealer.exportKeyFingerprint());
    }

    @Override
    public void export(KexRecord record) throws KexExportException {
        long start = System.nanoTime();
        long budgetMs = settings.timeout().toMillis();
        SealedKexRecord sealed = sealer.seal(record);
        RecordBinding binding = sealed.binding();
        byte[] blob = sealed.encode();
        try (Connection connection = pool.getConnection()) {
            long remainingMs = budgetMs - elapsedMs(start);
            if (remainingMs <= 0) {
                throw new KexExportException(failure(binding, start,
                        "timed out: getting a database connection used up the whole budget"));
            }
            connection.setNetworkTimeout(Runnable::run, (int) remainingMs); // direct executor: applies now
            try (PreparedStatement insert = connection.prepareStatement(INSERT)) {
                if (remainingMs >= 1000) {
                    // whole seconds only; it fires first, and the server then kills the statement cleanly
                    insert.setQueryTimeout((int) (remainingMs / 1000));
                }
                insert.setString(1, binding.primaryId());
                insert.setString(2, Endpoints.addressText(binding.client().getAddress()));
                insert.setInt(3, binding.client().getPort());
                insert.setString(4, Endpoints.addressText(binding.server().getAddress()));
                insert.setInt(5, binding.server().getPort());
                insert.setBytes(6, binding.sessionIdDigest());
                insert.setInt(7, binding.ordinal());
                insert.setBytes(8, blob);
                insert.executeUpdate();
            }
        } catch (SQLException e) {
            throw new KexExportException(failure(binding, start, DatabaseFailure.describe(e)), e);
        }
        if (log.isDebugEnabled()) {
            log.debug("exported KEX record {} ({} bytes sealed) in {} ms", binding, blob.length, elapsedMs(start));
        }
    }

    private String failure(RecordBinding binding, long start, String reason) {
        return "exporting KEX record " + binding + " to " + settings.describe() + " failed after " + elapsedMs(start)
                + " ms (limit " + settings.timeout().toMillis() + " ms): " + reason;
    }

    private static long elapsedMs(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    @Override
    public void close() {
        pool.close();
    }

    @Override
    public String toString() {
        return "KexRecordStore[" + settings.describe() + "]";
    }
}
