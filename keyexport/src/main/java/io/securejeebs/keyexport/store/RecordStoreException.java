package io.securejeebs.keyexport.store;

/** Reading KEX records from the database (or writing checkpoints to it) failed; the message says where, as whom, and why. */
public final class RecordStoreException extends Exception {
    private static final long serialVersionUID = 1L;

    public RecordStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
