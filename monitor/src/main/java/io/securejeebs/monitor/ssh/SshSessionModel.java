package io.securejeebs.monitor.ssh;

import com.fasterxml.jackson.annotation.JsonIgnore;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.app.SessionSummary;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Everything the appliance knows about one SSH session at one instant, learnt only from the wire and the
 * sealed KEX records: the transport in both directions, the user, the channels and the replay log
 * (DESIGN §3.2). Immutable; secrets (keys, the replay prefix, the first KEX record) are never serialised
 * or printed.
 *
 * @param clientVersion V_C, or null before it was seen
 * @param serverVersion V_S, or null before it was seen
 * @param sessionIdFingerprint the first 8 hex digits of SHA-256 of the session id, or null before the first KEX record
 * @param strictKex whether strict key exchange is in force
 * @param keyExchanges KEX records applied so far
 * @param clientToServer the client-to-server transport
 * @param serverToClient the server-to-client transport
 * @param user the authenticated user, null before USERAUTH_SUCCESS
 * @param authMethod the method that succeeded
 * @param authAttempts USERAUTH_REQUESTs seen
 * @param channels the channels that are not closed on both sides, by server id
 * @param nextServerChannelId the server channel id the next open will get (ids are allocated 0, 1, 2…)
 * @param globalRequests global requests the client made after the prefix, plaintext payloads (replayed)
 * @param prefixComplete whether the verbatim prefix has ended (a non-setup message followed it)
 * @param prefixLength bytes of verbatim client ciphertext in the prefix
 * @param prefixPackets client packets in the prefix, the plaintext ones included
 * @param prefixEndPosition the client-to-server cipher position just after the prefix (first epoch)
 * @param prefixMaxChannelId the highest server channel id opened inside the prefix, -1 if none
 * @param prefix the prefix ciphertext, byte for byte as the client sent it (secret: replay material)
 * @param firstKex the first KEX record (secret: replay material)
 * @param serverPartialPacket the ciphertext of an incomplete server packet at the end of the capture, empty if none
 * @param possiblyReadInput at a failover: per server channel id, the lines typed into it that the dead server may
 *                          have read before it died (never acknowledged); they are not delivered again, and the
 *                          recovery notice shows them (secret: typed input, never logged)
 * @param serverKexInitSent a rekey KEXINIT payload the server sent with nothing of the exchange after it (the
 *                          recovery server takes it as its own), or null
 */
public record SshSessionModel(
        String clientVersion,
        String serverVersion,
        String sessionIdFingerprint,
        boolean strictKex,
        int keyExchanges,
        DirectionModel clientToServer,
        DirectionModel serverToClient,
        String user,
        String authMethod,
        int authAttempts,
        List<ChannelModel> channels,
        int nextServerChannelId,
        @JsonIgnore List<byte[]> globalRequests,
        boolean prefixComplete,
        int prefixLength,
        int prefixPackets,
        @JsonIgnore io.securejeebs.keyexport.kex.CipherPosition prefixEndPosition,
        int prefixMaxChannelId,
        @JsonIgnore byte[] prefix,
        @JsonIgnore KexRecord firstKex,
        @JsonIgnore byte[] serverPartialPacket,
        @JsonIgnore Map<Integer, List<String>> possiblyReadInput,
        @JsonIgnore byte[] serverKexInitSent) implements SessionSummary {

    @Override
    public int openChannels() {
        return channels.size();
    }

    @Override
    public List<SftpChannel> sftpChannels() {
        List<SftpChannel> out = new ArrayList<>(0);
        for (ChannelModel ch : channels) {
            if (ch.sftp() != null) {
                out.add(new SftpChannel(ch.serverId(), ch.sftp().handles().size(), ch.sftp().stoppedReason()));
            }
        }
        return out;
    }

    @Override
    public String toString() { // ids and counters only
        return "SshSession[" + sessionIdFingerprint + " user=" + user + " kex=" + keyExchanges + " c->s " + clientToServer
                + " s->c " + serverToClient + " channels=" + channels.size() + " prefix=" + prefixLength + "B]";
    }
}
