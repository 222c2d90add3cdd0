package io.securejeebs.keyexport.seal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.bouncycastle.crypto.hpke.HPKE;

/**
 * The algorithms of sealed-record format version 1, in one place so the sealer and the opener cannot
 * disagree: HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM;
 * Ed25519 signatures; SHA-256 digests.
 */
final class SealingSuite {
    /**
     * HPKE {@code info}: binds every HPKE context to this protocol and format version, so a ciphertext
     * made for anything else that uses the appliance key cannot be passed off as a KEX record.
     */
    static final byte[] HPKE_INFO = "securejeebs sealed kex-record v1".getBytes(StandardCharsets.US_ASCII);

    private SealingSuite() {
    }

    /** A fresh HPKE instance (Bouncy Castle's are not documented as thread-safe; they are cheap). */
    static HPKE hpke() {
        return new HPKE(HPKE.mode_base, HPKE.kem_X25519_SHA256, HPKE.kdf_HKDF_SHA256, HPKE.aead_AES_GCM256);
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
