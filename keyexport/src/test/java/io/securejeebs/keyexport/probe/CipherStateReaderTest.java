package io.securejeebs.keyexport.probe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.securejeebs.keyexport.kex.CipherPosition;
import java.lang.reflect.Field;
import java.util.Random;
import org.apache.sshd.common.cipher.BaseCipher;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What the probe reads from a MINA cipher is a {@link CipherPosition}: a fresh cipher started at
 * {@code CipherPosition(sequence, blocks).ivFor(name, iv0)} encrypts the next packet exactly as the live one does.
 * CTR is run twice: as the JCE provider here runs it (no re-initialisation), and with MINA's re-initialisation
 * after every update (what a provider that buffers causes), so both halves of the CTR reading are exercised.
 */
class CipherStateReaderTest {
    private static final int[] PACKET_LENGTHS = {16, 32, 1024, 48, 32768, 64, 112};

    @AfterEach
    void normalReInit() throws Exception {
        alwaysReInit(false);
    }

    private static void alwaysReInit(boolean on) throws Exception {
        Field f = BaseCipher.class.getDeclaredField("alwaysReInit");
        f.setAccessible(true);
        f.setBoolean(null, on);
    }

    @ParameterizedTest
    @CsvSource({
            "aes128-ctr, false", "aes192-ctr, false", "aes256-ctr, false", "aes128-ctr, true", "aes256-ctr, true",
            "aes128-gcm@openssh.com, false", "aes256-gcm@openssh.com, false",
            "chacha20-poly1305@openssh.com, false"})
    void aFreshCipherAtTheReadPositionContinuesTheLiveOne(String name, boolean reInit) throws Exception {
        alwaysReInit(reInit);
        BuiltinCiphers factory = BuiltinCiphers.fromFactoryName(name);
        Random random = new Random(name.hashCode());
        byte[] key = new byte[factory.getKdfSize()];
        random.nextBytes(key);
        byte[] iv0 = new byte[factory.getIVSize()];
        random.nextBytes(iv0);
        long sequence = 41;
        boolean chacha = name.startsWith("chacha20");
        if (chacha) {
            iv0 = new CipherPosition(sequence, 0).ivFor(name, iv0); // MINA keys chacha with the sequence number
        }

        Cipher live = factory.create();
        live.init(Cipher.Mode.Encrypt, key, iv0);
        byte[] ctrIvAtNewKeys = CipherStateReader.ctrIv(live);
        long bytes = 0;
        for (int len : PACKET_LENGTHS) {
            encrypt(live, packet(len, random));
            bytes += len;
            sequence++;
        }
        long expected = name.endsWith("-ctr") ? bytes / 16 : PACKET_LENGTHS.length;
        Long blocks = CipherStateReader.blocks(live, ctrIvAtNewKeys);
        assertEquals(expected, blocks);

        Cipher fresh = factory.create();
        fresh.init(Cipher.Mode.Encrypt, key, new CipherPosition(sequence, blocks).ivFor(name, iv0));
        byte[] next = packet(96, random);
        byte[] copy = next.clone();
        encrypt(live, next);
        encrypt(fresh, copy);
        assertArrayEquals(next, copy, "the read position continues the live cipher");
    }

    /** A packet buffer as MINA lays it out: 4 length bytes, the body, room for a tag. */
    private static byte[] packet(int bodyLength, Random random) {
        byte[] b = new byte[4 + bodyLength + 16];
        random.nextBytes(b);
        return b;
    }

    private static void encrypt(Cipher cipher, byte[] packet) throws Exception {
        int body = packet.length - 4 - 16;
        if (cipher.getAuthenticationTagSize() > 0) {
            cipher.updateWithAAD(packet, 0, 4, body);
        } else {
            cipher.update(packet, 4, body);
        }
    }
}
