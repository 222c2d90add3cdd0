package io.securejeebs.monitor.app;

/**
 * What an operator sees of an application session in {@code securejeebs status}: implemented by the
 * resume state of trackers that know users and channels (SSH). Never carries secrets.
 */
public interface SessionSummary {
    /** The authenticated user, or null before authentication succeeded. */
    String user();

    /** Channels open now (opened and not yet closed by both sides). */
    int openChannels();
}
