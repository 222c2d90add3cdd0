package io.securejeebs.recovery.server;

/** A session could not be recovered; the message says which session and exactly why (never key material). */
public final class RecoveryFailedException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String fingerprint;
    private final String reason;

    public RecoveryFailedException(String fingerprint, String reason) {
        super("session " + fingerprint + ": " + reason);
        this.fingerprint = fingerprint;
        this.reason = reason;
    }

    public RecoveryFailedException(String fingerprint, String reason, Throwable cause) {
        super("session " + fingerprint + ": " + reason, cause);
        this.fingerprint = fingerprint;
        this.reason = reason;
    }

    public String fingerprint() {
        return fingerprint;
    }

    public String reason() {
        return reason;
    }
}
