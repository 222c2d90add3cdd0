package io.securejeebs.monitor.app;

/**
 * An application tracker's state at one instant, as a restarted appliance needs it to follow the connection
 * on from there (see {@code io.securejeebs.monitor.checkpoint}). Immutable; it never holds keys.
 */
public interface ApplicationCheckpoint {
    /** The protocol of the tracker that made it, as {@link ApplicationTracker#protocol()}. */
    String protocol();
}
