package io.securejeebs.keyexport.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.store.PrivateMariaDb.Database;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Delete;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Save;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.StoredCheckpoint;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The checkpoint table as {@code sj_appliance} uses it, against a real private MariaDB. */
@ExtendWith(PrivateMariaDb.class)
class SessionCheckpointRepositoryTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(3);

    /** Keys of this test only: the database is shared by the whole run. */
    private final String prefix = "test-" + UUID.randomUUID().toString().substring(0, 8) + "-";

    private Map<String, StoredCheckpoint> mine(SessionCheckpointRepository repo) throws RecordStoreException {
        return repo.loadAll().stream().filter(r -> r.connKey().startsWith(prefix))
                .collect(Collectors.toMap(StoredCheckpoint::connKey, Function.identity()));
    }

    @Test
    void savesReplacesMarksAndDeletesInOneTransactionPerBatch(Database db) throws Exception {
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(TIMEOUT))) {
            byte[] a = {1, 2, 3};
            byte[] b = new byte[100_000];
            b[99_999] = 7;
            repo.apply(List.of(new Save(prefix + "a", a, true, null), new Save(prefix + "b", b, true, null)));
            Map<String, StoredCheckpoint> rows = mine(repo);
            assertEquals(2, rows.size());
            assertArrayEquals(a, rows.get(prefix + "a").state());
            assertArrayEquals(b, rows.get(prefix + "b").state());
            assertTrue(rows.get(prefix + "a").recoverable());
            assertNull(rows.get(prefix + "a").reason());

            String longReason = "x".repeat(400);
            repo.apply(List.of(new Save(prefix + "a", new byte[] {9}, true, null),
                    new Save(prefix + "b", null, false, longReason)));
            rows = mine(repo);
            assertArrayEquals(new byte[] {9}, rows.get(prefix + "a").state(), "replaced, not duplicated");
            assertNull(rows.get(prefix + "b").state());
            assertFalse(rows.get(prefix + "b").recoverable());
            assertEquals(SessionCheckpointRepository.MAX_REASON, rows.get(prefix + "b").reason().length());

            // A batch that fails half-way (a key longer than the column) changes nothing.
            String tooLong = prefix + "z".repeat(SessionCheckpointRepository.MAX_CONN_KEY);
            assertThrows(RecordStoreException.class, () -> repo.apply(List.of(new Delete(prefix + "a"),
                    new Save(tooLong, new byte[] {1}, true, null))));
            assertEquals(2, mine(repo).size(), "the delete was rolled back with the failed save");

            repo.apply(List.of(new Delete(prefix + "a"), new Delete(prefix + "b"), new Delete(prefix + "never")));
            assertTrue(mine(repo).isEmpty());
        }
    }

    @Test
    void dropsRowsOlderThanTheRetention(Database db) throws Exception {
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(db.appliance(TIMEOUT))) {
            repo.apply(List.of(new Save(prefix + "old", new byte[] {1}, true, null),
                    new Save(prefix + "new", new byte[] {2}, true, null)));
            try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.applianceUser(), db.appliancePassword());
                 PreparedStatement age = c.prepareStatement("UPDATE session_checkpoint"
                         + " SET updated_at = TIMESTAMPADD(HOUR, -3, CURRENT_TIMESTAMP(6)) WHERE conn_key = ?")) {
                age.setString(1, prefix + "old");
                assertEquals(1, age.executeUpdate());
            }
            assertTrue(repo.deleteOlderThan(Duration.ofHours(2)) >= 1);
            assertEquals(List.of(prefix + "new"), List.copyOf(mine(repo).keySet()));
            repo.apply(List.of(new Delete(prefix + "new")));
        }
    }

    @Test
    void thePrimaryAccountCannotTouchCheckpoints(Database db) throws Exception {
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(db.primary(TIMEOUT))) {
            RecordStoreException read = assertThrows(RecordStoreException.class, repo::loadAll);
            assertTrue(read.getMessage().contains("permission denied"), read.getMessage());
            RecordStoreException write = assertThrows(RecordStoreException.class,
                    () -> repo.apply(List.of(new Save(prefix + "p", new byte[] {1}, true, null))));
            assertTrue(write.getMessage().contains("permission denied"), write.getMessage());
        }
    }

    @Test
    void aDatabaseThatIsDownFailsWithinTheBudget() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        DatabaseSettings down = DatabaseSettings.of("jdbc:mysql://127.0.0.1:" + port + "/securejeebs", "sj_appliance",
                "nope", Duration.ofMillis(500));
        try (SessionCheckpointRepository repo = new SessionCheckpointRepository(down)) {
            long t0 = System.nanoTime();
            RecordStoreException e = assertThrows(RecordStoreException.class,
                    () -> repo.apply(List.of(new Save(prefix + "x", new byte[] {1}, true, null))));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 3000, "took " + ms + " ms");
            assertTrue(e.getMessage().contains("sj_appliance@jdbc:mysql://127.0.0.1:" + port), e.getMessage());
        }
    }
}
