package io.securejeebs.keyexport.kex;

/** A KEX record does not hold what it must to rebuild the exchange; the message names what is wrong. */
public final class KexRecordException extends Exception {
    public KexRecordException(String message) {
        super(message);
    }

    public KexRecordException(String message, Throwable cause) {
        super(message, cause);
    }
}
