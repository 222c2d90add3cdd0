package io.securejeebs.monitor.app;

import java.util.List;

/**
 * What an operator sees of an application session in {@code securejeebs status}: implemented by the
 * resume state of trackers that know users and channels (SSH). Never carries secrets.
 */
public interface SessionSummary {
    /** The authenticated user, or null before authentication succeeded. */
    String user();

    /** Channels open now (opened and not yet closed by both sides). */
    int openChannels();

    /** The SFTP channels whose requests are followed, in channel order; empty when there are none. */
    default List<SftpChannel> sftpChannels() {
        return List.of();
    }

    /**
     * One SFTP channel, as an operator sees it.
     *
     * @param channel the server's channel id
     * @param openHandles files and directories the client holds open on it
     * @param notFollowed why its requests are no longer followed (its handles are then unknown), null while they are
     */
    record SftpChannel(int channel, int openHandles, String notFollowed) {}
}
