package io.securejeebs.keyexport.kex;

import java.math.BigInteger;
import java.util.Arrays;

/**
 * Where one direction's cipher stands within a key epoch, and the IV that makes a fresh MINA cipher
 * continue from exactly there (DESIGN §5.1 "Cipher position"). The monitor counts it while it decrypts,
 * the CPR client uses it to encrypt the controlled part, and the recovery server installs it at
 * REPLAY_END.
 *
 * <ul>
 * <li>CTR ({@code aes*-ctr}): the IV is a 128-bit big-endian counter; after {@code blocks} 16-byte blocks
 *     it is IV0 + blocks.</li>
 * <li>GCM ({@code aes*-gcm@openssh.com}): a 4-byte fixed field and a 64-bit invocation counter, incremented
 *     once per packet; {@code blocks} counts packets here.</li>
 * <li>chacha20-poly1305@openssh.com: keyed per packet by the sequence number, IV = BE64(sequence).</li>
 * </ul>
 *
 * @param sequence the sequence number of the next packet
 * @param blocks CTR: cipher blocks processed since NEWKEYS; GCM: packets since NEWKEYS; chacha: unused
 */
public record CipherPosition(long sequence, long blocks) {
    public static final CipherPosition START = new CipherPosition(0, 0);

    public enum Mode { CTR, GCM, CHACHA20_POLY1305 }

    public static Mode modeOf(String cipherName) {
        if (cipherName.startsWith("chacha20-poly1305")) {
            return Mode.CHACHA20_POLY1305;
        }
        if (cipherName.contains("-gcm")) {
            return Mode.GCM;
        }
        if (cipherName.endsWith("-ctr")) {
            return Mode.CTR;
        }
        throw new IllegalArgumentException("cipher " + cipherName
                + " has no known position arithmetic (only CTR, GCM and chacha20-poly1305 can be moved)");
    }

    /** The IV with which a freshly initialised MINA cipher continues at this position. */
    public byte[] ivFor(String cipherName, byte[] iv0) {
        byte[] iv = iv0.clone();
        switch (modeOf(cipherName)) {
            case CHACHA20_POLY1305 -> {
                iv = Arrays.copyOf(iv, Math.max(iv.length, 8));
                for (int i = 0; i < 8; i++) {
                    iv[i] = (byte) (sequence >>> (56 - 8 * i));
                }
            }
            case GCM -> {
                long counter = 0;
                for (int i = 4; i < 12; i++) {
                    counter = (counter << 8) | (iv[i] & 0xff);
                }
                counter += blocks;
                for (int i = 11; i >= 4; i--) {
                    iv[i] = (byte) counter;
                    counter >>>= 8;
                }
            }
            case CTR -> {
                BigInteger c = new BigInteger(1, iv).add(BigInteger.valueOf(blocks))
                        .mod(BigInteger.ONE.shiftLeft(8 * iv.length));
                byte[] raw = c.toByteArray();
                Arrays.fill(iv, (byte) 0);
                int n = Math.min(raw.length, iv.length);
                System.arraycopy(raw, raw.length - n, iv, iv.length - n, n);
            }
        }
        return iv;
    }

    /** The position after one more packet whose encrypted part is {@code cipheredBytes} long. */
    public CipherPosition after(String cipherName, int cipheredBytes) {
        long nextSeq = (sequence + 1) & 0xffffffffL;
        return switch (modeOf(cipherName)) {
            case CTR -> new CipherPosition(nextSeq, blocks + cipheredBytes / 16);
            case GCM -> new CipherPosition(nextSeq, blocks + 1);
            case CHACHA20_POLY1305 -> new CipherPosition(nextSeq, blocks + 1);
        };
    }
}
