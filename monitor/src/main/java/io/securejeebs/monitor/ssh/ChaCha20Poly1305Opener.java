package io.securejeebs.monitor.ssh;

import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.ChaCha20ParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.apache.sshd.common.mac.Poly1305Mac;

/**
 * The receiving side of OpenSSH's chacha20-poly1305@openssh.com (PROTOCOL.chacha20poly1305), split so that
 * a packet is authenticated first and its payload decrypted only as far as the caller needs: the Poly1305
 * tag covers the ciphertext, so skipping the decryption of bulk channel data skips no check.
 *
 * <p>The 64-byte key is K_2 (payload and Poly1305 key) then K_1 (length). Each packet is keyed by its
 * sequence number as a 64-bit nonce with a 64-bit block counter; that is the JDK's RFC 8439 ChaCha20 with
 * the 96-bit nonce {@code 0x00000000 || BE64(seq)}, as long as the counter stays below 2^32 (a packet is at
 * most 256 KiB: 4 097 blocks). Block 0 gives the Poly1305 key, the payload starts at block 1. The JDK's
 * ChaCha20 and MINA's Poly1305 together are what the capture thread can afford at 1 Gbit/s; MINA's own
 * chacha20-poly1305 cipher decrypts every byte.
 */
final class ChaCha20Poly1305Opener {
    static final int TAG_LENGTH = 16;
    private static final byte[] BLOCK_OF_ZEROS = new byte[64];

    private final Cipher payloadCipher;
    private final Cipher lengthCipher;
    private final SecretKeySpec payloadKey;
    private final SecretKeySpec lengthKey;
    private final Poly1305Mac poly = new Poly1305Mac();
    private final byte[] nonce = new byte[12];
    private final byte[] block0 = new byte[64];
    private final byte[] tag = new byte[TAG_LENGTH];
    private final byte[] polyKey = new byte[32];

    ChaCha20Poly1305Opener(byte[] key) throws GeneralSecurityException {
        if (key.length < 64) {
            throw new GeneralSecurityException("chacha20-poly1305 needs 64 bytes of key, got " + key.length);
        }
        payloadKey = new SecretKeySpec(key, 0, 32, "ChaCha20");
        lengthKey = new SecretKeySpec(key, 32, 32, "ChaCha20");
        payloadCipher = Cipher.getInstance("ChaCha20");
        lengthCipher = Cipher.getInstance("ChaCha20");
    }

    /** Decrypts the 4-byte length at {@code src[off]} of packet {@code seq} into {@code out} (the source stays as captured). */
    void decryptLength(long seq, byte[] src, int off, byte[] out) throws GeneralSecurityException {
        setNonce(seq);
        lengthCipher.init(Cipher.DECRYPT_MODE, lengthKey, new ChaCha20ParameterSpec(nonce, 0));
        lengthCipher.update(src, off, 4, out, 0);
    }

    /**
     * Checks the tag of the whole packet at {@code buf[start]} (encrypted length, ciphertext, tag) and readies
     * the payload cipher at its first block; {@link #decrypt} then deciphers the packet in order.
     *
     * @return whether the tag is right
     */
    boolean authenticate(long seq, byte[] buf, int start, int packetLength) throws GeneralSecurityException {
        setNonce(seq);
        payloadCipher.init(Cipher.DECRYPT_MODE, payloadKey, new ChaCha20ParameterSpec(nonce, 0));
        payloadCipher.update(BLOCK_OF_ZEROS, 0, 64, block0, 0); // block 0: the Poly1305 key, then unused
        System.arraycopy(block0, 0, polyKey, 0, 32);
        try {
            poly.init(polyKey);
            poly.update(buf, start, 4 + packetLength);
            poly.doFinal(tag, 0);
        } catch (Exception e) {
            throw new GeneralSecurityException("poly1305: " + e.getMessage(), e);
        }
        int difference = 0; // constant time
        for (int i = 0, at = start + 4 + packetLength; i < TAG_LENGTH; i++) {
            difference |= tag[i] ^ buf[at + i];
        }
        return difference == 0;
    }

    /** Deciphers the next {@code length} bytes of the payload in place, continuing where the last call ended. */
    void decrypt(byte[] buf, int off, int length) throws GeneralSecurityException {
        if (length > 0) {
            payloadCipher.update(buf, off, length, buf, off);
        }
    }

    private void setNonce(long seq) {
        for (int i = 0; i < 8; i++) {
            nonce[4 + i] = (byte) (seq >>> (56 - 8 * i));
        }
    }
}
