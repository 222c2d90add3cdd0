package io.securejeebs.keyexport.store;

import static io.securejeebs.keyexport.SampleRecords.assertSameRecord;
import static io.securejeebs.keyexport.SampleRecords.endpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.SampleRecords;
import io.securejeebs.keyexport.seal.ExpectedBinding;
import io.securejeebs.keyexport.seal.RecordBinding;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.seal.RecordSealer;
import io.securejeebs.keyexport.store.PrivateMariaDb.Database;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

/** Against a real private MariaDB ({@link PrivateMariaDb}): what the primary writes, the appliance reads. */
@ExtendWith(PrivateMariaDb.class)
class KexRecordStoreTest {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration TIMEOUT = Duration.ofSeconds(3);
    /** Each test uses its own client ports and sessions: the database is shared by the whole run. */
    private static final AtomicInteger NEXT_PORT = new AtomicInteger(41000 + RANDOM.nextInt(20000));

    private final X25519PrivateKeyParameters applianceKey = new X25519PrivateKeyParameters(RANDOM);
    private final Ed25519PrivateKeyParameters exportKey = new Ed25519PrivateKeyParameters(RANDOM);
    private final RecordSealer sealer = new RecordSealer(applianceKey.generatePublicKey(), exportKey);
    private final RecordOpener opener = new RecordOpener(applianceKey, exportKey.generatePublicKey());

    private static InetSocketAddress freshClient() {
        return endpoint("10.213.0.10", NEXT_PORT.getAndIncrement());
    }

    private static KexRecord recordOn(InetSocketAddress client, long session, int ordinal) {
        return SampleRecords.rekey(session, ordinal, client, SampleRecords.server());
    }

    private static ExpectedBinding expectation(InetSocketAddress client, int ordinal) {
        return ExpectedBinding.of(SampleRecords.PRIMARY_ID, client, SampleRecords.server(), ordinal);
    }

