package io.securejeebs.keyexport.keys;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.util.SubjectPublicKeyInfoFactory;

/**
 * A public key's fingerprint as OpenSSH prints them: {@code SHA256:} then the unpadded base64 of the
 * SHA-256 of the key's encoding. The encoding hashed here is the DER SubjectPublicKeyInfo (what the
 * {@code .pub} PEM file holds), so {@code openssl pkey -pubin -outform DER | sha256sum} gives the same
 * digest. Fingerprints are what logs and messages show instead of keys.
 */
public final class KeyFingerprint {
    private KeyFingerprint() {
    }

    /** @param publicKey an X25519 or Ed25519 public key */
    public static String of(AsymmetricKeyParameter publicKey) {
        if (publicKey.isPrivate()) {
            throw new IllegalArgumentException("fingerprints are of public keys");
        }
        return ofEncoded(spki(publicKey));
    }

    static String ofEncoded(byte[] subjectPublicKeyInfo) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(subjectPublicKeyInfo);
            return "SHA256:" + Base64.getEncoder().withoutPadding().encodeToString(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    static byte[] spki(AsymmetricKeyParameter publicKey) {
        try {
            return SubjectPublicKeyInfoFactory.createSubjectPublicKeyInfo(publicKey).getEncoded();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a " + KeyAlgorithm.of(publicKey) + " public key", e);
        }
    }
}
