package io.securejeebs.monitor.tcp;

/** The captured stream of one connection can no longer be followed exactly; the reason says why. */
public final class TrackingException extends Exception {
    public TrackingException(String reason) {
        super(reason, null, false, false);
    }
}
