package io.securejeebs.monitor.capture;

/** The capture could not be opened or configured. */
public final class CaptureException extends Exception {
    public CaptureException(String message, Throwable cause) {
        super(message, cause);
    }
}
