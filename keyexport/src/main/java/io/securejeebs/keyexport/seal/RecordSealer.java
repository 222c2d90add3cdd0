package io.securejeebs.keyexport.seal;

import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordCodec;
import io.securejeebs.keyexport.keys.KeyFingerprint;
import java.util.Arrays;
import java.util.Objects;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * The primary's half of record sealing (DESIGN §3.1): encrypts a {@link KexRecord} to the appliance's
 * X25519 key with HPKE, the record's {@link RecordBinding} as {@code aad}; signs
 * version, binding, {@code enc} and ciphertext with the primary's Ed25519 export key; and closes the
 * body with a SHA-256 digest. The appliance reverses this with {@link RecordOpener}.
 *
 * <p>Thread-safe: MINA calls it from many sessions at once.
 */
public final class RecordSealer {
    private final X25519PublicKeyParameters appliancePublicKey;
    private final Ed25519PrivateKeyParameters exportPrivateKey;
    private final String applianceKeyFingerprint;
    private final String exportKeyFingerprint;

    /**
     * @param appliancePublicKey the appliance's key ({@code appliance.pub}) that records are sealed to
     * @param exportPrivateKey this primary's export key ({@code export.key}) that signs them
     */
    public RecordSealer(X25519PublicKeyParameters appliancePublicKey, Ed25519PrivateKeyParameters exportPrivateKey) {
        this.appliancePublicKey = Objects.requireNonNull(appliancePublicKey, "appliancePublicKey");
        this.exportPrivateKey = Objects.requireNonNull(exportPrivateKey, "exportPrivateKey");
        this.applianceKeyFingerprint = KeyFingerprint.of(appliancePublicKey);
        this.exportKeyFingerprint = KeyFingerprint.of(exportPrivateKey.generatePublicKey());
    }

    /** Fingerprint of the appliance key records are sealed to, for logs. */
    public String applianceKeyFingerprint() {
        return applianceKeyFingerprint;
    }

    /** Fingerprint of the export key's public half, which the appliance must pin. */
    public String exportKeyFingerprint() {
        return exportKeyFingerprint;
    }

    /**
     * @throws KexExportException if the record cannot be encoded (an unresolved address, text that is
     *         not Unicode) or HPKE fails; the message never holds key material
     */
    public SealedKexRecord seal(KexRecord record) throws KexExportException {
        return seal(record, RecordBinding.of(record));
    }

    /** Seals under an explicit binding: tests use it to check that the opener compares both. */
    SealedKexRecord seal(KexRecord record, RecordBinding binding) throws KexExportException {
        byte[] plaintext;
        try {
            plaintext = KexRecordCodec.encode(record);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new KexExportException("cannot encode " + record + ": " + e.getMessage(), e);
        }
        byte[] aad = binding.encode();
        byte[][] sealed;
        try {
            // Bouncy Castle returns {ciphertext, enc}, in that order.
            sealed = SealingSuite.hpke().seal(appliancePublicKey, SealingSuite.HPKE_INFO, aad, plaintext, null, null, null);
        } catch (InvalidCipherTextException | RuntimeException e) {
            throw new KexExportException("HPKE sealing of " + binding + " to appliance key "
                    + applianceKeyFingerprint + " failed: " + e.getClass().getSimpleName(), e);
        } finally {
            Arrays.fill(plaintext, (byte) 0);
        }
        byte[] ciphertext = sealed[0];
        byte[] enc = sealed[1];
        byte[] signature = sign(SealedKexRecord.signedPart(binding, enc, ciphertext));
        byte[] digest = SealingSuite.sha256(SealedKexRecord.digestedPart(binding, enc, ciphertext, signature));
        return new SealedKexRecord(binding, enc, ciphertext, signature, digest);
    }

    private byte[] sign(byte[] message) {
        Ed25519Signer signer = new Ed25519Signer();
        signer.init(true, exportPrivateKey);
        signer.update(message, 0, message.length);
        return signer.generateSignature();
    }

    @Override
    public String toString() {
        return "RecordSealer[to appliance key " + applianceKeyFingerprint + ", signed by export key "
                + exportKeyFingerprint + "]";
    }
}
