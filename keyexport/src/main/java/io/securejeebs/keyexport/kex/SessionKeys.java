package io.securejeebs.keyexport.kex;

import io.securejeebs.keyexport.KexRecord;
import java.util.Arrays;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * The keys a key exchange yields (RFC 4253 §7.2): for each direction an IV, an encryption key and, for
 * non-AEAD ciphers, a MAC key. HASH(K || H || X || session_id) with X = 'A'..'F', extended by
 * HASH(K || H || K1 || … ) to the length the algorithm needs; K is an SSH string of the bytes MINA holds
 * (see {@link ExchangeHash}). Sizes come from MINA's own cipher and MAC descriptions, so the keys match
 * what a MINA session installs.
 */
public record SessionKeys(DirectionKeys clientToServer, DirectionKeys serverToClient) {

    /** One direction's algorithms and keys. Secret: {@link #toString()} shows the names only. */
    public record DirectionKeys(String cipher, String mac, byte[] iv, byte[] key, byte[] macKey) {
        /**
         * Keys of the right sizes for {@code cipher} and {@code mac} (null for an AEAD cipher), drawn from
         * {@code random}: for warm-ups and tests, never for a session.
         */
        public static DirectionKeys random(String cipher, String mac, java.util.Random random) {
            Cipher c = BuiltinCiphers.fromFactoryName(cipher).create();
            byte[] iv = new byte[c.getIVSize()];
            byte[] key = new byte[c.getKdfSize()];
            random.nextBytes(iv);
            random.nextBytes(key);
            byte[] macKey = null;
            if (mac != null) {
                macKey = new byte[BuiltinMacs.fromFactoryName(mac).create().getBlockSize()];
                random.nextBytes(macKey);
            }
            return new DirectionKeys(cipher, mac, iv, key, macKey);
        }

        @Override
        public String toString() {
            return "DirectionKeys[" + cipher + (mac == null ? "" : ", " + mac) + "]";
        }
    }

    public static SessionKeys derive(KexRecord r, NegotiatedAlgorithms algorithms) throws KexRecordException {
        if (!"none".equals(algorithms.compressionC2S()) || !"none".equals(algorithms.compressionS2C())) {
            throw new KexRecordException("compression " + algorithms.compressionC2S() + "/" + algorithms.compressionS2C()
                    + " is negotiated: its state cannot be followed or moved");
        }
        Cipher c2s = cipher(algorithms.cipherC2S());
        Cipher s2c = cipher(algorithms.cipherS2C());
        Mac c2sMac = c2s.getAuthenticationTagSize() > 0 ? null : mac(algorithms.macC2S());
        Mac s2cMac = s2c.getAuthenticationTagSize() > 0 ? null : mac(algorithms.macS2C());
        return new SessionKeys(
                new DirectionKeys(algorithms.cipherC2S(), c2sMac == null ? null : algorithms.macC2S(),
                        derive(r, 'A', c2s.getIVSize()), derive(r, 'C', c2s.getKdfSize()),
                        c2sMac == null ? null : derive(r, 'E', c2sMac.getBlockSize())),
                new DirectionKeys(algorithms.cipherS2C(), s2cMac == null ? null : algorithms.macS2C(),
                        derive(r, 'B', s2c.getIVSize()), derive(r, 'D', s2c.getKdfSize()),
                        s2cMac == null ? null : derive(r, 'F', s2cMac.getBlockSize())));
    }

    /** Key material for letter {@code x}, {@code length} bytes long. */
    static byte[] derive(KexRecord r, char x, int length) throws KexRecordException {
        Buffer b = new ByteArrayBuffer();
        b.putBytes(r.sharedSecret());
        b.putRawBytes(r.exchangeHash());
        b.putByte((byte) x);
        b.putRawBytes(r.sessionId());
        byte[] out = ExchangeHash.digest(r.hashAlgorithm(), b);
        while (out.length < length) {
            Buffer more = new ByteArrayBuffer();
            more.putBytes(r.sharedSecret());
            more.putRawBytes(r.exchangeHash());
            more.putRawBytes(out);
            byte[] next = ExchangeHash.digest(r.hashAlgorithm(), more);
            byte[] joined = Arrays.copyOf(out, out.length + next.length);
            System.arraycopy(next, 0, joined, out.length, next.length);
            out = joined;
        }
        return Arrays.copyOf(out, length);
    }

    static Cipher cipher(String name) throws KexRecordException {
        NamedFactory<Cipher> f = BuiltinCiphers.fromFactoryName(name);
        if (f == null || !BuiltinCiphers.fromFactoryName(name).isSupported()) {
            throw new KexRecordException("cipher " + name + " is not supported");
        }
        return f.create();
    }

    static Mac mac(String name) throws KexRecordException {
        if (name == null) {
            throw new KexRecordException("no MAC was negotiated for a non-AEAD cipher");
        }
        NamedFactory<Mac> f = BuiltinMacs.fromFactoryName(name);
        if (f == null) {
            throw new KexRecordException("MAC " + name + " is not supported");
        }
        return f.create();
    }
}
