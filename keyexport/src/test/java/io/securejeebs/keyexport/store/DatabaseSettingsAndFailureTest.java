package io.securejeebs.keyexport.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Settings validation, and the wording of failures the database tests cannot provoke on loopback. */
class DatabaseSettingsAndFailureTest {

    @Test
    void settingsNeverShowThePasswordEvenInTheUrl() {
        DatabaseSettings s = DatabaseSettings.of("jdbc:mysql://10.213.0.3:3306/securejeebs?password=hunter2",
                "sj_primary", "s3cret", Duration.ofSeconds(2));
        assertEquals("sj_primary@jdbc:mysql://10.213.0.3:3306/securejeebs?...", s.describe());
        assertFalse(s.toString().contains("s3cret") || s.toString().contains("hunter2"), s.toString());
    }

    @Test
    void timeoutsOutsideWhatHikariCanHonourAreRefused() {
        assertEquals("timeout must be between 250 ms and 10 min, got 100 ms", assertThrows(IllegalArgumentException.class,
                () -> DatabaseSettings.of("jdbc:mysql://h/db", "u", "p", Duration.ofMillis(100))).getMessage());
        assertThrows(IllegalArgumentException.class, () -> DatabaseSettings.of("mysql://h/db", "u", "p", Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class,
                () -> new DatabaseSettings("jdbc:mysql://h/db", "u", "p", Duration.ofSeconds(1), 0));
    }

    /** HikariCP's timeout, wrapping Connector/J's link failure, wrapping the socket's exception. */
    private static SQLException wrapped(Exception socketLevel) {
        SQLException link = new SQLException("Communications link failure\n\nThe last packet ...", "08S01", 0, socketLevel);
        return new SQLTransientConnectionException("pool - Connection is not available, request timed out after 1001ms", link);
    }

    @Test
    void theInnermostCauseNamesTheFailure() {
        assertEquals("unreachable: no route to the database host",
                DatabaseFailure.describe(wrapped(new NoRouteToHostException("No route to host"))));
        assertEquals("unreachable: Network is unreachable",
                DatabaseFailure.describe(wrapped(new SocketException("Network is unreachable"))));
        assertEquals("timed out connecting: the database host is unreachable or drops packets",
                DatabaseFailure.describe(wrapped(new ConnectException("Connection timed out"))));
        assertEquals("connection refused: nothing accepts connections at that address and port",
                DatabaseFailure.describe(wrapped(new ConnectException("Connection refused"))));
        assertEquals("timed out: the database did not answer in time",
                DatabaseFailure.describe(wrapped(new SocketTimeoutException("Read timed out"))));
        assertEquals("timed out waiting for a database connection (none could be opened in time, or all were busy)",
                DatabaseFailure.describe(new SQLTransientConnectionException("pool - Connection is not available")));
        assertEquals("SQL error 1406 (SQLSTATE 22001): Data too long for column 'primary_id' at row 1",
                DatabaseFailure.describe(new SQLException("Data too long for column 'primary_id' at row 1\nmore", "22001", 1406)));
    }
}
