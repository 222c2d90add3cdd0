package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import java.util.Arrays;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;

/**
 * Decodes one direction of an SSH binary packet stream (RFC 4253 §6) after NEWKEYS, as the receiving
 * peer does: bytes are fed as they are captured, in order, and every whole packet comes out as its
 * plaintext payload with its sequence number. Every MAC or AEAD tag is verified; a failure is an
 * exception, never a silently accepted packet. The cipher and MAC implementations are MINA SSHD's, so
 * the cipher position (CTR block counter, GCM invocation counter, chacha20 nonce = sequence number)
 * advances exactly as in the server.
 */
public final class SshPacketDecoder {
    /** Receives each decoded packet. The payload array is only valid during the call. */
    @FunctionalInterface
    public interface PacketSink {
        /**
         * @param wireLength the whole packet's size on the wire: length field, ciphertext, MAC or tag
         * @return false to stop decoding after this packet (e.g. after NEWKEYS, whose successors use other
         *         keys); the rest stays buffered, see {@link #takeBuffered()}
         */
        boolean onPacket(long sequence, byte[] payload, int offset, int length, int wireLength)
                throws PacketDecodingException;
    }

    /**
     * Says, from the first bytes of a payload, whether the rest must be deciphered too. Only ciphers whose
     * tag or MAC covers the ciphertext can leave the rest undeciphered, with every packet still
     * authenticated (chacha20-poly1305); the others always decipher everything.
     */
    @FunctionalInterface
    public interface PayloadPolicy {
        /**
         * @param head the payload's first {@code length} bytes, deciphered: the whole payload if it is shorter
         *             than {@link #PAYLOAD_HEAD}, else that many
         * @return false to leave the rest as ciphertext: the sink then gets the head alone
         */
        boolean wholePayloadNeeded(byte[] head, int offset, int length);
    }

    /** Payload bytes always deciphered: a message's number and the fixed fields that follow (channel, length). */
    public static final int PAYLOAD_HEAD = 63;

    /** RFC 4253 §6.1 asks for 35000; OpenSSH accepts up to 256 KiB. */
    private static final int MAX_PACKET_LENGTH = 256 * 1024;

    /** MINA's cipher; null for chacha20-poly1305, which {@link #chacha} opens. */
    private final Cipher cipher;
    private final ChaCha20Poly1305Opener chacha;
    private PayloadPolicy policy;
    private final Mac mac;
    private final boolean aead;
    private final boolean etm;
    private final int blockSize;
    private final int tagSize;
    private final int macSize;
    private final byte[] macResult;
    /**
     * Where the length is decrypted before the packet is whole (the first block without ETM or AEAD; the
     * length field for AEAD: MINA's chacha20-poly1305 decrypts its AAD in place): here, not in the buffer, so
     * that the buffer holds the captured ciphertext until the packet is whole, and a partial packet's bytes
     * can be handed out as such. Null with ETM, whose length is plaintext.
     */
    private final byte[] head;
    private final String cipherName;
    private long sequence;
    private long packets;
    /** CTR blocks or GCM invocations since this key epoch began (see {@link CipherPosition}). */
    private long blocks;

    private byte[] buffer = new byte[0];
    private int buffered;
    /** -1 until the current packet's length is known. */
    private int packetLength = -1;

    /**
     * @param initialSequence the sequence number of the first packet after NEWKEYS (0 with strict KEX)
     */
    public SshPacketDecoder(DirectionKeys keys, long initialSequence) throws PacketDecodingException {
        this(keys, new CipherPosition(initialSequence, 0));
    }

    /** A decoder that continues a key epoch at {@code start} (sequence number and cipher position). */
    public SshPacketDecoder(DirectionKeys keys, CipherPosition start) throws PacketDecodingException {
        cipherName = keys.cipher();
        try {
            if (CipherPosition.modeOf(cipherName) == CipherPosition.Mode.CHACHA20_POLY1305) {
                cipher = null;
                chacha = new ChaCha20Poly1305Opener(keys.key());
                tagSize = ChaCha20Poly1305Opener.TAG_LENGTH;
                blockSize = 8;
            } else {
                chacha = null;
                cipher = BuiltinCiphers.fromFactoryName(keys.cipher()).create();
                cipher.init(Cipher.Mode.Decrypt, keys.key(), start.ivFor(keys.cipher(), keys.iv()));
                tagSize = cipher.getAuthenticationTagSize();
                blockSize = cipher.getCipherBlockSize();
            }
            aead = tagSize > 0;
            if (aead) {
                mac = null;
            } else {
                mac = BuiltinMacs.fromFactoryName(keys.mac()).create();
                mac.init(keys.macKey());
            }
            etm = mac != null && mac.isEncryptThenMac();
            macSize = mac == null ? 0 : mac.getBlockSize();
            macResult = new byte[macSize];
            head = aead ? new byte[4] : etm ? null : new byte[blockSize];
        } catch (Exception e) {
            throw new PacketDecodingException("cannot set up " + keys + ": " + e.getMessage(), e);
        }
        this.sequence = start.sequence() & 0xffffffffL;
        this.blocks = start.blocks();
    }

    /**
     * From now on, asks {@code policy} whether each payload must be deciphered past its head (where the
     * cipher allows it; see {@link PayloadPolicy}).
     */
    public SshPacketDecoder withPayloadPolicy(PayloadPolicy policy) {
        this.policy = policy;
        return this;
    }

    /** Where the cipher stands before the next packet. */
    public CipherPosition position() {
        return new CipherPosition(sequence, blocks);
    }

    /** Sequence number the next packet will carry. */
    public long nextSequence() {
        return sequence;
    }

