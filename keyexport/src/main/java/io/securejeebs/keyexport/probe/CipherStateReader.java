package io.securejeebs.keyexport.probe;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.math.BigInteger;
import org.apache.sshd.common.cipher.BaseCTRCipher;
import org.apache.sshd.common.cipher.BaseCipher;
import org.apache.sshd.common.cipher.BaseGCMCipher;
import org.apache.sshd.common.cipher.ChaCha20Cipher;
import org.apache.sshd.common.cipher.Cipher;

/**
 * TEST ONLY. Reads where a live MINA SSHD 2.20 cipher stands, from the cipher object itself (by reflection into
 * MINA's classes, which are on the class path: no {@code --add-opens} is needed), so the answer is the state the
 * next packet will be processed with, not a count kept beside it.
 *
 * <ul>
 * <li><b>aes*-ctr</b> ({@link BaseCTRCipher}): the JCE cipher's IV is the counter block it was last initialised
 *     with; MINA re-initialises it with IV + blocks when the provider buffers, and then restarts its private
 *     {@code blocksProcessed} count. So blocks since NEWKEYS = (JCE IV now − IV at NEWKEYS) mod 2^128 +
 *     {@code blocksProcessed}. The IV at NEWKEYS is taken by {@link ProbedServerSession} when the cipher is
 *     installed.</li>
 * <li><b>aes*-gcm</b> ({@link BaseGCMCipher}): its {@code CounterGCMParameterSpec} holds the nonce, whose last 8
 *     bytes are the invocation counter, and the counter it started from: packets = counter − initial.</li>
 * <li><b>chacha20-poly1305</b> ({@link ChaCha20Cipher}): the body engine's nonce is the packet sequence number;
 *     packets since NEWKEYS = nonce − initial nonce (mod 2^32).</li>
 * </ul>
 */
final class CipherStateReader {
    private static final Method CIPHER_INSTANCE = method(BaseCipher.class, "getCipherInstance");
    private static final Field CTR_BLOCKS_PROCESSED = field(BaseCTRCipher.class, "blocksProcessed");
    private static final Field GCM_PARAMETERS = field(BaseGCMCipher.class, "parameters");
    private static final Field CHACHA_BODY_ENGINE = field(ChaCha20Cipher.class, "bodyEngine");
    private static final BigInteger TWO_128 = BigInteger.ONE.shiftLeft(128);

    private CipherStateReader() {}

    /** The JCE IV a CTR cipher was last initialised with (its counter at that moment); null for other ciphers. */
    static byte[] ctrIv(Cipher cipher) {
        if (!(cipher instanceof BaseCTRCipher)) {
            return null;
        }
        return jce(cipher).getIV();
    }

    /**
     * The cipher's position within its key epoch ({@code CipherPosition.blocks}), or null for a cipher whose
     * position has no defined arithmetic here.
     *
     * @param ivAtNewKeys for CTR, {@link #ctrIv} taken when the cipher was installed
     */
    static Long blocks(Cipher cipher, byte[] ivAtNewKeys) {
        if (cipher == null) {
            return 0L;
        }
        try {
            if (cipher instanceof BaseCTRCipher) {
                byte[] now = jce(cipher).getIV();
                long processed = CTR_BLOCKS_PROCESSED.getLong(cipher);
                BigInteger delta = new BigInteger(1, now).subtract(new BigInteger(1, ivAtNewKeys)).mod(TWO_128);
                return delta.longValueExact() + processed;
            }
            if (cipher instanceof BaseGCMCipher) {
                Object spec = GCM_PARAMETERS.get(cipher);
                byte[] iv = (byte[]) field(spec.getClass(), "iv").get(spec);
                long initial = field(spec.getClass(), "initialCounter").getLong(spec);
                long counter = 0;
                for (int i = iv.length - 8; i < iv.length; i++) {
                    counter = (counter << 8) | (iv[i] & 0xff);
                }
                return counter - initial;
            }
            if (cipher instanceof ChaCha20Cipher) {
                Object engine = CHACHA_BODY_ENGINE.get(cipher);
                long nonce = field(engine.getClass(), "nonceVal").getLong(engine);
                long initial = field(engine.getClass(), "initialNonce").getLong(engine);
                return (nonce - initial) & 0xffff_ffffL;
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read the state of " + cipher + ": " + e.getMessage(), e);
        }
        return null;
    }

    private static javax.crypto.Cipher jce(Cipher cipher) {
        try {
            return (javax.crypto.Cipher) CIPHER_INSTANCE.invoke(cipher);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot reach the JCE cipher of " + cipher + ": " + e, e);
        }
    }

    private static Field field(Class<?> type, String name) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        throw new IllegalStateException(type.getName() + " has no field '" + name
                + "': the state probe is written against MINA SSHD 2.20's cipher classes");
    }

    private static Method method(Class<?> type, String name) {
        try {
            Method m = type.getDeclaredMethod(name);
            m.setAccessible(true);
            return m;
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(type.getName() + " has no method '" + name
                    + "': the state probe is written against MINA SSHD 2.20's cipher classes", e);
        }
    }
}
