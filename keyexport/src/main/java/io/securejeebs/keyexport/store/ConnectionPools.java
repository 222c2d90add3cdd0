package io.securejeebs.keyexport.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * Builds the HikariCP pools of the store and the repository so that one time budget bounds everything:
 * waiting for a pooled connection, the TCP connect, the server's greeting, and lock waits on the server.
 */
final class ConnectionPools {
    private ConnectionPools() {
    }

    static HikariDataSource create(String poolName, DatabaseSettings settings) {
        long timeoutMs = settings.timeout().toMillis();
        HikariConfig config = new HikariConfig();
        config.setPoolName(poolName);
        config.setJdbcUrl(settings.jdbcUrl());
        config.setUsername(settings.user());
        config.setPassword(settings.password());
        config.setMaximumPoolSize(settings.poolSize());
        config.setMinimumIdle(settings.poolSize()); // warm connections: an export should not pay for a connect
        config.setConnectionTimeout(timeoutMs);
        config.setValidationTimeout(Math.max(250, timeoutMs / 2));
        // Start even when the database is down: the primary must come up, and exports then fail (and say why).
        config.setInitializationFailTimeout(-1);
        // Connector/J: bound the TCP connect and every read (the greeting included) on fresh connections.
        config.addDataSourceProperty("connectTimeout", String.valueOf(timeoutMs));
        config.addDataSourceProperty("socketTimeout", String.valueOf(timeoutMs));
        // Server side: a statement waiting for a row lock gives up too, instead of inserting long after
        // the client stopped waiting (innodb_lock_wait_timeout is whole seconds, at least 1).
        config.setConnectionInitSql("SET SESSION innodb_lock_wait_timeout = " + Math.max(1, (timeoutMs + 999) / 1000));
        return new HikariDataSource(config);
    }
}
