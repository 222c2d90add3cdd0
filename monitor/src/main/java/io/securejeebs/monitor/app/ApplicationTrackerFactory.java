package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.ConnectionKey;

/** Makes the tracker for each new connection of a watched service. */
@FunctionalInterface
public interface ApplicationTrackerFactory {
    ApplicationTracker create(ConnectionKey key);
}
