package io.securejeebs.recovery.failover;

import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.io.IOException;

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

    /** The protocol it continues, as in the config's {@code service.protocol}. */
    String protocol();

    /**
     * Restores the connection from {@code snapshot} and resumes its application. Returns promptly once
     * the connection is live again.
     *
     * @return a one-line account of how it went, for the log and the failover report
     * @throws IOException with the reason if it could not be taken over (the caller then releases the
     *                     guard, so the client gets a prompt RST)
     */
    String takeOver(ConnectionSnapshot snapshot, GuardRelease release) throws IOException;
}
