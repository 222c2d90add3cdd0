package io.securejeebs.keyexport.store;

import java.time.Duration;
import java.util.Objects;

/**
 * How to reach the KEX record database: a JDBC URL without credentials (e.g.
 * {@code jdbc:mysql://10.213.0.3:3306/securejeebs}), the account and its password, the time budget of one
 * operation, and the pool size. The primary uses the insert-only account {@code sj_primary}, the
 * appliance {@code sj_appliance}.
 *
 * @param timeout bounds one whole operation: getting a connection (connecting included) plus running the
 *                statement. At least 250 ms (HikariCP's floor).
 * @param poolSize connections kept open; about the number of key exchanges expected at the same moment
 */
public record DatabaseSettings(String jdbcUrl, String user, String password, Duration timeout, int poolSize) {
    public static final Duration MIN_TIMEOUT = Duration.ofMillis(250);
    public static final Duration MAX_TIMEOUT = Duration.ofMinutes(10);
    public static final int DEFAULT_POOL_SIZE = 4;

    public DatabaseSettings {
        Objects.requireNonNull(jdbcUrl, "jdbcUrl");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(password, "password");
        Objects.requireNonNull(timeout, "timeout");
        if (!jdbcUrl.startsWith("jdbc:")) {
            throw new IllegalArgumentException("not a JDBC URL: " + redactedUrl(jdbcUrl));
        }
        if (timeout.compareTo(MIN_TIMEOUT) < 0 || timeout.compareTo(MAX_TIMEOUT) > 0) {
            throw new IllegalArgumentException("timeout must be between " + MIN_TIMEOUT.toMillis() + " ms and "
                    + MAX_TIMEOUT.toMinutes() + " min, got " + timeout.toMillis() + " ms");
        }
        if (poolSize < 1 || poolSize > 64) {
            throw new IllegalArgumentException("poolSize must be between 1 and 64, got " + poolSize);
        }
    }

    public static DatabaseSettings of(String jdbcUrl, String user, String password, Duration timeout) {
        return new DatabaseSettings(jdbcUrl, user, password, timeout, DEFAULT_POOL_SIZE);
    }

    public DatabaseSettings withTimeout(Duration newTimeout) {
        return new DatabaseSettings(jdbcUrl, user, password, newTimeout, poolSize);
    }

    /** The URL without its query string, which could carry credentials: safe for logs and messages. */
    public String redactedUrl() {
        return redactedUrl(jdbcUrl);
    }

    private static String redactedUrl(String url) {
        int q = url.indexOf('?');
        return q < 0 ? url : url.substring(0, q) + "?...";
    }

    /** Where and as whom, never the password: e.g. {@code sj_primary@jdbc:mysql://10.213.0.3:3306/securejeebs}. */
    public String describe() {
        return user + "@" + redactedUrl();
    }

    @Override
    public String toString() {
        return "DatabaseSettings[" + describe() + ", timeout " + timeout.toMillis() + " ms, pool " + poolSize + "]";
    }
}