    @Test
    void anExportedRecordIsARowWithItsBindingAndItsBlobOpens(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        KexRecord record = recordOn(client, RANDOM.nextLong(), 0);
        Instant before = Instant.now().minusSeconds(5);
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(record);
        }
        // read the row as the appliance account, plain JDBC: what exactly did the primary write?
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.applianceUser(), db.appliancePassword());
             PreparedStatement q = c.prepareStatement("SELECT primary_id, client_addr, client_port, server_addr,"
                     + " server_port, session_id_digest, ordinal, sealed, created_at FROM kex_record WHERE client_port = ?")) {
            q.setInt(1, client.getPort());
            try (ResultSet rs = q.executeQuery()) {
                assertTrue(rs.next(), "the row exists");
                assertEquals("primary-a", rs.getString("primary_id"));
                assertEquals("10.213.0.10", rs.getString("client_addr"));
                assertEquals(client.getPort(), rs.getInt("client_port"));
                assertEquals("10.213.0.100", rs.getString("server_addr"));
                assertEquals(22, rs.getInt("server_port"));
                assertArrayEquals(SampleRecords.sha256(record.sessionId()), rs.getBytes("session_id_digest"));
                assertEquals(0, rs.getInt("ordinal"));
                assertTrue(rs.getTimestamp("created_at").toInstant().isAfter(before));
                KexRecord opened = opener.open(rs.getBytes("sealed"), expectation(client, 0));
                assertSameRecord(record, opened);
                assertFalse(rs.next(), "exactly one row");
            }
        }
    }

    @Test
    void aRekeySequenceIsStoredAndFoundInOrder(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        long session = RANDOM.nextLong();
        InetSocketAddress neighbour = freshClient();
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(recordOn(neighbour, RANDOM.nextLong(), 0)); // another connection: never in the results
            // stored out of order, found in order: the ordering is the query's, not the insertion's
            for (int ordinal : new int[] {2, 0, 1}) {
                store.export(recordOn(client, session, ordinal));
            }
        }
        byte[] sessionId = recordOn(client, session, 0).sessionId();
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            List<StoredKexRecord> byConnection = repository.findByConnection(client, SampleRecords.server());
            List<StoredKexRecord> bySession = repository.findBySessionIdDigest(RecordBinding.sessionIdDigest(sessionId));
            for (List<StoredKexRecord> rows : List.of(byConnection, bySession)) {
                assertEquals(List.of(0, 1, 2), rows.stream().map(StoredKexRecord::ordinal).toList());
                for (StoredKexRecord row : rows) {
                    assertEquals(client, row.client());
                    assertEquals(SampleRecords.server(), row.server());
                    ExpectedBinding expected = expectation(client, row.ordinal()).inSession(sessionId);
                    assertSameRecord(recordOn(client, session, row.ordinal()), opener.open(row.decodeSealed(), expected));
                }
            }
            assertEquals(1, repository.findByConnection(neighbour, SampleRecords.server()).size());
            assertEquals(List.of(), repository.findByConnection(freshClient(), SampleRecords.server()));
        }
    }

    @Test
    void ipv6ConnectionsAreStoredAndFoundToo(Database db) throws Exception {
        InetSocketAddress client = endpoint("2001:db8::10", NEXT_PORT.getAndIncrement());
        InetSocketAddress server = endpoint("2001:db8::100", 22);
        KexRecord record = SampleRecords.rekey(RANDOM.nextLong(), 0, client, server);
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer);
             KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            store.export(record);
            List<StoredKexRecord> rows = repository.findByConnection(client, server);
            assertEquals(1, rows.size());
            assertSameRecord(record, opener.open(rows.get(0).decodeSealed(),
                    ExpectedBinding.of(SampleRecords.PRIMARY_ID, client, server, 0)));
        }
    }

    @Test
    void manySessionsExportAtOnceThroughASmallPool(Database db) throws Exception {
        // MINA runs key exchanges on many threads: 32 concurrent exports through 4 pooled connections.
        List<InetSocketAddress> clients = Stream.generate(KexRecordStoreTest::freshClient).limit(32).toList();
        try (KexRecordStore store = new KexRecordStore(db.primary(Duration.ofSeconds(10)), sealer)) {
            ExecutorService threads = Executors.newFixedThreadPool(16);
            try {
                List<Future<?>> exports = new ArrayList<>();
                for (InetSocketAddress client : clients) {
                    exports.add(threads.submit(() -> {
                        store.export(recordOn(client, client.getPort(), 0));
                        return null;
                    }));
                }
                for (Future<?> export : exports) {
                    export.get(30, TimeUnit.SECONDS);
                }
            } finally {
                threads.shutdownNow();
            }
        }
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            for (InetSocketAddress client : clients) {
                List<StoredKexRecord> rows = repository.findByConnection(client, SampleRecords.server());
                assertEquals(1, rows.size(), client.toString());
                assertSameRecord(recordOn(client, client.getPort(), 0), opener.open(rows.get(0).decodeSealed(), expectation(client, 0)));
            }
        }
    }

    @Test
    void thePrimaryAccountMayNotRead(Database db) throws Exception {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.primaryUser(), db.primaryPassword());
             Statement s = c.createStatement()) {
            SQLException select = assertThrows(SQLException.class, () -> s.executeQuery("SELECT sealed FROM kex_record"));
            assertEquals(1142, select.getErrorCode(), select.getMessage()); // ER_TABLEACCESS_DENIED_ERROR
            assertEquals("42000", select.getSQLState());
            assertTrue(select.getMessage().startsWith("SELECT command denied to user 'sj_primary'@"), select.getMessage());
            SQLException delete = assertThrows(SQLException.class, () -> s.executeUpdate("DELETE FROM kex_record"));
            assertEquals(1142, delete.getErrorCode(), delete.getMessage());
            SQLException update = assertThrows(SQLException.class, () -> s.executeUpdate("UPDATE kex_record SET ordinal = 9"));
            assertEquals(1142, update.getErrorCode(), update.getMessage());
        }
        // and the repository, given the primary's account, says so
        try (KexRecordRepository wrongAccount = new KexRecordRepository(db.primary(TIMEOUT))) {
            RecordStoreException e = assertThrows(RecordStoreException.class,
                    () -> wrongAccount.findByConnection(freshClient(), SampleRecords.server()));
            assertTrue(e.getMessage().contains("permission denied: SELECT command denied to user 'sj_primary'"), e.getMessage());
        }
    }

    @Test
    void theApplianceAccountCanRead(Database db) throws Exception {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.applianceUser(), db.appliancePassword());
             Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM kex_record")) {
            assertTrue(rs.next());
            assertTrue(rs.getLong(1) >= 0);
        }
    }

    @Test
    void exportingTheSameKeyExchangeTwiceIsRefusedClearly(Database db) throws Exception {
        KexRecord record = recordOn(freshClient(), RANDOM.nextLong(), 0);
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(record);
            KexExportException e = assertThrows(KexExportException.class, () -> store.export(record));
            assertTrue(e.getMessage().endsWith("already stored: the database holds a record with this session and"
                    + " ordinal (duplicate key)"), e.getMessage());
        }
    }

    @Test
    void aWrongPasswordIsAccessDenied(Database db) {
        DatabaseSettings wrong = DatabaseSettings.of(db.jdbcUrl(), db.primaryUser(), "not-the-password", Duration.ofSeconds(1));
        try (KexRecordStore store = new KexRecordStore(wrong, sealer)) {
            KexExportException e = assertThrows(KexExportException.class,
                    () -> store.export(recordOn(freshClient(), RANDOM.nextLong(), 0)));
            assertTrue(e.getMessage().endsWith("access denied: the database refused the user or password"), e.getMessage());
            assertFalse(e.getMessage().contains("not-the-password"), e.getMessage());
        }
    }

    @Test
    void aClosedPortFailsWithinAboutTheTimeoutSayingRefused() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        DatabaseSettings unreachable = DatabaseSettings.of("jdbc:mysql://127.0.0.1:" + closedPort + "/securejeebs",
                "sj_primary", "secret-password", Duration.ofSeconds(1));
        try (KexRecordStore store = new KexRecordStore(unreachable, sealer)) {
            long start = System.nanoTime();
            KexExportException e = assertThrows(KexExportException.class,
                    () -> store.export(recordOn(freshClient(), RANDOM.nextLong(), 0)));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(tookMs < 10_000, "gave up after " + tookMs + " ms");
            String m = e.getMessage();
            assertTrue(m.startsWith("exporting KEX record primary-a 10.213.0.10:"), m);
            assertTrue(m.contains(" to sj_primary@jdbc:mysql://127.0.0.1:" + closedPort + "/securejeebs failed after "), m);
            assertTrue(m.contains(" ms (limit 1000 ms): connection refused"), m);
            assertFalse(m.contains("secret-password"), m);
        }
    }

    @Test
    void aServerThatNeverAnswersFailsWithinAboutTheTimeoutSayingTimedOut() throws Exception {
        // The kernel completes the TCP handshake (backlog), but nobody ever sends MariaDB's greeting.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            DatabaseSettings settings = DatabaseSettings.of("jdbc:mysql://127.0.0.1:" + silent.getLocalPort() + "/securejeebs",
                    "sj_primary", "x", Duration.ofSeconds(1));
            try (KexRecordStore store = new KexRecordStore(settings, sealer)) {
                long start = System.nanoTime();
                KexExportException e = assertThrows(KexExportException.class,
                        () -> store.export(recordOn(freshClient(), RANDOM.nextLong(), 0)));
                long tookMs = (System.nanoTime() - start) / 1_000_000;
                assertTrue(tookMs >= 900 && tookMs < 10_000, "gave up after " + tookMs + " ms");
                assertTrue(e.getMessage().contains(" ms (limit 1000 ms): timed out"), e.getMessage());
            }
        }
    }

    @Test
    void aStatementStuckOnALockFailsWithinAboutTheTimeoutAndTheStoreRecovers(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        KexRecord record = recordOn(client, RANDOM.nextLong(), 0);
        byte[] digest = RecordBinding.sessionIdDigest(record.sessionId());
        try (Connection appliance = DriverManager.getConnection(db.jdbcUrl(), db.applianceUser(), db.appliancePassword());
             KexRecordStore store = new KexRecordStore(db.primary(Duration.ofMillis(1500)), sealer)) {
            // An uncommitted row with the same (session, ordinal): the primary's INSERT must wait for its lock.
            appliance.setAutoCommit(false);
            try (PreparedStatement hold = appliance.prepareStatement("INSERT INTO kex_record (primary_id, client_addr,"
                    + " client_port, server_addr, server_port, session_id_digest, ordinal, sealed)"
                    + " VALUES ('holder', '10.213.0.99', 1, '10.213.0.100', 22, ?, 0, x'00')")) {
                hold.setBytes(1, digest);
                hold.executeUpdate();
            }
            long start = System.nanoTime();
            KexExportException e = assertThrows(KexExportException.class, () -> store.export(record));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(tookMs < 10_000, "gave up after " + tookMs + " ms");
            assertTrue(e.getMessage().contains(" ms (limit 1500 ms): timed out"), e.getMessage());

            appliance.rollback();
            store.export(record); // the pool is healthy again and the row can now go in
        }
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            List<StoredKexRecord> rows = repository.findByConnection(client, SampleRecords.server());
            assertEquals(1, rows.size());
            assertSameRecord(record, opener.open(rows.get(0).decodeSealed(), expectation(client, 0)));
        }
    }

    @Test
    void eachExportIsLoggedAtDebugWithIdsAndTimeButNoSecrets(Database db) throws Exception {
        Logger logger = (Logger) LoggerFactory.getLogger(KexRecordStore.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        Level previous = logger.getLevel();
        logger.addAppender(appender);
        logger.setLevel(Level.DEBUG);
        InetSocketAddress client = freshClient();
        KexRecord record = recordOn(client, RANDOM.nextLong(), 0);
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(record);
        } finally {
            logger.detachAppender(appender);
            logger.setLevel(previous);
        }
        String digestPrefix = HexFormat.of().formatHex(RecordBinding.sessionIdDigest(record.sessionId()), 0, 4);
        List<String> debug = appender.list.stream().filter(ev -> ev.getLevel() == Level.DEBUG)
                .map(ILoggingEvent::getFormattedMessage).toList();
        assertEquals(1, debug.size(), appender.list.toString());
        String line = debug.get(0);
        assertTrue(line.matches("exported KEX record primary-a 10\\.213\\.0\\.10:" + client.getPort()
                + "->10\\.213\\.0\\.100:22 #0 sid-sha256:" + digestPrefix + " \\(\\d+ bytes sealed\\) in \\d+ ms"), line);
        for (ILoggingEvent event : appender.list) {
            String text = event.getFormattedMessage().toLowerCase();
            for (byte[] secret : List.of(record.sharedSecret(), record.exchangeHash(), record.sessionId(),
                    applianceKey.getEncoded(), exportKey.getEncoded())) {
                assertFalse(text.contains(HexFormat.of().formatHex(secret, 0, 6)), text);
            }
            assertFalse(text.contains(db.primaryPassword().toLowerCase()), "password in the log");
        }
    }

    // ---------------------------------------------------------------- bounded reads, deletion

    /** A raw row as whoever holds the primary's INSERT-only account could write it (any column, any blob). */
    private static void insertRaw(Database db, String primaryId, InetSocketAddress client, byte[] digest, int ordinal,
                                  byte[] sealed, Instant createdAt) throws SQLException {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.primaryUser(), db.primaryPassword());
             PreparedStatement insert = c.prepareStatement("INSERT INTO kex_record (primary_id, client_addr,"
                     + " client_port, server_addr, server_port, session_id_digest, ordinal, sealed, created_at)"
                     + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            insert.setString(1, primaryId);
            insert.setString(2, client.getAddress().getHostAddress());
            insert.setInt(3, client.getPort());
            insert.setString(4, "10.213.0.100");
            insert.setInt(5, 22);
            insert.setBytes(6, digest);
            insert.setInt(7, ordinal);
            insert.setBytes(8, sealed);
            insert.setTimestamp(9, java.sql.Timestamp.from(createdAt));
            insert.executeUpdate();
        }
    }

    private static byte[] randomDigest() {
        byte[] d = new byte[32];
        RANDOM.nextBytes(d);
        return d;
    }

    @Test
    void candidatesAreThatPrimarysRecordsOfThatOrdinalNewestFirstBoundedInRowsAndSize(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        long session = RANDOM.nextLong();
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(recordOn(client, session, 0));
            store.export(recordOn(client, session, 1));
        }
        Instant now = Instant.now();
        // Same 4-tuple and ordinal, but another primary's; and a blob far over the bound (never sent).
        insertRaw(db, "another-primary", client, randomDigest(), 0, new byte[] {1}, now);
        insertRaw(db, SampleRecords.PRIMARY_ID, client, randomDigest(), 0,
                new byte[KexRecordRepository.MAX_SEALED_BYTES + 1], now);
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            List<StoredKexRecord> rows = repository.candidates(SampleRecords.PRIMARY_ID, client, SampleRecords.server(),
                    0, 8);
            assertEquals(1, rows.size(), "only primary-a's small record #0");
            assertSameRecord(recordOn(client, session, 0), opener.open(rows.get(0).decodeSealed(), expectation(client, 0)));
            assertEquals(List.of(), repository.candidates("another-primary", freshClient(), SampleRecords.server(), 0, 8));
            assertTrue(repository.findByConnection(client, SampleRecords.server()).stream()
                    .allMatch(r -> r.sealed().length <= KexRecordRepository.MAX_SEALED_BYTES), "listings are bounded too");

            byte[] digest = RecordBinding.sessionIdDigest(recordOn(client, session, 0).sessionId());
            List<StoredKexRecord> rekey = repository.candidates(SampleRecords.PRIMARY_ID, digest, 1, 8);
            assertEquals(List.of(1), rekey.stream().map(StoredKexRecord::ordinal).toList());
            assertEquals(List.of(), repository.candidates("another-primary", digest, 1, 8));

            // Many rows on one 4-tuple: at most the limit, newest first.
            InetSocketAddress crowded = freshClient();
            for (int i = 0; i < 5; i++) {
                insertRaw(db, SampleRecords.PRIMARY_ID, crowded, randomDigest(), 0, new byte[] {(byte) i}, now);
            }
            List<StoredKexRecord> two = repository.candidates(SampleRecords.PRIMARY_ID, crowded, SampleRecords.server(),
                    0, 2);
            assertEquals(2, two.size());
            assertEquals(4, two.get(0).sealed()[0]);
            assertEquals(3, two.get(1).sealed()[0]);
        }
    }

    @Test
    void aClosedSessionsRecordsAreDeletedAndOnlyThose(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        long session = RANDOM.nextLong();
        long other = RANDOM.nextLong();
        try (KexRecordStore store = new KexRecordStore(db.primary(TIMEOUT), sealer)) {
            store.export(recordOn(client, session, 0));
            store.export(recordOn(client, session, 1));
            store.export(recordOn(client, other, 0)); // the same 4-tuple reused by a later session
        }
        byte[] digest = RecordBinding.sessionIdDigest(recordOn(client, session, 0).sessionId());
        byte[] otherDigest = RecordBinding.sessionIdDigest(recordOn(client, other, 0).sessionId());
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            assertEquals(0, repository.deleteSession("another-primary", digest), "another primary's: never");
            assertEquals(2, repository.deleteSession(SampleRecords.PRIMARY_ID, digest));
            assertEquals(List.of(), repository.findBySessionIdDigest(digest));
            assertEquals(1, repository.findBySessionIdDigest(otherDigest).size());
        }
    }

    @Test
    void recordsOlderThanTheRetentionAreDeletedInBatches(Database db) throws Exception {
        String primary = "purge-" + Long.toHexString(RANDOM.nextLong()); // no other test's rows
        InetSocketAddress client = freshClient();
        Instant old = Instant.now().minus(Duration.ofDays(10));
        List<byte[]> oldDigests = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            byte[] d = randomDigest();
            oldDigests.add(d);
            insertRaw(db, primary, client, d, 0, new byte[] {1}, old);
        }
        byte[] fresh = randomDigest();
        insertRaw(db, primary, client, fresh, 0, new byte[] {2}, Instant.now());
        byte[] othersOld = randomDigest();
        insertRaw(db, primary + "-other", client, othersOld, 0, new byte[] {3}, old);
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(TIMEOUT))) {
            assertEquals(2, repository.deleteOlderThan(primary, Duration.ofDays(7), 2));
            assertEquals(1, repository.deleteOlderThan(primary, Duration.ofDays(7), 2));
            assertEquals(0, repository.deleteOlderThan(primary, Duration.ofDays(7), 2));
            for (byte[] d : oldDigests) {
                assertEquals(List.of(), repository.findBySessionIdDigest(d));
            }
            assertEquals(1, repository.findBySessionIdDigest(fresh).size(), "a fresh record stays");
            assertEquals(1, repository.findBySessionIdDigest(othersOld).size(), "another primary's stays");
        }
    }
}
