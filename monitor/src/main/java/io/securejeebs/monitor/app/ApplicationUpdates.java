package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.TrackingException;

/**
 * Lets a tracker change its state from another thread (e.g. when a KEX record arrives from the database)
 * under the same lock as the capture path, as if a segment had arrived.
 */
@FunctionalInterface
public interface ApplicationUpdates {
    /** One change to a tracker's state. */
    @FunctionalInterface
    interface ApplicationUpdate {
        void apply() throws TrackingException;
    }

    /**
     * Runs {@code update} if {@code app} still tracks connection {@code key} and the connection is still
     * followed; a {@link TrackingException} makes that connection unrecoverable with its message.
     */
    void apply(ConnectionKey key, ApplicationTracker app, ApplicationUpdate update);

    /** For trackers that never update asynchronously. */
    ApplicationUpdates NONE = (key, app, update) -> { };
}
