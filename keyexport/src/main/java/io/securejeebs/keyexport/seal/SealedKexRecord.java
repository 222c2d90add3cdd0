package io.securejeebs.keyexport.seal;

import io.securejeebs.keyexport.seal.RecordRejectedException.Reason;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.keyexport.wire.WireReader;
import io.securejeebs.keyexport.wire.WireWriter;
import java.util.Objects;

/**
 * A KEX record as it leaves the primary: the {@link RecordBinding} in clear (so the appliance can index
 * and find it), the HPKE encapsulated key {@code enc} and ciphertext, the primary's Ed25519 signature, and
 * a SHA-256 digest over everything before it. {@link #encode()} is what the {@code sealed} column holds.
 *
 * <p>Canonical encoding, version {@value #FORMAT_VERSION} (SSH wire types):
 * <pre>
 * byte    format version (1: HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; Ed25519)
 * string  binding (its own canonical encoding; also the HPKE aad)
 * string  enc (32 bytes)
 * string  ciphertext (the sealed KexRecordCodec encoding, 16-byte GCM tag included)
 * string  signature (64 bytes): Ed25519 over all the bytes above
 * string  digest (32 bytes): SHA-256 over all the bytes above
 * </pre>
 * Decoding is strict, like every SecureJeebs encoding, so decoding then encoding gives back the input:
 * the signature and the digest can be checked against a re-encoding.
 */
public final class SealedKexRecord {
    /** Also names the cipher suite: a new suite is a new version. */
    public static final int FORMAT_VERSION = 1;
    static final int ENC_LENGTH = 32;
    static final int SIGNATURE_LENGTH = 64;
    static final int DIGEST_LENGTH = 32;
    static final int GCM_TAG_LENGTH = 16;

    private final RecordBinding binding;
    private final byte[] enc;
    private final byte[] ciphertext;
    private final byte[] signature;
    private final byte[] digest;

    /**
     * @throws IllegalArgumentException if a field has a size format version 1 does not allow
     */
    public SealedKexRecord(RecordBinding binding, byte[] enc, byte[] ciphertext, byte[] signature, byte[] digest) {
        requireLength("enc", enc, ENC_LENGTH);
        requireLength("signature", signature, SIGNATURE_LENGTH);
        requireLength("digest", digest, DIGEST_LENGTH);
        if (ciphertext.length < GCM_TAG_LENGTH) {
            throw new IllegalArgumentException("ciphertext is " + ciphertext.length + " bytes, shorter than the GCM tag");
        }
        this.binding = Objects.requireNonNull(binding, "binding");
        this.enc = enc.clone();
        this.ciphertext = ciphertext.clone();
        this.signature = signature.clone();
        this.digest = digest.clone();
    }

    private static void requireLength(String field, byte[] value, int length) {
        if (value.length != length) {
            throw new IllegalArgumentException(field + " is " + value.length + " bytes, must be " + length);
        }
    }

    public RecordBinding binding() {
        return binding;
    }

    public byte[] enc() {
        return enc.clone();
    }

    public byte[] ciphertext() {
        return ciphertext.clone();
    }

    public byte[] signature() {
        return signature.clone();
    }

    public byte[] digest() {
        return digest.clone();
    }

    /** version || binding || enc || ciphertext: what the export key signs. */
    static byte[] signedPart(RecordBinding binding, byte[] enc, byte[] ciphertext) {
        return signedPartWriter(binding, enc, ciphertext).toByteArray();
    }

    private static WireWriter signedPartWriter(RecordBinding binding, byte[] enc, byte[] ciphertext) {
        WireWriter w = new WireWriter(ciphertext.length + 256);
        w.writeByte(FORMAT_VERSION);
        w.writeString(binding.encode());
        w.writeString(enc);
        w.writeString(ciphertext);
        return w;
    }

    /** The signed part and the signature: what the digest covers. */
    static byte[] digestedPart(RecordBinding binding, byte[] enc, byte[] ciphertext, byte[] signature) {
        return signedPartWriter(binding, enc, ciphertext).writeString(signature).toByteArray();
    }

    byte[] signedPart() {
        return signedPart(binding, enc, ciphertext);
    }

    byte[] digestedPart() {
        return digestedPart(binding, enc, ciphertext, signature);
    }

    public byte[] encode() {
        return signedPartWriter(binding, enc, ciphertext).writeString(signature).writeString(digest).toByteArray();
    }

    /**
     * @throws RecordRejectedException {@link Reason#MALFORMED} with the field and offset that are wrong
     */
    public static SealedKexRecord decode(byte[] bytes) throws RecordRejectedException {
        try {
            WireReader in = new WireReader("sealed KEX record", bytes);
            in.readFormatVersion(FORMAT_VERSION);
            byte[] binding = in.readString("binding");
            byte[] enc = in.readString("enc", ENC_LENGTH);
            int ciphertextAt = in.position();
            byte[] ciphertext = in.readString("ciphertext");
            if (ciphertext.length < GCM_TAG_LENGTH) {
                throw in.malformed("ciphertext at offset " + ciphertextAt + " is " + ciphertext.length
                        + " bytes, shorter than the " + GCM_TAG_LENGTH + "-byte GCM tag");
            }
            byte[] signature = in.readString("signature", SIGNATURE_LENGTH);
            byte[] digest = in.readString("digest", DIGEST_LENGTH);
            in.expectEnd();
            return new SealedKexRecord(RecordBinding.decode(binding), enc, ciphertext, signature, digest);
        } catch (MalformedEncodingException e) {
            throw new RecordRejectedException(Reason.MALFORMED, e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "SealedKexRecord[" + binding + ", " + ciphertext.length + " B ciphertext]";
    }
}
