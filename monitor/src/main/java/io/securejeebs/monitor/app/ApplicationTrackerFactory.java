package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.TrackingException;

/** Makes the tracker for each new connection of a watched service. */
@FunctionalInterface
public interface ApplicationTrackerFactory {
    /**
     * @param updates how the tracker may change its state later, from another thread
     */
    ApplicationTracker create(ConnectionKey key, ApplicationUpdates updates);

    /**
     * Rebuilds the tracker of a connection from its checkpoint (a restarted appliance). The tracker may
     * fetch what it needs again (SSH: the KEX records) and deliver it later through {@code updates}.
     *
     * @throws TrackingException when this connection cannot be followed on from that state
     */
    default ApplicationTracker resume(ConnectionKey key, ApplicationUpdates updates, ApplicationCheckpoint state)
            throws TrackingException {
        throw new TrackingException("this appliance cannot resume " + state.protocol() + " connections from a checkpoint");
    }
}
