package io.securejeebs.keyexport.store;

import com.zaxxer.hikari.HikariDataSource;
import io.securejeebs.keyexport.Endpoints;
import java.net.InetSocketAddress;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * The appliance's side of {@code kex_record} (account {@code sj_appliance}): the sealed records of a
 * connection, or of an SSH session, in key-exchange order (ordinal, then insertion order for the rare
 * reuse of a 4-tuple). The rows are still sealed; open them with {@code RecordOpener}.
 *
 * <p>Every read is bounded: in rows (a LIMIT), and in size (rows whose sealed blob is over
 * {@link #MAX_SEALED_BYTES} are never sent: anyone holding the primary's INSERT-only account could otherwise
 * make every poll of a session fetch megabytes until its record is late). The appliance also deletes records
 * (it needs DELETE on {@code kex_record}): a closed session's, and every record older than the retention, so that
 * a leaked appliance key opens no past session.
 *
 * <p>Each query is bounded by {@link DatabaseSettings#timeout()} like an export. Thread-safe; close it to
 * close the pool.
 */
public final class KexRecordRepository implements AutoCloseable {
    private static final String COLUMNS = "SELECT id, primary_id, client_addr, client_port, server_addr, server_port,"
            + " session_id_digest, ordinal, sealed, created_at FROM kex_record";
    /** A genuine sealed record is a few KiB (two KEXINITs, the key-exchange messages, K, H, a signature). */
    public static final int MAX_SEALED_BYTES = 256 << 10;
    /** Rows a listing ({@link #findByConnection}, {@link #findBySessionIdDigest}) returns at most. */
    public static final int MAX_LISTED_ROWS = 1024;
    private static final String SMALL_ENOUGH = " AND LENGTH(sealed) <= " + MAX_SEALED_BYTES;
    private static final String BY_CONNECTION = COLUMNS
            + " WHERE client_addr = ? AND client_port = ? AND server_addr = ? AND server_port = ?" + SMALL_ENOUGH
            + " ORDER BY ordinal, id LIMIT " + MAX_LISTED_ROWS;
    private static final String BY_SESSION = COLUMNS + " WHERE session_id_digest = ?" + SMALL_ENOUGH
            + " ORDER BY ordinal, id LIMIT " + MAX_LISTED_ROWS;
    private static final String CANDIDATES_BY_CONNECTION = COLUMNS
            + " WHERE primary_id = ? AND client_addr = ? AND client_port = ? AND server_addr = ? AND server_port = ?"
            + " AND ordinal = ?" + SMALL_ENOUGH + " ORDER BY id DESC LIMIT ?";
    private static final String CANDIDATES_BY_SESSION = COLUMNS
            + " WHERE session_id_digest = ? AND ordinal = ? AND primary_id = ?" + SMALL_ENOUGH + " ORDER BY id DESC LIMIT ?";
    private static final String DELETE_SESSION = "DELETE FROM kex_record WHERE session_id_digest = ? AND primary_id = ?";
    private static final String DELETE_OLDER = "DELETE FROM kex_record WHERE primary_id = ?"
            + " AND created_at < NOW(6) - INTERVAL ? SECOND ORDER BY id LIMIT ?";

    private final DatabaseSettings settings;
    private final HikariDataSource pool;

    public KexRecordRepository(DatabaseSettings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.pool = ConnectionPools.create("kex-records", settings);
    }

    /** Every record of the connection client → server, by ordinal. */
    public List<StoredKexRecord> findByConnection(InetSocketAddress client, InetSocketAddress server)
            throws RecordStoreException {
        String what = "records of " + Endpoints.connection(client, server);
        return query(what, BY_CONNECTION, statement -> {
            statement.setString(1, Endpoints.addressText(client.getAddress()));
            statement.setInt(2, client.getPort());
            statement.setString(3, Endpoints.addressText(server.getAddress()));
            statement.setInt(4, server.getPort());
        });
    }

    /** Every record of the SSH session whose id hashes (SHA-256) to {@code sessionIdDigest}, by ordinal. */
    public List<StoredKexRecord> findBySessionIdDigest(byte[] sessionIdDigest) throws RecordStoreException {
        String what = "records of " + sessionName(sessionIdDigest);
        return query(what, BY_SESSION, statement -> statement.setBytes(1, sessionIdDigest));
    }

    /**
     * The records of key exchange {@code ordinal} of the connection client → server exported by {@code primaryId},
     * newest first, at most {@code limit}: what the live appliance polls for a connection's first key exchange.
     */
    public List<StoredKexRecord> candidates(String primaryId, InetSocketAddress client, InetSocketAddress server,
                                            int ordinal, int limit) throws RecordStoreException {
        String what = "record #" + ordinal + " of " + Endpoints.connection(client, server);
        return query(what, CANDIDATES_BY_CONNECTION, statement -> {
            statement.setString(1, primaryId);
            statement.setString(2, Endpoints.addressText(client.getAddress()));
            statement.setInt(3, client.getPort());
            statement.setString(4, Endpoints.addressText(server.getAddress()));
            statement.setInt(5, server.getPort());
            statement.setInt(6, ordinal);
            statement.setInt(7, limit);
        });
    }

    /** The same for a key exchange of a known session (a rekey): by the session id's digest, not the 4-tuple. */
    public List<StoredKexRecord> candidates(String primaryId, byte[] sessionIdDigest, int ordinal, int limit)
            throws RecordStoreException {
        String what = "record #" + ordinal + " of " + sessionName(sessionIdDigest);
        return query(what, CANDIDATES_BY_SESSION, statement -> {
            statement.setBytes(1, sessionIdDigest);
            statement.setInt(2, ordinal);
            statement.setString(3, primaryId);
            statement.setInt(4, limit);
        });
    }

    /** Deletes every record of the session (it has closed): its keys are then nowhere but in memory. */
    public int deleteSession(String primaryId, byte[] sessionIdDigest) throws RecordStoreException {
        return update("deleting the records of " + sessionName(sessionIdDigest), DELETE_SESSION, statement -> {
            statement.setBytes(1, sessionIdDigest);
            statement.setString(2, primaryId);
        });
    }

    /**
     * Deletes up to {@code limit} of {@code primaryId}'s records written more than {@code age} ago (by the
     * database's clock, which also stamped them); call again while it returns {@code limit}.
     */
    public int deleteOlderThan(String primaryId, java.time.Duration age, int limit) throws RecordStoreException {
        return update("deleting records older than " + age.toSeconds() + " s", DELETE_OLDER, statement -> {
            statement.setString(1, primaryId);
            statement.setLong(2, age.toSeconds());
            statement.setInt(3, limit);
        });
    }

    private static String sessionName(byte[] sessionIdDigest) {
        return "session sid-sha256:" + HexFormat.of().formatHex(sessionIdDigest, 0, Math.min(4, sessionIdDigest.length));
    }

    private int update(String what, String sql, Parameters parameters) throws RecordStoreException {
        return run(what + " in " + settings.describe(), sql, parameters, PreparedStatement::executeUpdate);
    }

    /** What to do with a prepared statement whose parameters are set. */
    private interface Work<T> {
        T on(PreparedStatement statement) throws SQLException;
    }

    /**
     * One statement on a pooled connection, within the configured timeout as a whole (network and query).
     *
     * @param doing what fails, for the exception: "deleting … in DB", "reading … from DB"
     */
    private <T> T run(String doing, String sql, Parameters parameters, Work<T> work) throws RecordStoreException {
        long start = System.nanoTime();
        long budgetMs = settings.timeout().toMillis();
        try (Connection connection = pool.getConnection()) {
            long remainingMs = Math.max(1, budgetMs - (System.nanoTime() - start) / 1_000_000);
            connection.setNetworkTimeout(Runnable::run, (int) remainingMs);
            try (PreparedStatement statement = connection.prepareStatement(sql)) {
                if (remainingMs >= 1000) {
                    statement.setQueryTimeout((int) (remainingMs / 1000));
                }
                parameters.set(statement);
                return work.on(statement);
            }
        } catch (SQLException | IllegalArgumentException e) {
            String reason = e instanceof SQLException ? DatabaseFailure.describe(e) : e.getMessage();
            throw new RecordStoreException(doing + " failed after " + (System.nanoTime() - start) / 1_000_000 + " ms: "
                    + reason, e);
        }
    }

    private interface Parameters {
        void set(PreparedStatement statement) throws SQLException;
    }

    private List<StoredKexRecord> query(String what, String sql, Parameters parameters) throws RecordStoreException {
        return run("reading " + what + " from " + settings.describe(), sql, parameters, statement -> {
            List<StoredKexRecord> rows = new ArrayList<>();
            try (ResultSet rs = statement.executeQuery()) {
                while (rs.next()) {
                    rows.add(row(rs));
                }
            }
            return rows;
        });
    }

    private static StoredKexRecord row(ResultSet rs) throws SQLException {
        long id = rs.getLong("id");
        InetSocketAddress client;
        InetSocketAddress server;
        try {
            client = new InetSocketAddress(Endpoints.parseAddressText(rs.getString("client_addr")), rs.getInt("client_port"));
            server = new InetSocketAddress(Endpoints.parseAddressText(rs.getString("server_addr")), rs.getInt("server_port"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("kex_record row " + id + " has a bad address or port: " + e.getMessage(), e);
        }
        Timestamp created = rs.getTimestamp("created_at");
        return new StoredKexRecord(id, rs.getString("primary_id"), client, server, rs.getBytes("session_id_digest"),
                rs.getInt("ordinal"), rs.getBytes("sealed"), created.toInstant());
    }

    @Override
    public void close() {
        pool.close();
    }

    @Override
    public String toString() {
        return "KexRecordRepository[" + settings.describe() + "]";
    }
}
