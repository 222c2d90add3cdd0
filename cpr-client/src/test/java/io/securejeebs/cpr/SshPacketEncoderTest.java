package io.securejeebs.cpr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.PacketDecodingException;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The encoder against the monitor's decoder, which was written and tested independently of it. */
class SshPacketEncoderTest {
    private static final int PACKETS = 40;

    static DirectionKeys keys(String cipher, String mac) {
        return DirectionKeys.random(cipher, mac, new Random(cipher.hashCode() ^ (mac == null ? 0 : mac.hashCode())));
    }

    private static List<byte[]> payloads(long seed) {
        Random r = new Random(seed);
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < PACKETS; i++) {
            byte[] p = new byte[1 + r.nextInt(i % 7 == 0 ? 33_000 : 200)];
            r.nextBytes(p);
            p[0] = (byte) (94 + i % 5);
            out.add(p);
        }
        return out;
    }

    private static List<byte[]> decode(DirectionKeys keys, long firstSeq, byte[] stream, List<Long> seqs)
            throws PacketDecodingException {
        SshPacketDecoder dec = new SshPacketDecoder(keys, firstSeq);
        List<byte[]> got = new ArrayList<>();
        dec.feed(stream, 0, stream.length, (seq, p, o, l, w) -> {
            got.add(Arrays.copyOfRange(p, o, o + l));
            seqs.add(seq);
            return true;
        });
        assertEquals(0, dec.bytesBuffered(), "no partial packet left");
        return got;
    }

    /**
     * One encoder writes every packet; at each split point a second encoder started at the first one's
     * position takes over. The decoder that decoded the first p packets must take the second encoder's
     * packets as the continuation, and so must a decoder started at that position.
     */
    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none",
            "aes128-gcm@openssh.com, none",
            "aes256-gcm@openssh.com, none",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com",
            "aes128-ctr, hmac-sha2-256",
            "aes256-ctr, hmac-sha2-512"})
    void anEncoderStartedMidEpochContinuesTheStream(String cipher, String mac) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        List<byte[]> payloads = payloads(cipher.hashCode());
        for (long firstSeq : new long[] {0, 3, 0xffff_fff0L}) { // strict KEX, classic, and one that wraps
            SshPacketEncoder whole = new SshPacketEncoder(k, new CipherPosition(firstSeq, 0), new Random(1));
            List<byte[]> packets = new ArrayList<>();
            List<CipherPosition> before = new ArrayList<>();
            for (byte[] p : payloads) {
                before.add(whole.position());
                packets.add(whole.encode(p));
            }
            assertEquals((firstSeq + PACKETS) & 0xffffffffL, whole.position().sequence());

            for (int split : new int[] {1, 2, 7, PACKETS / 2, PACKETS - 1}) {
                CipherPosition at = before.get(split);
                assertEquals((firstSeq + split) & 0xffffffffL, at.sequence());
                SshPacketEncoder rest = new SshPacketEncoder(k, at, new Random(2));
                ByteArrayOutputStream wire = new ByteArrayOutputStream();
                for (int i = 0; i < split; i++) {
                    wire.write(packets.get(i));
                }
                ByteArrayOutputStream tail = new ByteArrayOutputStream();
                for (int i = split; i < PACKETS; i++) {
                    tail.write(rest.encode(payloads.get(i)));
                }
                assertEquals(whole.position(), rest.position(), "both encoders end at the same position");
                wire.write(tail.toByteArray());

                List<Long> seqs = new ArrayList<>();
                List<byte[]> got = decode(k, firstSeq, wire.toByteArray(), seqs);
                assertEquals(PACKETS, got.size(), cipher + " split at " + split);
                for (int i = 0; i < PACKETS; i++) {
                    assertArrayEquals(payloads.get(i), got.get(i), cipher + " packet " + i + " split at " + split);
                    assertEquals((firstSeq + i) & 0xffffffffL, seqs.get(i));
                }

                // a decoder that starts at the position itself (what the recovery server installs)
                DirectionKeys moved = new DirectionKeys(k.cipher(), k.mac(), at.ivFor(cipher, k.iv()), k.key(), k.macKey());
                List<byte[]> fromMiddle = decode(moved, at.sequence(), tail.toByteArray(), new ArrayList<>());
                assertEquals(PACKETS - split, fromMiddle.size());
                for (int i = split; i < PACKETS; i++) {
                    assertArrayEquals(payloads.get(i), fromMiddle.get(i - split));
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource(nullValues = "none", value = {
            "chacha20-poly1305@openssh.com, none",
            "aes256-gcm@openssh.com, none",
            "aes128-ctr, hmac-sha2-256-etm@openssh.com",
            "aes128-ctr, hmac-sha2-256"})
    void paddingIsAtLeastFourBytesAndAlignsWhatIsEncrypted(String cipher, String mac) throws Exception {
        DirectionKeys k = keys(cipher, mac);
        boolean lengthOutside = mac == null || mac.contains("-etm");
        int unit = Math.max(8, BuiltinCiphers.fromFactoryName(cipher).create().getCipherBlockSize());
        int extra = mac == null ? 16 : BuiltinMacs.fromFactoryName(mac).create().getBlockSize();
        for (int len = 1; len < 80; len++) {
            SshPacketEncoder e = new SshPacketEncoder(k, CipherPosition.START);
            byte[] packet = e.encode(new byte[len]);
            int packetLength = packet.length - 4 - extra;
            int padding = packetLength - 1 - len;
            assertTrue(padding >= 4 && padding < 4 + unit, "padding " + padding + " for " + len);
            assertEquals(0, (packetLength + (lengthOutside ? 0 : 4)) % unit, "aligned for " + len);
        }
    }

    @Test
    void refusesWhatItCannotEncode() throws Exception {
        DirectionKeys k = keys("aes128-ctr", "hmac-sha2-256");
        SshPacketEncoder e = new SshPacketEncoder(k, CipherPosition.START);
        assertThrows(IllegalArgumentException.class, () -> e.encode(new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> e.encode(new byte[SshPacketEncoder.MAX_PACKET_LENGTH]));
        DirectionKeys noMac = new DirectionKeys("aes128-ctr", null, k.iv(), k.key(), null);
        assertThrows(IllegalArgumentException.class, () -> new SshPacketEncoder(noMac, CipherPosition.START));
        DirectionKeys cbc = new DirectionKeys("aes128-cbc", "hmac-sha2-256", k.iv(), k.key(), k.macKey());
        assertThrows(IllegalArgumentException.class, () -> new SshPacketEncoder(cbc, CipherPosition.START),
                "CBC has no movable position");
    }
}
