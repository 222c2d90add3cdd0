package io.securejeebs.keyexport;

/** A key-exchange record could not be sealed or stored. The message never contains key material. */
public class KexExportException extends Exception {
    public KexExportException(String message) {
        super(message);
    }

    public KexExportException(String message, Throwable cause) {
        super(message, cause);
    }
}
