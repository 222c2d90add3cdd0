package io.securejeebs.cpr;

/** A session that cannot be replayed, or a replay step that failed; the message says which and why. */
public class ReplayException extends Exception {
    public ReplayException(String message) {
        super(message);
    }

    public ReplayException(String message, Throwable cause) {
        super(message, cause);
    }
}
