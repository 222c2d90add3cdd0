package io.securejeebs.monitor.app;

/**
 * A connection cannot be checkpointed right now. A passing state (a key exchange in progress, a hole the
 * next retransmission fills) is retried later; a lasting one (the session ended, or this protocol is not
 * checkpointed) replaces the stored checkpoint with the reason.
 */
public final class CheckpointUnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    private final boolean lasting;

    public CheckpointUnavailableException(String reason, boolean lasting) {
        super(reason, null, false, false); // asked often on the writer's scans: no stack trace
        this.lasting = lasting;
    }

    /** Whether the connection will never be checkpointable again. */
    public boolean lasting() {
        return lasting;
    }
}
