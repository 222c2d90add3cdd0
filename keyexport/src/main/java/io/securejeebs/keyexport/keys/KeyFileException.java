package io.securejeebs.keyexport.keys;

/**
 * A key file could not be written, read or used. The message names the file and says what to do;
 * it never contains key material.
 */
public final class KeyFileException extends Exception {
    private static final long serialVersionUID = 1L;

    public KeyFileException(String message) {
        super(message);
    }

    public KeyFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
