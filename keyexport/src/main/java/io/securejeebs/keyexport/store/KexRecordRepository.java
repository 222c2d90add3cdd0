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
 * The appliance's read side of {@code kex_record} (account {@code sj_appliance}): the sealed records of a
 * connection, or of an SSH session, in key-exchange order (ordinal, then insertion order for the rare
 * reuse of a 4-tuple). The rows are still sealed; open them with {@code RecordOpener}.
 *
 * <p>Each query is bounded by {@link DatabaseSettings#timeout()} like an export. Thread-safe; close it to
 * close the pool.
 */
public final class KexRecordRepository implements AutoCloseable {
    private static final String COLUMNS = "SELECT id, primary_id, client_addr, client_port, server_addr, server_port,"
            + " session_id_digest, ordinal, sealed, created_at FROM kex_record";
    private static final String BY_CONNECTION = COLUMNS
            + " WHERE client_addr = ? AND client_port = ? AND server_addr = ? AND server_port = ? ORDER BY ordinal, id";
    private static final String BY_SESSION = COLUMNS + " WHERE session_id_digest = ? ORDER BY ordinal, id";

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
        String what = "records of session sid-sha256:" + HexFormat.of().formatHex(sessionIdDigest, 0,
                Math.min(4, sessionIdDigest.length));
        return query(what, BY_SESSION, statement -> statement.setBytes(1, sessionIdDigest));
    }

    private interface Parameters {
        void set(PreparedStatement statement) throws SQLException;
    }

    private List<StoredKexRecord> query(String what, String sql, Parameters parameters) throws RecordStoreException {
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
                List<StoredKexRecord> rows = new ArrayList<>();
                try (ResultSet rs = statement.executeQuery()) {
                    while (rs.next()) {
                        rows.add(row(rs));
                    }
                }
                return rows;
            }
        } catch (SQLException | IllegalArgumentException e) {
            String reason = e instanceof SQLException ? DatabaseFailure.describe(e) : e.getMessage();
            throw new RecordStoreException("reading " + what + " from " + settings.describe() + " failed after "
                    + (System.nanoTime() - start) / 1_000_000 + " ms: " + reason, e);
        }
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
