package io.securejeebs.recovery.failover;

import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.io.IOException;
import java.util.List;

/**
 * Rebuilds one tracked connection on this host and carries its application protocol on. The connection
 * is guarded (its inbound packets dropped) until the implementation calls {@code release}, which it must
 * do only once the restored socket exists.
 */
public interface ConnectionTakeover {
    /** Lets the connection's packets through: its socket is in place. */
    @FunctionalInterface
    interface GuardRelease {
        void release() throws IOException;
    }

    /**
     * How a takeover went.
     *
     * @param detail   one line for the log and the failover report
     * @param channels what happened to each of the connection's channels, one line each (empty when the
     *                 protocol has none)
     */
    record Result(String detail, List<String> channels) {
        public Result {
            channels = List.copyOf(channels);
        }
    }

    /** The protocol it continues, as in the config's {@code service.protocol}. */
    String protocol();

    /**
     * Restores the connection from {@code snapshot} and resumes its application. Returns promptly once
     * the connection is live again.
     *
     * @return how it went, for the log and the failover report
     * @throws IOException with the reason if it could not be taken over (the caller then resets the connection
     *                     and releases the guard, so the client learns of it at once)
     */
    Result takeOver(ConnectionSnapshot snapshot, GuardRelease release) throws IOException;
}
