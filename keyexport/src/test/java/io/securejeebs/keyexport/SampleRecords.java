package io.securejeebs.keyexport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Random;

/** Realistic KEX records for tests (random bytes of the sizes a curve25519-sha256 exchange has). */
public final class SampleRecords {
    public static final String PRIMARY_ID = "primary-a";

    private SampleRecords() {
    }

    public static InetSocketAddress endpoint(String address, int port) {
        try {
            return new InetSocketAddress(InetAddress.getByName(address), port);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(address, e);
        }
    }

    public static InetSocketAddress client() {
        return endpoint("10.213.0.10", 40022);
    }

    public static InetSocketAddress server() {
        return endpoint("10.213.0.100", 22);
    }

    /** The initial key exchange of a session whose id is derived from {@code seed}. */
    public static KexRecord initial(long seed) {
        return rekey(seed, 0, client(), server());
    }

    /**
     * Key exchange number {@code ordinal} of the session seeded by {@code seed}: the session id is the
     * same for every ordinal, H differs (and equals the session id for ordinal 0).
     */
    public static KexRecord rekey(long seed, int ordinal, InetSocketAddress client, InetSocketAddress server) {
        Random random = new Random(seed);
        byte[] sessionId = bytes(random, 32);
        Random perKex = new Random(seed * 31 + ordinal);
        byte[] h = ordinal == 0 ? sessionId.clone() : bytes(perKex, 32);
        return new KexRecord(PRIMARY_ID, client, server, ordinal,
                "curve25519-sha256", "SHA-256",
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "SSH-2.0-SecureJeebs_0.1",
                kexInit(perKex, 1100), kexInit(perKex, 900),
                List.of(message(perKex, 30, 36)),
                List.of(message(perKex, 31, 180)),
                bytes(perKex, 33), KexRecord.SharedSecretEncoding.MPINT,
                h, sessionId, true);
    }

    private static byte[] kexInit(Random random, int size) {
        return message(random, 20, size);
    }

    private static byte[] message(Random random, int messageNumber, int size) {
        byte[] m = bytes(random, size);
        m[0] = (byte) messageNumber;
        return m;
    }

    public static byte[] bytes(Random random, int size) {
        byte[] b = new byte[size];
        random.nextBytes(b);
        return b;
    }

    public static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Field-by-field equality (the record's own equals compares arrays by identity). */
    public static void assertSameRecord(KexRecord expected, KexRecord actual) {
        assertEquals(expected.primaryId(), actual.primaryId(), "primaryId");
        assertEquals(expected.client(), actual.client(), "client");
        assertEquals(expected.server(), actual.server(), "server");
        assertEquals(expected.ordinal(), actual.ordinal(), "ordinal");
        assertEquals(expected.kexName(), actual.kexName(), "kexName");
        assertEquals(expected.hashAlgorithm(), actual.hashAlgorithm(), "hashAlgorithm");
        assertEquals(expected.clientVersion(), actual.clientVersion(), "clientVersion");
        assertEquals(expected.serverVersion(), actual.serverVersion(), "serverVersion");
        assertArrayEquals(expected.clientKexInit(), actual.clientKexInit(), "clientKexInit");
        assertArrayEquals(expected.serverKexInit(), actual.serverKexInit(), "serverKexInit");
        assertMessages(expected.clientKexMessages(), actual.clientKexMessages(), "clientKexMessages");
        assertMessages(expected.serverKexMessages(), actual.serverKexMessages(), "serverKexMessages");
        assertArrayEquals(expected.sharedSecret(), actual.sharedSecret(), "sharedSecret");
        assertEquals(expected.sharedSecretEncoding(), actual.sharedSecretEncoding(), "sharedSecretEncoding");
        assertArrayEquals(expected.exchangeHash(), actual.exchangeHash(), "exchangeHash");
        assertArrayEquals(expected.sessionId(), actual.sessionId(), "sessionId");
        assertEquals(expected.strictKex(), actual.strictKex(), "strictKex");
    }

    private static void assertMessages(List<byte[]> expected, List<byte[]> actual, String field) {
        assertEquals(expected.size(), actual.size(), field + " count");
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), field + "[" + i + "]");
        }
    }
}
