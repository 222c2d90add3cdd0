package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SshPacketDecoderTest {
    /**
     * The sending side of RFC 4253 §6 (with the etm and AEAD variants of OpenSSH's PROTOCOL file), written
     * independently of the decoder, using MINA's ciphers in encrypt mode.
     */
    private static final class Encoder {
        final Cipher cipher;
        final Mac mac;
        long seq;
        final Random random = new Random(7);

        Encoder(DirectionKeys k, long seq) throws Exception {
            cipher = BuiltinCiphers.fromFactoryName(k.cipher()).create();
            byte[] iv = k.iv().clone();
            if (cipher.getAlgorithm().startsWith("ChaCha")) {
                for (int i = 0; i < 8; i++) {
                    iv[i] = (byte) (seq >>> (56 - 8 * i));
                }
            }
            cipher.init(Cipher.Mode.Encrypt, k.key(), iv);
            mac = k.mac() == null ? null : BuiltinMacs.fromFactoryName(k.mac()).create();
            if (mac != null) {
                mac.init(k.macKey());
            }
            this.seq = seq;
        }

        byte[] packet(byte[] payload) throws Exception {
            boolean aead = cipher.getAuthenticationTagSize() > 0;
            boolean etm = mac != null && mac.isEncryptThenMac();
            int block = Math.max(8, cipher.getCipherBlockSize());
            int lengthOutsideBlocks = (aead || etm) ? 4 : 0;
            int padding = block - ((4 + 1 + payload.length - lengthOutsideBlocks) % block);
            if (padding < 4) {
                padding += block;
            }
            int packetLength = 1 + payload.length + padding;
            int macSize = mac == null ? 0 : mac.getBlockSize();
            byte[] p = new byte[4 + packetLength + macSize + cipher.getAuthenticationTagSize()];
            p[0] = (byte) (packetLength >>> 24);
            p[1] = (byte) (packetLength >>> 16);
            p[2] = (byte) (packetLength >>> 8);
            p[3] = (byte) packetLength;
            p[4] = (byte) padding;
            System.arraycopy(payload, 0, p, 5, payload.length);
            for (int i = 0; i < padding; i++) {
                p[5 + payload.length + i] = (byte) random.nextInt();
            }
            if (aead) {
                cipher.updateAAD(p, 0, 4);
                cipher.update(p, 4, packetLength); // appends the tag
            } else if (etm) {
                cipher.update(p, 4, packetLength);
                mac.updateUInt(seq);
                mac.update(p, 0, 4 + packetLength);
                mac.doFinal(p, 4 + packetLength);
            } else {
                mac.updateUInt(seq);
                mac.update(p, 0, 4 + packetLength);
                mac.doFinal(p, 4 + packetLength);
                cipher.update(p, 0, 4 + packetLength);
            }
            seq = (seq + 1) & 0xffffffffL;
            return p;
        }
    }

    private static DirectionKeys keys(String cipher, String mac) {
        return DirectionKeys.random(cipher, mac, new Random(cipher.hashCode()));
    }

    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none",
            "aes256-gcm@openssh.com, none",
            "aes128-gcm@openssh.com, none",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com",
            "aes256-ctr, hmac-sha2-512-etm@openssh.com",
            "aes192-ctr, hmac-sha2-256",
            "aes128-ctr, hmac-sha1"})
    void decodesEveryPacketFedInArbitraryPiecesAndVerifiesEachMac(String cipher, String mac) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        long firstSeq = 0xffff_fffdL; // the sequence number wraps during the test
        Encoder enc = new Encoder(k, firstSeq);
        Random r = new Random(1);
        List<byte[]> sent = new ArrayList<>();
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (int i = 0; i < 200; i++) {
            byte[] payload = new byte[1 + r.nextInt(i % 10 == 0 ? 40_000 : 300)];
            r.nextBytes(payload);
            payload[0] = (byte) (94 + i % 3);
            sent.add(payload);
            wire.write(enc.packet(payload));
        }
        byte[] stream = wire.toByteArray();

        SshPacketDecoder dec = new SshPacketDecoder(k, firstSeq);
        List<byte[]> got = new ArrayList<>();
        List<Long> seqs = new ArrayList<>();
        for (int off = 0; off < stream.length; ) {
            int n = Math.min(stream.length - off, 1 + r.nextInt(3000));
            dec.feed(stream, off, n, (seq, p, o, l, w) -> {
                got.add(java.util.Arrays.copyOfRange(p, o, o + l));
                seqs.add(seq);
                return true;
            });
            off += n;
        }
        assertEquals(sent.size(), got.size());
        for (int i = 0; i < sent.size(); i++) {
            assertArrayEquals(sent.get(i), got.get(i), "payload " + i);
            assertEquals((firstSeq + i) & 0xffffffffL, seqs.get(i));
        }
        assertEquals(0, dec.bytesBuffered());
        assertEquals((firstSeq + 200) & 0xffffffffL, dec.nextSequence());
    }

    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none",
            "aes256-gcm@openssh.com, none",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com",
            "aes128-ctr, hmac-sha2-256"})
    void aFlippedBitAnywhereIsNeverAccepted(String cipher, String mac) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        byte[] payload = "SSH_MSG_SERVICE_REQUEST ssh-userauth".getBytes();
        byte[] packet = new Encoder(k, 3).packet(payload);
        for (int bit = 0; bit < packet.length * 8; bit += 7) {
            byte[] bad = packet.clone();
            bad[bit / 8] ^= (byte) (1 << (bit % 8));
            SshPacketDecoder dec = new SshPacketDecoder(k, 3);
            List<byte[]> got = new ArrayList<>();
            try {
                dec.feed(bad, 0, bad.length, (s, p, o, l, w) -> got.add(p));
                assertTrue(got.isEmpty(), "bit " + bit + " flipped, packet still accepted");
            } catch (PacketDecodingException expected) {
                // rejected: good
            }
        }
        if (!cipher.contains("gcm")) { // AES-GCM's nonce is its own invocation counter, not the sequence number
            assertThrows(PacketDecodingException.class, () -> new SshPacketDecoder(k, 4) // wrong sequence number
                    .feed(packet, 0, packet.length, (s, p, o, l, w) -> true));
        }
    }

    /**
     * A checkpoint cuts the stream anywhere: the bytes held of an incomplete packet must be the captured
     * ciphertext (also with the first block decrypted to read the length), and a fresh decoder at
     * {@link SshPacketDecoder#position()} fed them and the rest decodes what the first one would have.
     */
    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none",
            "aes128-gcm@openssh.com, none",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com",
            "aes256-ctr, hmac-sha2-256",
            "aes192-ctr, hmac-sha1"})
    void aDecoderCutAnywhereContinuesFromItsPositionAndHeldCiphertext(String cipher, String mac) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        Encoder enc = new Encoder(k, 5);
        Random r = new Random(3);
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            byte[] payload = new byte[1 + r.nextInt(100)];
            r.nextBytes(payload);
            sent.add(payload);
            wire.write(enc.packet(payload));
        }
        byte[] stream = wire.toByteArray();
        for (int cut = 1; cut < stream.length; cut++) {
            SshPacketDecoder first = new SshPacketDecoder(k, 5);
            List<byte[]> got = new ArrayList<>();
            first.feed(stream, 0, cut, (seq, p, o, l, w) -> got.add(java.util.Arrays.copyOfRange(p, o, o + l)));
            byte[] held = first.bufferedCopy();
            assertArrayEquals(java.util.Arrays.copyOfRange(stream, cut - held.length, cut), held,
                    "held bytes at cut " + cut + " are the ciphertext as captured");
            SshPacketDecoder second = new SshPacketDecoder(k, first.position());
            second.feed(held, 0, held.length, (seq, p, o, l, w) -> got.add(java.util.Arrays.copyOfRange(p, o, o + l)));
            second.feed(stream, cut, stream.length - cut, (seq, p, o, l, w) -> got.add(java.util.Arrays.copyOfRange(p, o, o + l)));
            assertEquals(sent.size(), got.size(), "cut " + cut);
            for (int i = 0; i < sent.size(); i++) {
                assertArrayEquals(sent.get(i), got.get(i), "cut " + cut + ", payload " + i);
            }
        }
    }

    /**
     * chacha20-poly1305: a payload the policy does not want past its head reaches the sink as its head only,
     * still authenticated (a flipped bit in its undeciphered data is refused), and the packets after it
     * decode as before. The other ciphers decipher every payload whole, whatever the policy says.
     */
    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none, true",
            "aes128-gcm@openssh.com, none, false",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com, false"})
    void aPayloadLeftUndecipheredIsStillAuthenticated(String cipher, String mac, boolean canSkip) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        Encoder enc = new Encoder(k, 40);
        Random r = new Random(11);
        List<byte[]> sent = new ArrayList<>();
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (int i = 0; i < 12; i++) {
            byte[] payload = new byte[i % 4 == 2 ? 30 : 100 + r.nextInt(40_000)]; // some shorter than the head
            r.nextBytes(payload);
            payload[0] = (byte) (i % 2 == 0 ? 94 : 98); // CHANNEL_DATA, CHANNEL_REQUEST
            sent.add(payload);
            wire.write(enc.packet(payload));
        }
        byte[] stream = wire.toByteArray();
        SshPacketDecoder.PayloadPolicy dataHeadOnly = (p, o, l) -> p[o] != 94;

        List<byte[]> got = new ArrayList<>();
        SshPacketDecoder dec = new SshPacketDecoder(k, 40).withPayloadPolicy(dataHeadOnly);
        for (int off = 0; off < stream.length; ) {
            int n = Math.min(stream.length - off, 1 + r.nextInt(5000));
            dec.feed(stream, off, n, (seq, p, o, l, w) -> got.add(java.util.Arrays.copyOfRange(p, o, o + l)));
            off += n;
        }
        assertEquals(sent.size(), got.size());
        int heads = 0;
        for (int i = 0; i < sent.size(); i++) {
            byte[] whole = sent.get(i);
            boolean headOnly = canSkip && whole[0] == 94 && whole.length > SshPacketDecoder.PAYLOAD_HEAD;
            byte[] expected = headOnly ? java.util.Arrays.copyOf(whole, SshPacketDecoder.PAYLOAD_HEAD) : whole;
            assertArrayEquals(expected, got.get(i), "payload " + i);
            heads += headOnly ? 1 : 0;
        }
        assertEquals(canSkip ? 3 : 0, heads, "channel data payloads given as their head");

        if (canSkip) { // a bit flipped deep in the first payload, which stays ciphertext, is still caught
            byte[] bad = stream.clone();
            bad[4 + 1 + 20_000 % (sent.get(0).length - 100) + 70] ^= 1;
            assertThrows(PacketDecodingException.class, () -> new SshPacketDecoder(k, 40).withPayloadPolicy(dataHeadOnly)
                    .feed(bad, 0, bad.length, (seq, p, o, l, w) -> true));
        }
    }
}
