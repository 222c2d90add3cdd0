package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.ConnectionKey;

/** Makes the tracker for each new connection of a watched service. */
@FunctionalInterface
public interface ApplicationTrackerFactory {
    /**
     * @param updates how the tracker may change its state later, from another thread
     */
    ApplicationTracker create(ConnectionKey key, ApplicationUpdates updates);
}
