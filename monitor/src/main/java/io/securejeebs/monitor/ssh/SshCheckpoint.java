package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.monitor.app.ApplicationCheckpoint;
import java.util.List;

/**
 * An {@link SshSessionTracker}'s state at a checkpoint: where it stood after the last whole packet of each
 * direction, plus the bytes it holds after that, so that a restarted appliance can follow the session on.
 * Immutable; the arrays are owned by the checkpoint.
 *
 * <p>What it does not hold: keys, K, H, the KEX records, or any plaintext of user authentication. A resumed
 * tracker fetches the records of the key exchanges in force again (by ordinal, from its
 * {@link KexRecordSource}: sealed in the database, opened with the appliance's key) and derives the keys
 * anew. The session id is represented by its SHA-256 only, to check that the records fetched again belong
 * to this very session. The secret-looking parts are ciphertext already on the wire: the replay prefix
 * (which carries the encrypted login) and the tails of incomplete packets. Shell command lines
 * ({@code recovery.shell-history}) are never checkpointed: they may hold secrets, and stay in memory only.
 * An SFTP channel's state ({@link SftpModel}: versions, open handles with their paths, flags and offsets,
 * requests awaiting their reply, SFTP packet headers) is, so that its handles are still known after a
 * restart; it never holds file data.
 *
 * @param sessionIdDigest SHA-256 of the session id (from record #0)
 * @param keyExchanges KEX records applied so far
 * @param clientToServer the client's direction
 * @param serverToClient the server's direction
 * @param awaitServerAck whether client bytes are processed only once the server acknowledged them
 * @param clientUnacknowledged the last bytes of {@code clientToServer.tail} the server has not acknowledged
 *                             yet, which the tracker has not processed
 * @param lastRequestUser the user of the last USERAUTH_REQUEST (its success names the user)
 * @param lastRequestMethod its method
 * @param channels the channels open or being opened: a channel whose open the server has not answered yet has
 *                 server id -1. Command lines are left out; SFTP states are in.
 * @param prefix the replay prefix ciphertext; while not complete, up to the last whole client packet
 * @param prefixEndPosition where the client's cipher stands after a complete prefix (null if undelimited)
 */
public record SshCheckpoint(
        String clientVersion,
        String serverVersion,
        boolean strictKex,
        byte[] sessionIdDigest,
        int keyExchanges,
        Direction clientToServer,
        Direction serverToClient,
        boolean awaitServerAck,
        int clientUnacknowledged,
        String user,
        String authMethod,
        String lastRequestUser,
        String lastRequestMethod,
        int authAttempts,
        List<ChannelModel> channels,
        int nextServerChannelId,
        int prefixMaxChannelId,
        List<byte[]> globalRequests,
        boolean prefixComplete,
        byte[] prefix,
        int prefixPackets,
        CipherPosition prefixEndPosition) implements ApplicationCheckpoint {

    /**
     * One direction of the transport after its last whole packet.
     *
     * @param keyEpoch the ordinal of the KEX record whose keys are in force
     * @param sequence the sequence number of the next packet
     * @param blocks the cipher position within the key epoch (see {@link CipherPosition})
     * @param plaintextPackets packets before the first NEWKEYS
     * @param packets whole packets of all epochs
     * @param wholePacketsEnd the stream offset just after the last whole packet
     * @param tail the bytes captured after it (ciphertext of an incomplete packet, and for the client's
     *             direction those the server has not acknowledged yet)
     */
    public record Direction(String cipher, String mac, int keyEpoch, long sequence, long blocks, long plaintextPackets,
                            long packets, long wholePacketsEnd, byte[] tail) {

        public CipherPosition position() {
            return new CipherPosition(sequence, blocks);
        }
    }

    public SshCheckpoint {
        channels = List.copyOf(channels);
        globalRequests = List.copyOf(globalRequests);
    }

    @Override
    public String protocol() {
        return SshSessionTracker.PROTOCOL;
    }

    @Override
    public String toString() { // no bytes
        return "SshCheckpoint[user=" + user + " kex=" + keyExchanges + " c->s epoch " + clientToServer.keyEpoch()
                + " seq " + clientToServer.sequence() + ", s->c epoch " + serverToClient.keyEpoch() + " seq "
                + serverToClient.sequence() + ", " + channels.size() + " channel(s), prefix " + prefix.length + " B]";
    }
}
