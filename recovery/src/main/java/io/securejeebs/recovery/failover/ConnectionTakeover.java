package io.securejeebs.recovery.failover;

import io.securejeebs.kernel.RestoredSocket;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.io.IOException;

/**
 * Continues one application protocol on a connection restored on this host. An implementation takes
 * ownership of the restored socket, returns promptly, and carries the conversation on by itself.
 */
public interface ConnectionTakeover {
    /** The protocol it continues, as in the config's {@code service.protocol}. */
    String protocol();

    void resume(ConnectionSnapshot snapshot, RestoredSocket socket) throws IOException;
}
