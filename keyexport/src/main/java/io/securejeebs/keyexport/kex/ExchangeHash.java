package io.securejeebs.keyexport.kex;

import io.securejeebs.keyexport.KexRecord;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.util.List;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.signature.BuiltinSignatures;
import org.apache.sshd.common.signature.Signature;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * Recomputes a key exchange's hash H from the transcript in a {@link KexRecord}, following the RFC of
 * its family, and checks the server's host-key signature over it. This is how the appliance knows that a
 * record is complete and says what really happened on the wire, before it derives any key from it.
 *
 * <ul>
 *   <li>ECDH, curve25519/448 (RFC 5656 §4, RFC 8731) and the post-quantum hybrids (sntrup761x25519,
 *       mlkem768x25519): H = HASH(V_C, V_S, I_C, I_S, K_S, Q_C, Q_S, K), Q_C and Q_S as strings;</li>
 *   <li>fixed-group Diffie-Hellman (RFC 4253 §8): H = HASH(V_C, V_S, I_C, I_S, K_S, e, f, K), e and f mpints;</li>
 *   <li>group exchange (RFC 4419 §3): H = HASH(V_C, V_S, I_C, I_S, K_S, min, n, max, p, g, e, f, K), or with n
 *       alone after the old request (message 30).</li>
 * </ul>
 * Every field is copied from the recorded messages exactly as it was encoded there. K enters as an SSH
 * string of the bytes MINA holds: for classic (EC)DH MINA keeps K normalized as mpint content, so the
 * string encoding is the mpint encoding; for the hybrids K is a digest, hashed as a string.
 */
public final class ExchangeHash {
    private static final int KEX_ECDH_INIT = 30; // also KEXDH_INIT, and the old GEX request
    private static final int KEX_ECDH_REPLY = 31; // also KEXDH_REPLY, and GEX_GROUP
    private static final int KEX_DH_GEX_INIT = 32;
    private static final int KEX_DH_GEX_REPLY = 33;
    private static final int KEX_DH_GEX_REQUEST = 34;

    /** The host key and the signature over H, as the server sent them in its reply. */
    public record HostSignature(byte[] hostKeyBlob, byte[] signatureBlob) {}

    private ExchangeHash() {}

    public static byte[] recompute(KexRecord r) throws KexRecordException {
        Transcript t = transcript(r);
        Buffer h = new ByteArrayBuffer();
        h.putString(r.clientVersion());
        h.putString(r.serverVersion());
        h.putBytes(r.clientKexInit());
        h.putBytes(r.serverKexInit());
        h.putBytes(t.hostKey);
        h.putRawBytes(t.fieldsAfterHostKey);
        h.putBytes(r.sharedSecret());
        return digest(r.hashAlgorithm(), h);
    }

    /** K_S, and the family's fields that follow it in the hash, each exactly as encoded on the wire. */
    private record Transcript(byte[] hostKey, byte[] fieldsAfterHostKey) {}

    private static Transcript transcript(KexRecord r) throws KexRecordException {
        String kex = r.kexName();
        Buffer after = new ByteArrayBuffer();
        if (kex.startsWith("diffie-hellman-group-exchange-")) {
            List<byte[]> client = r.clientKexMessages();
            if (client.size() != 2 || r.serverKexMessages().size() != 2) {
                throw new KexRecordException("group exchange needs 2 client and 2 server messages, the record has "
                        + client.size() + " and " + r.serverKexMessages().size());
            }
            byte[] request = client.get(0);
            int cmd = request.length == 0 ? -1 : request[0] & 0xff;
            if (cmd == KEX_DH_GEX_REQUEST && request.length >= 13) {
                after.putRawBytes(request, 1, 12); // min, n, max
            } else if (cmd == KEX_ECDH_INIT && request.length >= 5) {
                after.putRawBytes(request, 1, 4); // n alone, from the old request
            } else {
                throw new KexRecordException("first group-exchange message is " + cmd + ", not a request (34 or 30)");
            }
            byte[] group = message(r.serverKexMessages(), 0, KEX_ECDH_REPLY, "KEX_DH_GEX_GROUP");
            after.putRawBytes(fields(group, 2, true, "p and g"));
            byte[] init = message(client, 1, KEX_DH_GEX_INIT, "KEX_DH_GEX_INIT");
            Reply reply = reply(message(r.serverKexMessages(), 1, KEX_DH_GEX_REPLY, "KEX_DH_GEX_REPLY"), true);
            after.putRawBytes(fields(init, 1, true, "e"));
            after.putRawBytes(reply.exchangeValue);
            return new Transcript(reply.hostKey, after.getCompactData());
        }
        boolean dh = kex.startsWith("diffie-hellman-group");
        byte[] clientInit = message(r.clientKexMessages(), 0, KEX_ECDH_INIT, dh ? "KEXDH_INIT" : "KEX_ECDH_INIT");
        Reply reply = reply(message(r.serverKexMessages(), 0, KEX_ECDH_REPLY, dh ? "KEXDH_REPLY" : "KEX_ECDH_REPLY"), dh);
        after.putRawBytes(fields(clientInit, 1, dh, dh ? "e" : "Q_C"));
        after.putRawBytes(reply.exchangeValue);
        return new Transcript(reply.hostKey, after.getCompactData());
    }

