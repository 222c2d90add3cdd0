package io.securejeebs.keyexport.store;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.sql.SQLTransientConnectionException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Says in a few words why a database operation failed: refused, unreachable, timed out, access denied,
 * duplicate... The drivers' own messages are long and nested (HikariCP wraps Connector/J wraps the
 * socket's exception); the most specific cause is usually the innermost one.
 */
final class DatabaseFailure {
    static final int ER_DUP_ENTRY = 1062;
    static final int ER_ACCESS_DENIED = 1045;
    static final int ER_TABLEACCESS_DENIED = 1142;
    static final int ER_COLUMNACCESS_DENIED = 1143;
    static final int ER_BAD_DB = 1049;
    static final int ER_NO_SUCH_TABLE = 1146;
    static final int ER_LOCK_WAIT_TIMEOUT = 1205;
    static final int ER_STATEMENT_TIMEOUT_MARIADB = 1969;
    static final int ER_QUERY_TIMEOUT_MYSQL = 3024;

    private DatabaseFailure() {
    }

    static String describe(Throwable failure) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = failure; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
        }
        Collections.reverse(chain); // innermost first
        for (Throwable t : chain) {
            String reason = specific(t);
            if (reason != null) {
                return reason;
            }
        }
        if (failure instanceof SQLTransientConnectionException) {
            return "timed out waiting for a database connection (none could be opened in time, or all were busy)";
        }
        if (failure instanceof SQLException sql) {
            return "SQL error " + sql.getErrorCode() + " (SQLSTATE " + sql.getSQLState() + "): " + firstLine(sql.getMessage());
        }
        return failure.getClass().getSimpleName() + ": " + firstLine(failure.getMessage());
    }

    private static String specific(Throwable t) {
        if (t instanceof SQLException sql) {
            switch (sql.getErrorCode()) {
                case ER_DUP_ENTRY:
                    return "already stored: the database holds a record with this session and ordinal (duplicate key)";
                case ER_ACCESS_DENIED:
                    return "access denied: the database refused the user or password";
                case ER_TABLEACCESS_DENIED, ER_COLUMNACCESS_DENIED:
                    return "permission denied: " + firstLine(sql.getMessage());
                case ER_BAD_DB:
                    return "no such database: " + firstLine(sql.getMessage());
                case ER_NO_SUCH_TABLE:
                    return "no such table (load conf/schema.sql): " + firstLine(sql.getMessage());
                case ER_LOCK_WAIT_TIMEOUT:
                    return "timed out waiting for a row lock on the server";
                case ER_STATEMENT_TIMEOUT_MARIADB, ER_QUERY_TIMEOUT_MYSQL:
                    return "timed out: the server stopped the statement";
                default:
                    break;
            }
            if (t instanceof SQLTimeoutException) {
                return "timed out: the statement did not finish in time and was cancelled";
            }
            return null;
        }
        if (t instanceof SocketTimeoutException) {
            return "timed out: the database did not answer in time";
        }
        if (t instanceof ConnectException) {
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("refused")) {
                return "connection refused: nothing accepts connections at that address and port";
            }
            if (m.contains("timed out")) {
                return "timed out connecting: the database host is unreachable or drops packets";
            }
            return "cannot connect: " + firstLine(t.getMessage());
        }
        if (t instanceof NoRouteToHostException) {
            return "unreachable: no route to the database host";
        }
        if (t instanceof UnknownHostException) {
            return "unreachable: unknown database host " + firstLine(t.getMessage());
        }
        if (t instanceof SocketException && String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT).contains("unreachable")) {
            return "unreachable: " + firstLine(t.getMessage());
        }
        return null;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "(no message)";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }
}
