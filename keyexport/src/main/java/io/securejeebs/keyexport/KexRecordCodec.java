package io.securejeebs.keyexport;

import io.securejeebs.keyexport.KexRecord.SharedSecretEncoding;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.keyexport.wire.WireReader;
import io.securejeebs.keyexport.wire.WireWriter;
import java.util.List;
import java.util.Objects;

/**
 * The canonical byte encoding of a {@link KexRecord}: the plaintext that sealing encrypts, so the
 * primary and the appliance must agree on it byte for byte.
 *
 * <p>Layout, in SSH wire types (RFC 4251 §5), version {@value #FORMAT_VERSION}:
 * <pre>
 * byte     format version (1)
 * string   primary id (UTF-8)
 * string   client address (4 or 16 bytes)   uint32 client port
 * string   server address (4 or 16 bytes)   uint32 server port
 * uint32   ordinal
 * string   kex name (UTF-8)
 * string   hash algorithm (UTF-8)
 * string   V_C (UTF-8)
 * string   V_S (UTF-8)
 * string   I_C payload
 * string   I_S payload
 * uint32   n, then n x string: the client's KEX messages
 * uint32   m, then m x string: the server's KEX messages
 * byte     K's encoding: 0 = mpint, 1 = string
 * string   K
 * string   H
 * string   session id
 * boolean  strict KEX
 * </pre>
 * Decoding is strict: an unknown version, a length that runs past the end, a boolean other than 0/1,
 * an unknown K encoding, invalid UTF-8, a non-canonical address, or any trailing byte is rejected with a
 * {@link MalformedEncodingException} that names the field and offset (never the contents). Every accepted
 * input is exactly the encoding of what it decodes to.
 */
public final class KexRecordCodec {
    public static final int FORMAT_VERSION = 1;
    private static final String WHAT = "KEX record";

    private KexRecordCodec() {
    }

    /**
     * @throws IllegalArgumentException if a field cannot be encoded (an unresolved address, text that is
     *         not valid Unicode); {@link NullPointerException} names a missing field
     */
    public static byte[] encode(KexRecord r) {
        byte[] ic = require(r.clientKexInit(), "clientKexInit");
        byte[] is = require(r.serverKexInit(), "serverKexInit");
        byte[] k = require(r.sharedSecret(), "sharedSecret");
        byte[] h = require(r.exchangeHash(), "exchangeHash");
        byte[] sid = require(r.sessionId(), "sessionId");
        List<byte[]> clientMessages = r.clientKexMessages();
        List<byte[]> serverMessages = r.serverKexMessages();
        int capacity = 256 + ic.length + is.length + k.length + h.length + sid.length
                + 8 * (clientMessages.size() + serverMessages.size())
                + clientMessages.stream().mapToInt(m -> m.length).sum()
                + serverMessages.stream().mapToInt(m -> m.length).sum();
        WireWriter w = new WireWriter(capacity);
        w.writeByte(FORMAT_VERSION);
        w.writeUtf8("primaryId", r.primaryId());
        w.writeEndpoint("client", r.client());
        w.writeEndpoint("server", r.server());
        w.writeUint32(r.ordinal());
        w.writeUtf8("kexName", r.kexName());
        w.writeUtf8("hashAlgorithm", require(r.hashAlgorithm(), "hashAlgorithm"));
        w.writeUtf8("clientVersion", require(r.clientVersion(), "clientVersion"));
        w.writeUtf8("serverVersion", require(r.serverVersion(), "serverVersion"));
        w.writeString(ic);
        w.writeString(is);
        w.writeStringList(clientMessages);
        w.writeStringList(serverMessages);
        w.writeByte(wireCode(r.sharedSecretEncoding()));
        w.writeString(k);
        w.writeString(h);
        w.writeString(sid);
        w.writeBoolean(r.strictKex());
        return w.toByteArrayAndWipe(); // the buffer held K and H
    }

    public static KexRecord decode(byte[] bytes) throws MalformedEncodingException {
        WireReader in = new WireReader(WHAT, bytes);
        in.readFormatVersion(FORMAT_VERSION);
        String primaryId = in.readUtf8("primaryId");
        var client = in.readEndpoint("client");
        var server = in.readEndpoint("server");
        int ordinal = in.readUint32("ordinal");
        String kexName = in.readUtf8("kexName");
        String hashAlgorithm = in.readUtf8("hashAlgorithm");
        String clientVersion = in.readUtf8("clientVersion");
        String serverVersion = in.readUtf8("serverVersion");
        byte[] clientKexInit = in.readString("clientKexInit");
        byte[] serverKexInit = in.readString("serverKexInit");
        List<byte[]> clientKexMessages = in.readStringList("clientKexMessages");
        List<byte[]> serverKexMessages = in.readStringList("serverKexMessages");
        int encodingAt = in.position();
        int encodingCode = in.readByte("sharedSecretEncoding");
        SharedSecretEncoding encoding = switch (encodingCode) {
            case 0 -> SharedSecretEncoding.MPINT;
            case 1 -> SharedSecretEncoding.STRING;
            default -> throw in.malformed("sharedSecretEncoding at offset " + encodingAt + " is " + encodingCode
                    + ", must be 0 (mpint) or 1 (string)");
        };
        byte[] sharedSecret = in.readString("sharedSecret");
        byte[] exchangeHash = in.readString("exchangeHash");
        byte[] sessionId = in.readString("sessionId");
        boolean strictKex = in.readBoolean("strictKex");
        in.expectEnd();
        return new KexRecord(primaryId, client, server, ordinal, kexName, hashAlgorithm, clientVersion,
                serverVersion, clientKexInit, serverKexInit, clientKexMessages, serverKexMessages,
                sharedSecret, encoding, exchangeHash, sessionId, strictKex);
    }

    /** Fixed wire codes, so reordering the enum can never change the format. */
    private static int wireCode(SharedSecretEncoding encoding) {
        return switch (encoding) {
            case MPINT -> 0;
            case STRING -> 1;
        };
    }

    private static <T> T require(T value, String field) {
        return Objects.requireNonNull(value, () -> "KexRecord." + field + " is null");
    }
}
