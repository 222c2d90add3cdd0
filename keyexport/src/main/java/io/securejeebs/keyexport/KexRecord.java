package io.securejeebs.keyexport;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Objects;

/**
 * Everything about one SSH key exchange that the appliance needs to derive the session's keys and to
 * replay the exchange byte for byte (DESIGN §3.1). Built by the primary inside {@code checkKeys()},
 * when K and H exist and before the server's NEWKEYS leaves; sealed before it is stored.
 *
 * <p>Payloads are SSH packet payloads (message number first, no length, padding or MAC).
 * This value holds secrets (K, H): its {@link #toString()} shows only ids and sizes.
 *
 * @param primaryId which primary exported it (config)
 * @param client the client's address and port, as the primary's socket saw it
 * @param server the server's address and port (the VIP and 22 in the lab)
 * @param ordinal 0 for the initial key exchange, then 1, 2… for each rekey on the same connection
 * @param kexName the negotiated key-exchange algorithm, e.g. {@code curve25519-sha256}
 * @param hashAlgorithm the exchange hash's digest as MINA names it, e.g. {@code SHA-256}
 * @param clientVersion V_C, the client's identification line without CR LF
 * @param serverVersion V_S, likewise
 * @param clientKexInit I_C, the client's SSH_MSG_KEXINIT payload
 * @param serverKexInit I_S, the server's SSH_MSG_KEXINIT payload, cookie included
 * @param clientKexMessages the client's key-exchange messages after KEXINIT, in order (e.g. KEX_ECDH_INIT;
 *                          for group exchange: KEX_DH_GEX_REQUEST then KEX_DH_GEX_INIT)
 * @param serverKexMessages the server's key-exchange replies, in order (e.g. KEX_ECDH_REPLY; for group
 *                          exchange: KEX_DH_GEX_GROUP then KEX_DH_GEX_REPLY)
 * @param sharedSecret K exactly as MINA holds it
 * @param sharedSecretEncoding how K enters the exchange hash and the key derivation
 * @param exchangeHash H of this key exchange
 * @param sessionId the session id (H of the first key exchange)
 * @param strictKex whether strict key exchange (kex-strict-*-v00@openssh.com) is in force
 */
public record KexRecord(
        String primaryId,
        InetSocketAddress client,
        InetSocketAddress server,
        int ordinal,
        String kexName,
        String hashAlgorithm,
        String clientVersion,
        String serverVersion,
        byte[] clientKexInit,
        byte[] serverKexInit,
        List<byte[]> clientKexMessages,
        List<byte[]> serverKexMessages,
        byte[] sharedSecret,
        SharedSecretEncoding sharedSecretEncoding,
        byte[] exchangeHash,
        byte[] sessionId,
        boolean strictKex) {

    /** RFC 4253 §7.2 hashes K as an mpint; the post-quantum hybrids (RFC 9142 style) as a string. */
    public enum SharedSecretEncoding { MPINT, STRING }

    public KexRecord {
        Objects.requireNonNull(primaryId, "primaryId");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(kexName, "kexName");
        Objects.requireNonNull(sharedSecretEncoding, "sharedSecretEncoding");
        if (ordinal < 0) {
            throw new IllegalArgumentException("ordinal must be >= 0: " + ordinal);
        }
        clientKexMessages = List.copyOf(clientKexMessages);
        serverKexMessages = List.copyOf(serverKexMessages);
    }

    @Override
    public String toString() { // never K, H or the session id
        return "KexRecord[" + primaryId + " " + client + "->" + server + " #" + ordinal + " " + kexName
                + " strict=" + strictKex + " I_C=" + clientKexInit.length + "B I_S=" + serverKexInit.length + "B"
                + " client-msgs=" + clientKexMessages.size() + " server-msgs=" + serverKexMessages.size() + "]";
    }
}