    /** Checks the server's signature over {@code h} with the host key it sent. */
    public static void verifyHostSignature(KexRecord r, byte[] h) throws KexRecordException {
        HostSignature hs = hostSignature(r);
        try {
            PublicKey key = new ByteArrayBuffer(hs.hostKeyBlob()).getRawPublicKey();
            String algorithm = new ByteArrayBuffer(hs.signatureBlob()).getString();
            NamedFactory<Signature> factory = BuiltinSignatures.fromFactoryName(algorithm);
            if (factory == null) {
                throw new KexRecordException("unknown host signature algorithm " + algorithm);
            }
            Signature verifier = factory.create();
            verifier.initVerifier(null, key);
            verifier.update(null, h);
            if (!verifier.verify(null, hs.signatureBlob())) {
                throw new KexRecordException("the server's " + algorithm + " signature does not verify over H");
            }
        } catch (KexRecordException e) {
            throw e;
        } catch (Exception e) {
            throw new KexRecordException("cannot check the host signature: " + e.getMessage(), e);
        }
    }

    public static HostSignature hostSignature(KexRecord r) throws KexRecordException {
        boolean gex = r.kexName().startsWith("diffie-hellman-group-exchange-");
        byte[] msg = gex
                ? message(r.serverKexMessages(), 1, KEX_DH_GEX_REPLY, "KEX_DH_GEX_REPLY")
                : message(r.serverKexMessages(), 0, KEX_ECDH_REPLY, "KEX reply");
        Buffer b = new ByteArrayBuffer(msg);
        b.getUByte();
        byte[] hostKey = b.getBytes();
        if (r.kexName().startsWith("diffie-hellman-group")) {
            b.getMPIntAsBytes();
        } else {
            b.getBytes();
        }
        return new HostSignature(hostKey, b.getBytes());
    }

    private record Reply(byte[] hostKey, byte[] exchangeValue) {}

    private static Reply reply(byte[] msg, boolean mpint) throws KexRecordException {
        try {
            Buffer b = new ByteArrayBuffer(msg);
            b.getUByte();
            byte[] hostKey = b.getBytes();
            int start = b.rpos();
            if (mpint) {
                b.getMPIntAsBytes();
            } else {
                b.getBytes();
            }
            byte[] value = new byte[b.rpos() - start];
            System.arraycopy(msg, start, value, 0, value.length);
            return new Reply(hostKey, value);
        } catch (RuntimeException e) {
            throw new KexRecordException("malformed server KEX reply: " + e.getMessage());
        }
    }

    /** The first {@code count} fields after the message number, exactly as encoded (length prefixes included). */
    private static byte[] fields(byte[] msg, int count, boolean mpint, String name) throws KexRecordException {
        try {
            Buffer b = new ByteArrayBuffer(msg);
            b.getUByte();
            int start = b.rpos();
            for (int i = 0; i < count; i++) {
                if (mpint) {
                    b.getMPIntAsBytes();
                } else {
                    b.getBytes();
                }
            }
            byte[] out = new byte[b.rpos() - start];
            System.arraycopy(msg, start, out, 0, out.length);
            return out;
        } catch (RuntimeException e) {
            throw new KexRecordException("malformed " + name + " in KEX message " + (msg[0] & 0xff) + ": " + e.getMessage());
        }
    }

    private static byte[] message(List<byte[]> messages, int index, int expected, String name) throws KexRecordException {
        if (messages.size() <= index) {
            throw new KexRecordException("the record lacks the " + name + " message");
        }
        byte[] m = messages.get(index);
        if (m.length == 0 || (m[0] & 0xff) != expected) {
            throw new KexRecordException("expected " + name + " (" + expected + ") but the record has message "
                    + (m.length == 0 ? "(empty)" : String.valueOf(m[0] & 0xff)));
        }
        return m;
    }

    static byte[] digest(String algorithm, Buffer data) throws KexRecordException {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            md.update(data.array(), data.rpos(), data.available());
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new KexRecordException("unknown exchange-hash digest " + algorithm);
        }
    }
}
