package io.securejeebs.cpr;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Objects;
import java.util.Random;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;

/**
 * Encodes payloads into one direction of an SSH binary packet stream (RFC 4253 §6) after NEWKEYS: the mirror
 * of the monitor's {@code SshPacketDecoder}. It may start anywhere inside a key epoch: a
 * {@link CipherPosition} says where, and the cipher is initialised with {@link CipherPosition#ivFor}, so a
 * packet it encodes at position p is what the peer, having decrypted p packets of the epoch, expects next.
 *
 * <p>Packets are laid out as the sender's side of RFC 4253 §6 with OpenSSH's variants (PROTOCOL,
 * PROTOCOL.chacha20poly1305): at least 4 bytes of random padding, so that what is encrypted is a whole
 * number of max(8, cipher block) bytes; with an AEAD cipher or an encrypt-then-MAC MAC the 4-byte length
 * stays out of that count (it is additional data, or sent in the clear), otherwise it is included. The MAC
 * covers the sequence number and the plaintext packet (classic) or the encrypted one (etm); an AEAD cipher
 * appends its tag itself. The cipher and MAC implementations are MINA SSHD's, as in the server.
 *
 * <p>Not thread-safe: one encoder is one direction of one connection.
 */
public final class SshPacketEncoder {
    /** The largest packet_length the monitor's decoder (and OpenSSH) accepts. */
    public static final int MAX_PACKET_LENGTH = 256 * 1024;

    private final String cipherName;
    private final Cipher cipher;
    private final Mac mac;
    private final boolean aead;
    private final boolean etm;
    private final int paddingUnit;
    private final int tagSize;
    private final int macSize;
    private final Random paddingRandom;
    private CipherPosition position;

    /** Random padding from a {@link SecureRandom}. */
    public SshPacketEncoder(DirectionKeys keys, CipherPosition start) throws GeneralSecurityException {
        this(keys, start, new SecureRandom());
    }

    /**
     * @param keys          the direction's algorithms and keys, with the epoch's initial IV as derived
     * @param start         where in the epoch the first packet goes: its sequence number, and for CTR the
     *                      cipher blocks (for GCM the packets) already processed since NEWKEYS
     * @param paddingRandom where the padding bytes come from
     * @throws IllegalArgumentException if the cipher or MAC is unknown, or its position cannot be moved
     * @throws GeneralSecurityException if the cipher or MAC refuses the keys
     */
    public SshPacketEncoder(DirectionKeys keys, CipherPosition start, Random paddingRandom)
            throws GeneralSecurityException {
        Objects.requireNonNull(keys, "keys");
        this.position = Objects.requireNonNull(start, "start");
        this.paddingRandom = Objects.requireNonNull(paddingRandom, "paddingRandom");
        this.cipherName = keys.cipher();
        BuiltinCiphers c = BuiltinCiphers.fromFactoryName(cipherName);
        if (c == null || c == BuiltinCiphers.none || !c.isSupported()) {
            throw new IllegalArgumentException("cipher " + cipherName + " is not supported");
        }
        CipherPosition.modeOf(cipherName); // only ciphers whose position can be moved
        cipher = c.create();
        try {
            cipher.init(Cipher.Mode.Encrypt, keys.key(), start.ivFor(cipherName, keys.iv()));
        } catch (Exception e) {
            throw new GeneralSecurityException("cannot initialise " + cipherName + ": " + e.getMessage(), e);
        }
        tagSize = cipher.getAuthenticationTagSize();
        aead = tagSize > 0;
        if (aead) {
            mac = null;
        } else {
            BuiltinMacs m = keys.mac() == null ? null : BuiltinMacs.fromFactoryName(keys.mac());
            if (m == null) {
                throw new IllegalArgumentException("MAC " + keys.mac() + " is not supported (" + cipherName
                        + " needs one)");
            }
            mac = m.create();
            try {
                mac.init(keys.macKey());
            } catch (Exception e) {
                throw new GeneralSecurityException("cannot initialise " + keys.mac() + ": " + e.getMessage(), e);
            }
        }
        etm = mac != null && mac.isEncryptThenMac();
        macSize = mac == null ? 0 : mac.getBlockSize();
        paddingUnit = Math.max(8, cipher.getCipherBlockSize());
    }

