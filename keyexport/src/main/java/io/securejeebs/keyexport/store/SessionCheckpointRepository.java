package io.securejeebs.keyexport.store;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The appliance's {@code session_checkpoint} table (account {@code sj_appliance}): one row per tracked
 * connection, keyed by its 4-tuple as text, holding the connection's encoded checkpoint (the encoding is the
 * monitor's business; to this class it is bytes), or no state and {@code recoverable = FALSE} with the reason.
 *
 * <p>Every call is bounded by {@link DatabaseSettings#timeout()} like an export: getting a connection from
 * the pool (connecting included), then the statements. A batch of changes is one transaction. Thread-safe;
 * close it to close the pool.
 */
public final class SessionCheckpointRepository implements AutoCloseable {
    /** The {@code reason} column's size. */
    public static final int MAX_REASON = 255;
    /** The {@code conn_key} column's size. */
    public static final int MAX_CONN_KEY = 128;

    private static final String UPSERT = "INSERT INTO session_checkpoint (conn_key, state, recoverable, reason)"
            + " VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE state = VALUES(state),"
            + " recoverable = VALUES(recoverable), reason = VALUES(reason), updated_at = CURRENT_TIMESTAMP(6)";
    private static final String DELETE = "DELETE FROM session_checkpoint WHERE conn_key = ?";
    private static final String SELECT_ALL = "SELECT conn_key, state, recoverable, reason, updated_at"
            + " FROM session_checkpoint ORDER BY id";
    private static final String DELETE_OLDER = "DELETE FROM session_checkpoint"
            + " WHERE updated_at < TIMESTAMPADD(MICROSECOND, -?, CURRENT_TIMESTAMP(6))";

    /** One row as stored. */
    public record StoredCheckpoint(String connKey, byte[] state, boolean recoverable, String reason, Instant updatedAt) {
        @Override
        public String toString() {
            return "StoredCheckpoint[" + connKey + " " + (state == null ? "no state" : state.length + " B")
                    + (recoverable ? "" : " unrecoverable: " + reason) + " " + updatedAt + "]";
        }
    }

    /** One change of a batch. */
    public sealed interface Change permits Save, Delete {
        String connKey();
    }

    /**
     * Inserts or replaces the row of {@code connKey}.
     *
     * @param state the encoded checkpoint, or null for a connection that cannot be resumed
     * @param reason why not, when not recoverable (cut to {@link #MAX_REASON} characters)
     */
    public record Save(String connKey, byte[] state, boolean recoverable, String reason) implements Change {
        public Save {
            Objects.requireNonNull(connKey, "connKey");
            if (recoverable && state == null) {
                throw new IllegalArgumentException("a recoverable checkpoint needs its state");
            }
        }
    }

    /** Deletes the row of {@code connKey}, if there is one. */
    public record Delete(String connKey) implements Change {
        public Delete {
            Objects.requireNonNull(connKey, "connKey");
        }
    }

    private final DatabaseSettings settings;
    private final HikariDataSource pool;

    public SessionCheckpointRepository(DatabaseSettings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.pool = ConnectionPools.create("session-checkpoints", settings);
    }

    public DatabaseSettings settings() {
        return settings;
    }

    /** Applies {@code changes} in one transaction: all of them, or (on an exception) none. */
    public void apply(List<? extends Change> changes) throws RecordStoreException {
        if (changes.isEmpty()) {
            return;
        }
        run("writing " + changes.size() + " checkpoint change(s)", connection -> {
            connection.setAutoCommit(false);
            try (PreparedStatement upsert = connection.prepareStatement(UPSERT);
                 PreparedStatement delete = connection.prepareStatement(DELETE)) {
                boolean upserts = false;
                boolean deletes = false;
                for (Change c : changes) {
                    if (c instanceof Save s) {
                        upsert.setString(1, s.connKey());
                        upsert.setBytes(2, s.state());
                        upsert.setBoolean(3, s.recoverable());
                        upsert.setString(4, s.reason() == null ? null : cut(s.reason()));
                        upsert.addBatch();
                        upserts = true;
                    } else {
                        delete.setString(1, c.connKey());
                        delete.addBatch();
                        deletes = true;
                    }
                }
                if (upserts) {
                    upsert.executeBatch();
                }
                if (deletes) {
                    delete.executeBatch();
                }
                connection.commit();
            } catch (SQLException | RuntimeException e) {
                try {
                    connection.rollback();
                } catch (SQLException rollback) {
                    e.addSuppressed(rollback);
                }
                throw e;
            }
            return null;
        });
    }

    /** Every row, oldest first. */
    public List<StoredCheckpoint> loadAll() throws RecordStoreException {
        return run("reading the checkpoints", connection -> {
            List<StoredCheckpoint> rows = new ArrayList<>();
            try (PreparedStatement select = connection.prepareStatement(SELECT_ALL);
                 ResultSet rs = select.executeQuery()) {
                while (rs.next()) {
                    Timestamp updated = rs.getTimestamp("updated_at");
                    rows.add(new StoredCheckpoint(rs.getString("conn_key"), rs.getBytes("state"),
                            rs.getBoolean("recoverable"), rs.getString("reason"),
                            updated == null ? null : updated.toInstant()));
                }
            }
            return rows;
        });
    }

    /** Deletes the rows not written for longer than {@code retention} (by the database's clock). */
    public int deleteOlderThan(Duration retention) throws RecordStoreException {
        long micros = Math.max(0, retention.toNanos() / 1000);
        return run("deleting checkpoints older than " + retention, connection -> {
            try (PreparedStatement delete = connection.prepareStatement(DELETE_OLDER)) {
                delete.setLong(1, micros);
                return delete.executeUpdate();
            }
        });
    }

    private interface Work<T> {
        T run(Connection connection) throws SQLException;
    }

    private <T> T run(String what, Work<T> work) throws RecordStoreException {
        long start = System.nanoTime();
        long budgetMs = settings.timeout().toMillis();
        try (Connection connection = pool.getConnection()) {
            long remainingMs = Math.max(1, budgetMs - (System.nanoTime() - start) / 1_000_000);
            connection.setNetworkTimeout(Runnable::run, (int) remainingMs);
            return work.run(connection);
        } catch (SQLException e) {
            throw new RecordStoreException(what + " in " + settings.describe() + " failed after "
                    + (System.nanoTime() - start) / 1_000_000 + " ms: " + DatabaseFailure.describe(e), e);
        }
    }

    private static String cut(String reason) {
        return reason.length() <= MAX_REASON ? reason : reason.substring(0, MAX_REASON - 1) + "…";
    }

    @Override
    public void close() {
        pool.close();
    }

    @Override
    public String toString() {
        return "SessionCheckpointRepository[" + settings.describe() + "]";
    }
}
