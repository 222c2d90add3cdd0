package io.securejeebs.keyexport.seal;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordCodec;
import io.securejeebs.keyexport.keys.KeyFingerprint;
import io.securejeebs.keyexport.seal.RecordRejectedException.Reason;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appliance's half of record sealing: checks a {@link SealedKexRecord} and only then decrypts it.
 * The checks run in this order, and the first that fails rejects the record with its
 * {@link RecordRejectedException.Reason}:
 * <ol>
 * <li>digest: SHA-256 over the body ({@code DIGEST_MISMATCH}) - cheap, catches corruption;</li>
 * <li>signature: Ed25519 with the pinned export key of the primary ({@code BAD_SIGNATURE});</li>
 * <li>binding: the signed binding is the one the appliance expects ({@code BINDING_MISMATCH});</li>
 * <li>decryption: HPKE with the appliance key, binding as aad ({@code DECRYPTION_FAILED});</li>
 * <li>decoding: the plaintext is a KEX record ({@code MALFORMED}), whose own primary, 4-tuple, ordinal
 *     and session id agree with the binding ({@code BINDING_MISMATCH}).</li>
 * </ol>
 * Thread-safe.
 */
public final class RecordOpener {
    private static final Logger log = LoggerFactory.getLogger(RecordOpener.class);

    private final AsymmetricCipherKeyPair applianceKeyPair;
    private final Ed25519PublicKeyParameters pinnedExportKey;
    private final String applianceKeyFingerprint;
    private final String exportKeyFingerprint;

    /**
     * @param appliancePrivateKey this appliance's key ({@code appliance.key})
     * @param pinnedExportKey the primary's export public key ({@code export.pub}); only records it signed open
     */
    public RecordOpener(X25519PrivateKeyParameters appliancePrivateKey, Ed25519PublicKeyParameters pinnedExportKey) {
        Objects.requireNonNull(appliancePrivateKey, "appliancePrivateKey");
        // BC's HPKE open() takes a key pair: DHKEM's key schedule hashes the recipient's public key too.
        this.applianceKeyPair = new AsymmetricCipherKeyPair(appliancePrivateKey.generatePublicKey(), appliancePrivateKey);
        this.pinnedExportKey = Objects.requireNonNull(pinnedExportKey, "pinnedExportKey");
        this.applianceKeyFingerprint = KeyFingerprint.of(appliancePrivateKey.generatePublicKey());
        this.exportKeyFingerprint = KeyFingerprint.of(pinnedExportKey);
    }

    /** Decodes a {@code sealed} column value, then {@link #open(SealedKexRecord, ExpectedBinding) opens} it. */
    public KexRecord open(byte[] sealed, ExpectedBinding expected) throws RecordRejectedException {
        return open(SealedKexRecord.decode(sealed), expected);
    }

    public KexRecord open(SealedKexRecord sealed, ExpectedBinding expected) throws RecordRejectedException {
        RecordBinding binding = sealed.binding();
        // The binding is unauthenticated until the signature verifies: messages say "claims".
        if (!MessageDigest.isEqual(SealingSuite.sha256(sealed.digestedPart()), sealed.digest())) {
            throw new RecordRejectedException(Reason.DIGEST_MISMATCH, "record claiming " + binding
                    + ": the SHA-256 over its body does not match its digest (corrupted in storage or transit)");
        }
        if (!verify(sealed.signedPart(), sealed.signature())) {
            throw new RecordRejectedException(Reason.BAD_SIGNATURE, "record claiming " + binding
                    + ": the signature does not verify with the pinned export key " + exportKeyFingerprint
                    + " (not signed by that primary, or altered after signing)");
        }
        List<String> differences = expected.differencesFrom(binding);
        if (!differences.isEmpty()) {
            throw new RecordRejectedException(Reason.BINDING_MISMATCH, "record " + binding + " is bound elsewhere: "
                    + String.join("; ", differences));
        }
        byte[] plaintext = decrypt(sealed, binding);
        try {
            KexRecord record = KexRecordCodec.decode(plaintext);
            checkRecordMatchesBinding(record, binding);
            log.debug("opened KEX record {} (signed by {})", binding, exportKeyFingerprint);
            return record;
        } catch (MalformedEncodingException e) {
            throw new RecordRejectedException(Reason.MALFORMED, "record " + binding
                    + " decrypted and verified, but its plaintext is not a KEX record: " + e.getMessage());
        } finally {
            Arrays.fill(plaintext, (byte) 0);
        }
    }

    private boolean verify(byte[] message, byte[] signature) {
        Ed25519Signer verifier = new Ed25519Signer();
        verifier.init(false, pinnedExportKey);
        verifier.update(message, 0, message.length);
        return verifier.verifySignature(signature);
    }

    private byte[] decrypt(SealedKexRecord sealed, RecordBinding binding) throws RecordRejectedException {
        try {
            return SealingSuite.hpke().open(sealed.enc(), applianceKeyPair, SealingSuite.HPKE_INFO, binding.encode(),
                    sealed.ciphertext(), null, null, null);
        } catch (InvalidCipherTextException | RuntimeException e) {
            // BC throws InvalidCipherTextException for a failed tag, but IllegalStateException for an enc
            // whose X25519 result is all zeros (a low-order point) and IllegalArgumentException for a bad size.
            throw new RecordRejectedException(Reason.DECRYPTION_FAILED, "record " + binding
                    + " does not decrypt with appliance key " + applianceKeyFingerprint
                    + " (sealed to another appliance key, or its enc/ciphertext was altered): "
                    + e.getClass().getSimpleName());
        }
    }

    /** The sealed plaintext must describe the same key exchange the signed binding names. */
    private static void checkRecordMatchesBinding(KexRecord record, RecordBinding binding) throws RecordRejectedException {
        RecordBinding own = RecordBinding.of(record);
        if (!own.equals(binding)) {
            List<String> differences = ExpectedBinding.differences(own, "the record is for",
                    ExpectedBinding.exactly(binding), "its binding says");
            throw new RecordRejectedException(Reason.BINDING_MISMATCH, "record " + binding
                    + " holds a key exchange for something else than its binding: " + String.join("; ", differences));
        }
    }

    @Override
    public String toString() {
        return "RecordOpener[appliance key " + applianceKeyFingerprint + ", pinned export key " + exportKeyFingerprint + "]";
    }
}
