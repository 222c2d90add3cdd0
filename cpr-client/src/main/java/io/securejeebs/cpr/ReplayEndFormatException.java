package io.securejeebs.cpr;

/** A REPLAY_END payload that is truncated, malformed or of another format version; the message says where. */
public final class ReplayEndFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public ReplayEndFormatException(String message) {
        super(message);
    }
}
