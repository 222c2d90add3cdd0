package io.securejeebs.monitor.checkpoint;

/** A stored checkpoint cannot be read: corrupt, truncated, or of a format version this build does not know. */
public final class CheckpointFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public CheckpointFormatException(String message) {
        super(message);
    }
}