    public long packetsDecoded() {
        return packets;
    }

    /** Bytes of an incomplete packet held back until more arrive. */
    public int bytesBuffered() {
        return buffered;
    }

    public void feed(byte[] data, int offset, int length, PacketSink sink) throws PacketDecodingException {
        append(data, offset, length);
        int start = 0;
        try {
            while (true) {
                int available = buffered - start;
                if (packetLength < 0) {
                    int needed = (aead || etm) ? 4 : blockSize;
                    if (available < needed) {
                        break;
                    }
                    if (chacha != null) {
                        chacha.decryptLength(sequence, buffer, start, head);
                    } else if (aead) {
                        System.arraycopy(buffer, start, head, 0, 4);
                        cipher.updateAAD(head, 0, 4); // the length is additional data (GCM)
                    } else if (!etm) {
                        System.arraycopy(buffer, start, head, 0, blockSize);
                        cipher.update(head, 0, blockSize); // decrypt the first block to learn the length
                    }
                    packetLength = readInt(head == null ? buffer : head, head == null ? start : 0);
                    checkLength();
                }
                int total = 4 + packetLength + macSize + tagSize;
                if (available < total) {
                    break;
                }
                int deciphered = packetLength;
                if (chacha != null) {
                    if (!chacha.authenticate(sequence, buffer, start, packetLength)) {
                        throw new PacketDecodingException("packet " + sequence + ": the Poly1305 tag does not verify");
                    }
                    deciphered = Math.min(packetLength, 1 + PAYLOAD_HEAD);
                    chacha.decrypt(buffer, start + 4, deciphered);
                } else if (aead) {
                    cipher.update(buffer, start + 4, packetLength); // verifies the tag that follows
                } else if (etm) {
                    verifyMac(start, 4 + packetLength);
                    cipher.update(buffer, start + 4, packetLength);
                } else {
                    System.arraycopy(head, 0, buffer, start, blockSize);
                    cipher.update(buffer, start + blockSize, 4 + packetLength - blockSize);
                    verifyMac(start, 4 + packetLength);
                }
                int padding = buffer[start + 4] & 0xff;
                int payloadLength = packetLength - 1 - padding;
                if (padding < 4 || payloadLength < 1) {
                    throw new PacketDecodingException("packet " + sequence + ": padding " + padding
                            + " does not fit packet length " + packetLength);
                }
                int given = payloadLength;
                if (payloadLength > deciphered - 1) { // the payload goes on past the head (chacha only)
                    if (policy == null || policy.wholePayloadNeeded(buffer, start + 5, deciphered - 1)) {
                        chacha.decrypt(buffer, start + 4 + deciphered, packetLength - deciphered);
                    } else {
                        given = deciphered - 1; // the rest stays ciphertext, authenticated all the same
                    }
                }
                long seq = sequence;
                blocks = new CipherPosition(sequence, blocks).after(cipherName, etm || aead ? packetLength : 4 + packetLength).blocks();
                sequence = (sequence + 1) & 0xffffffffL;
                packets++;
                packetLength = -1;
                start += total;
                if (!sink.onPacket(seq, buffer, start - total + 5, given, total)) {
                    break;
                }
            }
        } catch (PacketDecodingException e) {
            throw e;
        } catch (Exception e) {
            throw new PacketDecodingException("packet " + sequence + ": " + e.getMessage(), e);
        }
        compact(start);
    }

    /** Hands out the bytes held back (an incomplete packet, or what followed a stop) and forgets them. */
    public byte[] takeBuffered() {
        if (packetLength >= 0) {
            throw new IllegalStateException("a packet's first block is already decrypted; its bytes cannot move");
        }
        byte[] rest = Arrays.copyOf(buffer, buffered);
        buffer = new byte[0];
        buffered = 0;
        return rest;
    }

    /**
     * The ciphertext of the incomplete packet held back now (empty when the decoder stands between packets),
     * exactly as captured: a fresh decoder at {@link #position()} fed these bytes stands where this one does.
     */
    public byte[] bufferedCopy() {
        return Arrays.copyOf(buffer, buffered);
    }

    private void checkLength() throws PacketDecodingException {
        boolean bad = packetLength < 5 || packetLength > MAX_PACKET_LENGTH
                || ((packetLength + ((aead || etm) ? 0 : 4)) % blockSize) != 0;
        if (bad) {
            throw new PacketDecodingException("packet " + sequence + ": invalid packet length " + packetLength
                    + " (wrong keys, or a stream that is not where it should be)");
        }
    }

    private void verifyMac(int start, int length) throws Exception {
        mac.updateUInt(sequence);
        mac.update(buffer, start, length);
        mac.doFinal(macResult, 0);
        if (!Mac.equals(macResult, 0, buffer, start + length, macSize)) {
            throw new PacketDecodingException("packet " + sequence + ": MAC does not verify");
        }
    }

    private void append(byte[] data, int offset, int length) {
        if (buffered + length > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffered + length, Math.min(2 * buffer.length + 64, MAX_PACKET_LENGTH + 1024)));
        }
        System.arraycopy(data, offset, buffer, buffered, length);
        buffered += length;
    }

    /** Keeps the unconsumed tail; an idle decoder holds no buffer. */
    private void compact(int consumed) {
        int rest = buffered - consumed;
        if (rest == 0) {
            buffer = new byte[0];
        } else if (consumed > 0) {
            System.arraycopy(buffer, consumed, buffer, 0, rest);
        }
        buffered = rest;
    }

    private static int readInt(byte[] b, int i) {
        return ((b[i] & 0xff) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
    }
}
