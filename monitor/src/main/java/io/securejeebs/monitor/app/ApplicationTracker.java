package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.StreamSink;

/**
 * Follows the application protocol of one connection on top of its reassembled streams, to tell how far
 * the server application has consumed the client's bytes, and what it takes to resume the conversation
 * on another host. The TCP layer keeps the client bytes from {@link #clientConsumedOffset()} on, so a
 * restored socket can hand them to the application that takes over.
 */
public interface ApplicationTracker {
    /** Protocol name, as in the config ("line-echo", later "ssh"). */
    String protocol();

    /** Receives the in-order client-to-server bytes. */
    StreamSink clientStream();

    /** Receives the in-order server-to-client bytes. */
    StreamSink serverStream();

    /** Stream offset up to which the server application has consumed client bytes, as the wire proves. */
    long clientConsumedOffset();

    /** What the taking-over application needs to continue; immutable. */
    Object resumeState();

    /**
     * The server has acknowledged client bytes up to {@code offset}. A tracker that follows the server's
     * state only as far as the server provably received it processes client bytes from here.
     */
    default void onClientBytesAcknowledged(long offset) throws io.securejeebs.monitor.tcp.TrackingException {
    }

    /**
     * At a failover: the dead server may have read the client bytes up to {@code offset} although it never
     * acknowledged them. A protocol that must not act on a byte twice takes them as consumed here; by default
     * nothing changes (they stay in the restored socket's receive queue and are delivered).
     */
    default void onClientBytesPossiblyRead(long offset) throws io.securejeebs.monitor.tcp.TrackingException {
    }

    /** Why the application state cannot be taken over right now, or null if it can. */
    default String unrecoverableReason() {
        return null;
    }

    /**
     * The state to checkpoint now, at the last whole message of each direction plus the bytes after it.
     * Called under the connection table's lock; the result must share nothing mutable with the tracker.
     *
     * @throws CheckpointUnavailableException when the state cannot be checkpointed now, or ever
     */
    default ApplicationCheckpoint checkpoint() throws CheckpointUnavailableException {
        throw new CheckpointUnavailableException(protocol() + " connections are not checkpointed", true);
    }

    /**
     * Whether a state-setting message (a login, a channel opened, closed or asked something, a key exchange's
     * record applied) came since the last call: the connection's checkpoint should then be written soon.
     * The request is cleared by the call.
     */
    default boolean takeCheckpointRequest() {
        return false;
    }
}
