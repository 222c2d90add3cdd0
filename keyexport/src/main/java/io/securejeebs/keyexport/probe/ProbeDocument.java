package io.securejeebs.keyexport.probe;

import java.util.List;

/**
 * TEST ONLY. What the primary's state probe answers: every live session's transport and channel state, read
 * under the session's own locks. The field names are the JSON names.
 *
 * @param primaryId the primary's {@code primary.id}
 * @param takenAtEpochMillis when the document was put together
 * @param sessions every live session, ordered by client address and port
 */
public record ProbeDocument(String primaryId, long takenAtEpochMillis, List<Session> sessions) {

    /**
     * One session.
     *
     * @param clientIp the client's address, as the primary's socket sees it
     * @param clientPort the client's port
     * @param serverIp the primary's address of this connection
     * @param serverPort the primary's port of this connection
     * @param sessionId the first 8 hex digits of SHA-256(session id); never the id itself; null before the first
     *                  key exchange finished
     * @param user the authenticated user; null before authentication succeeded
     * @param kexCount key exchanges that reached the export point so far (1 after the initial one, +1 per rekey)
     * @param seqi MINA's sequence number of the next packet from the client
     * @param seqo MINA's sequence number of the next packet to the client
     * @param inboundPacketInProgress whether part of a client packet has been read (and, with a non-ETM MAC,
     *                                its first block decrypted) while the rest has not arrived: positions are
     *                                then mid-packet
     * @param c2s the client-to-server direction (the primary's inbound)
     * @param s2c the server-to-client direction (the primary's outbound)
     * @param channels the open channels of the connection service, by local id
     * @param sftpHandles the handles open in the session's SFTP subsystems, in the order they were opened
     * @param error why the transport fields are null (a lock could not be taken in time), or null
     */
    public record Session(String clientIp, int clientPort, String serverIp, int serverPort, String sessionId,
                          String user, int kexCount, Long seqi, Long seqo, Boolean inboundPacketInProgress,
                          Direction c2s, Direction s2c, List<Channel> channels, List<SftpHandle> sftpHandles,
                          String error) {}

    /**
     * One direction's cipher state, as {@code io.securejeebs.keyexport.kex.CipherPosition(sequence, blocks)}.
     *
     * @param cipher the SSH name of the cipher in use ("none" before the first NEWKEYS)
     * @param mac the SSH name of the MAC in use; null for AEAD ciphers and before the first NEWKEYS
     * @param sequence the sequence number of the next packet in this direction
     * @param blocks aes*-ctr: 16-byte blocks through the cipher since this direction's NEWKEYS; aes*-gcm: packets
     *               since NEWKEYS (GCM invocation counter minus the initial one); chacha20-poly1305: packets since
     *               NEWKEYS (the cipher is keyed by {@code sequence} alone); 0 for "none"; null when the cipher's
     *               position cannot be read (a mode without position arithmetic)
     */
    public record Direction(String cipher, String mac, long sequence, Long blocks) {}

    /**
     * One channel, from the primary's side.
     *
     * @param localId the primary's channel id
     * @param remoteId the client's channel id (the recipient of the primary's messages)
     * @param type "session", "direct-tcpip", ...
     * @param localWindow bytes the client may still send now
     * @param localWindowMax the window size the primary restores with WINDOW_ADJUST
     * @param localMaxPacket the largest data packet the primary accepts
     * @param remoteWindow bytes the primary may still send now
     * @param remoteMaxPacket the largest data packet the client accepts
     * @param eofSent whether the primary sent CHANNEL_EOF
     * @param eofReceived whether the client sent CHANNEL_EOF
     * @param closeSent whether the primary sent CHANNEL_CLOSE
     * @param closeReceived whether the client sent CHANNEL_CLOSE
     */
    public record Channel(long localId, long remoteId, String type, long localWindow, long localWindowMax,
                          long localMaxPacket, long remoteWindow, long remoteMaxPacket, boolean eofSent,
                          boolean eofReceived, boolean closeSent, boolean closeReceived) {}

    /**
     * A handle open in one of the session's SFTP subsystems, as MINA's SFTP event listeners report it (the
     * handle's channel is not known to them).
     *
     * @param handle the handle string the client holds, in hex of its bytes on the wire
     * @param kind "file" or "directory"
     * @param path the path MINA resolved the request's path to
     * @param offset for a file, the offset just past the latest read or write MINA was asked for on it; 0 before
     *               any, and for a directory
     */
    public record SftpHandle(String handle, String kind, String path, long offset) {}
}
