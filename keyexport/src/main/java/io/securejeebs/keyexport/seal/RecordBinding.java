package io.securejeebs.keyexport.seal;

import io.securejeebs.keyexport.Endpoints;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.keyexport.wire.WireReader;
import io.securejeebs.keyexport.wire.WireWriter;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * What a sealed record is for: which primary exported it, on which connection (the 4-tuple), in which SSH
 * session (SHA-256 of the session id, so the id itself stays sealed), and which key exchange of that
 * session (the ordinal). It travels in clear so the appliance can index and find records, is the HPKE
 * {@code aad}, and is covered by the signature: a record cannot be moved to another connection, session
 * or key exchange without the appliance noticing.
 *
 * <p>Canonical encoding (SSH wire types): {@code string} primary id, client endpoint, server endpoint
 * (each: {@code string} raw address, {@code uint32} port), {@code string} session-id digest (32 bytes),
 * {@code uint32} ordinal.
 */
public record RecordBinding(
        String primaryId,
        InetSocketAddress client,
        InetSocketAddress server,
        byte[] sessionIdDigest,
        int ordinal) {

    public static final int DIGEST_LENGTH = 32;

    public RecordBinding {
        Objects.requireNonNull(primaryId, "primaryId");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(server, "server");
        if (client.getAddress() == null || server.getAddress() == null) {
            throw new IllegalArgumentException("a binding needs resolved addresses: " + client + ", " + server);
        }
        if (sessionIdDigest.length != DIGEST_LENGTH) {
            throw new IllegalArgumentException("sessionIdDigest must be " + DIGEST_LENGTH + " bytes, not "
                    + sessionIdDigest.length);
        }
        if (ordinal < 0) {
            throw new IllegalArgumentException("ordinal must be >= 0: " + ordinal);
        }
        sessionIdDigest = sessionIdDigest.clone();
    }

    /** The binding of a record: its primary, 4-tuple, ordinal, and SHA-256 of its session id. */
    public static RecordBinding of(KexRecord record) {
        return new RecordBinding(record.primaryId(), record.client(), record.server(),
                sessionIdDigest(record.sessionId()), record.ordinal());
    }

    /** SHA-256 of an SSH session id: what bindings and the {@code session_id_digest} column hold. */
    public static byte[] sessionIdDigest(byte[] sessionId) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(sessionId);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    @Override
    public byte[] sessionIdDigest() {
        return sessionIdDigest.clone();
    }

    /** The first 8 hex digits of the session-id digest: enough to tell sessions apart in a log. */
    public String sessionIdDigestPrefix() {
        return HexFormat.of().formatHex(sessionIdDigest, 0, 4);
    }

    public byte[] encode() {
        WireWriter w = new WireWriter(128);
        w.writeUtf8("primaryId", primaryId);
        w.writeEndpoint("client", client);
        w.writeEndpoint("server", server);
        w.writeString(sessionIdDigest);
        w.writeUint32(ordinal);
        return w.toByteArray();
    }

    public static RecordBinding decode(byte[] encoded) throws MalformedEncodingException {
        WireReader in = new WireReader("record binding", encoded);
        String primaryId = in.readUtf8("primaryId");
        InetSocketAddress client = in.readEndpoint("client");
        InetSocketAddress server = in.readEndpoint("server");
        byte[] digest = in.readString("sessionIdDigest", DIGEST_LENGTH);
        int ordinal = in.readUint32("ordinal");
        in.expectEnd();
        return new RecordBinding(primaryId, client, server, digest, ordinal);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RecordBinding b && primaryId.equals(b.primaryId) && client.equals(b.client)
                && server.equals(b.server) && Arrays.equals(sessionIdDigest, b.sessionIdDigest) && ordinal == b.ordinal;
    }

    @Override
    public int hashCode() {
        return Objects.hash(primaryId, client, server, Arrays.hashCode(sessionIdDigest), ordinal);
    }

    /** e.g. {@code primary-a 10.213.0.10:40022->10.213.0.100:22 #1 sid-sha256:3f2a9c01} */
    @Override
    public String toString() {
        return primaryId + " " + Endpoints.connection(client, server) + " #" + ordinal
                + " sid-sha256:" + sessionIdDigestPrefix();
    }
}