    /** Where the next packet goes: its sequence number and cipher position. */
    public CipherPosition position() {
        return position;
    }

    public String cipherName() {
        return cipherName;
    }

    /** One packet carrying {@code payload} (message number first). */
    public byte[] encode(byte[] payload) {
        return encode(payload, 0, payload.length);
    }

    /**
     * One packet carrying {@code payload[offset, offset + length)}: length, padding length, payload, padding,
     * encrypted, then the MAC or tag.
     *
     * @throws IllegalArgumentException if the payload is empty or the packet would be too long
     * @throws IllegalStateException    if the cipher or MAC fails (the encoder is then unusable)
     */
    public byte[] encode(byte[] payload, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, payload.length);
        if (length < 1) {
            throw new IllegalArgumentException("an SSH packet carries at least a message number");
        }
        int outsideBlocks = (aead || etm) ? 4 : 0;
        int covered = 4 + 1 + length - outsideBlocks;
        int padding = paddingUnit - (covered % paddingUnit);
        if (padding < 4) {
            padding += paddingUnit;
        }
        long packetLength = 1L + length + padding;
        if (packetLength > MAX_PACKET_LENGTH) {
            throw new IllegalArgumentException("payload of " + length + " bytes makes a packet longer than "
                    + MAX_PACKET_LENGTH);
        }
        int plen = (int) packetLength;
        byte[] p = new byte[4 + plen + macSize + tagSize];
        p[0] = (byte) (plen >>> 24);
        p[1] = (byte) (plen >>> 16);
        p[2] = (byte) (plen >>> 8);
        p[3] = (byte) plen;
        p[4] = (byte) padding;
        System.arraycopy(payload, offset, p, 5, length);
        byte[] pad = new byte[padding];
        paddingRandom.nextBytes(pad);
        System.arraycopy(pad, 0, p, 5 + length, padding);
        return seal(p, plen);
    }

    /**
     * Encrypts and authenticates a packet whose plaintext is already laid out (uint32 length, padding length,
     * payload, padding), for when the bytes must be exactly these: completing a packet whose beginning the
     * peer already has. Returns the wire bytes, MAC or tag included.
     *
     * @throws IllegalArgumentException if the layout does not fit this cipher's block size
     */
    public byte[] encodeLaidOut(byte[] plaintextPacket) {
        int plen = ((plaintextPacket[0] & 0xff) << 24) | ((plaintextPacket[1] & 0xff) << 16)
                | ((plaintextPacket[2] & 0xff) << 8) | (plaintextPacket[3] & 0xff);
        if (plaintextPacket.length != 4 + plen) {
            throw new IllegalArgumentException("laid-out packet is " + plaintextPacket.length + " bytes, its length field says "
                    + (4 + plen));
        }
        if (((aead || etm) ? plen : 4 + plen) % paddingUnit != 0) {
            throw new IllegalArgumentException("packet length " + plen + " does not fit " + cipherName + "'s block size");
        }
        return seal(java.util.Arrays.copyOf(plaintextPacket, 4 + plen + macSize + tagSize), plen);
    }

    private byte[] seal(byte[] p, int plen) {
        long seq = position.sequence();
        int ciphered;
        try {
            if (aead) {
                cipher.updateAAD(p, 0, 4);
                cipher.update(p, 4, plen); // writes the tag after the packet
                ciphered = plen;
            } else if (etm) {
                cipher.update(p, 4, plen);
                mac.updateUInt(seq);
                mac.update(p, 0, 4 + plen);
                mac.doFinal(p, 4 + plen);
                ciphered = plen;
            } else {
                mac.updateUInt(seq);
                mac.update(p, 0, 4 + plen);
                mac.doFinal(p, 4 + plen);
                cipher.update(p, 0, 4 + plen);
                ciphered = 4 + plen;
            }
        } catch (Exception e) {
            throw new IllegalStateException("packet " + seq + ": " + cipherName + " failed: " + e.getMessage(), e);
        }
        position = position.after(cipherName, ciphered);
        return p;
    }

    @Override
    public String toString() {
        return "SshPacketEncoder[" + cipherName + (mac == null ? "" : ", " + mac.getAlgorithm()) + " at seq "
                + position.sequence() + "]";
    }
}
