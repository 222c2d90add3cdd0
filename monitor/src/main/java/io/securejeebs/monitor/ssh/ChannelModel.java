package io.securejeebs.monitor.ssh;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.List;
import java.util.Map;

/**
 * One SSH channel as the wire shows it, at one instant. Ids and windows are named from the server's side,
 * as MINA holds them: the server's channel id is its local id, and its local window is what the client may
 * still send.
 *
 * @param serverId the server's channel id (MINA's local id)
 * @param clientId the client's channel id (MINA's remote id)
 * @param type channel type: session, direct-tcpip, …
 * @param serverWindow bytes the client may still send on this channel (MINA's local window)
 * @param serverMaxPacket the largest data packet the server accepts
 * @param clientWindow bytes the server may still send on this channel (MINA's remote window)
 * @param clientMaxPacket the largest data packet the client accepts
 * @param pty the pty-req with the latest window-change applied, or null
 * @param env environment variables the client asked for, in order
 * @param command "shell", "exec" or "subsystem", or null before one was requested
 * @param commandArgument the exec command line or the subsystem name
 * @param openedInPrefix whether the channel was opened inside the verbatim replay prefix
 * @param eofFromClient whether the client sent CHANNEL_EOF
 * @param eofFromServer whether the server sent CHANNEL_EOF
 * @param closeFromClient whether the client sent CHANNEL_CLOSE
 * @param closeFromServer whether the server sent CHANNEL_CLOSE
 * @param openPayload the client's CHANNEL_OPEN payload (replayed when opened after the prefix)
 * @param requestsAfterPrefix plaintext CHANNEL_REQUEST payloads sent after the prefix, in order, window
 *                            changes folded into the latest one
 * @param commandLines command lines typed into a shell channel, latest last (only when enabled)
 * @param sftp for a channel whose subsystem is "sftp" (when SFTP requests are followed): the version, the
 *             open handles, or why they are not followed; null for any other channel
 */
public record ChannelModel(
        int serverId,
        int clientId,
        String type,
        long serverWindow,
        int serverMaxPacket,
        long clientWindow,
        int clientMaxPacket,
        PtyRequest pty,
        Map<String, String> env,
        String command,
        String commandArgument,
        boolean openedInPrefix,
        boolean eofFromClient,
        boolean eofFromServer,
        boolean closeFromClient,
        boolean closeFromServer,
        @JsonIgnore byte[] openPayload,
        @JsonIgnore List<byte[]> requestsAfterPrefix,
        @JsonIgnore List<String> commandLines,
        SftpModel sftp) {

    /** A pty-req, with the size of the latest window-change. */
    public record PtyRequest(String term, int columns, int rows, int widthPixels, int heightPixels,
                             @JsonIgnore byte[] modes) {}

    public boolean open() {
        return !(closeFromClient && closeFromServer);
    }
}
