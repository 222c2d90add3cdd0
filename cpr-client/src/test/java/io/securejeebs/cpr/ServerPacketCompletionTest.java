package io.securejeebs.cpr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.DirectionModel;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A server packet the crash cut in two is completed so that the peer's decoder accepts it whole (MAC or
 * tag verified): what the peer already had is unchanged, the lost data is NUL, and the position after it
 * is where the next packet's encoder must start.
 */
class ServerPacketCompletionTest {
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "chacha20-poly1305@openssh.com,",
            "aes128-gcm@openssh.com,",
            "aes256-gcm@openssh.com,",
            "aes128-ctr,hmac-sha2-256-etm@openssh.com",
            "aes256-ctr,hmac-sha2-256",
            "aes192-ctr,hmac-sha2-512"})
    void aCutChannelDataPacketIsCompletedAndDecodesWhole(String cipher, String mac) throws Exception {
        Random r = new Random(7);
        DirectionKeys keys = keys(cipher, mac, r);
        CipherPosition start = new CipherPosition(41, 0);
        SshPacketEncoder enc = new SshPacketEncoder(keys, start, r);
        for (int i = 0; i < 3; i++) { // the cut packet is not the first of the epoch
            enc.encode(channelData(5, "earlier-" + i));
        }
        CipherPosition at = enc.position();
        byte[] data = new byte[5000];
        r.nextBytes(data);
        byte[] payload = channelData(5, data);
        byte[] wire = enc.encode(payload);
        byte[] next = enc.encode(channelData(5, "next"));

        for (int cut : new int[] {20, 33, 100, 1000, 4999, wire.length - 1}) {
            byte[] partial = Arrays.copyOf(wire, cut);
            ServerPacketCompletion c = ServerPacketCompletion.of(
                    new DirectionModel(cipher, mac, 1, at.sequence(), at.blocks(), 0, cut, keys), partial);
            byte[] whole = Arrays.copyOf(partial, cut + c.rest().length);
            System.arraycopy(c.rest(), 0, whole, cut, c.rest().length);
            assertEquals(wire.length, whole.length, "cut at " + cut);
            List<byte[]> got = new ArrayList<>();
            SshPacketDecoder dec = new SshPacketDecoder(keys, at);
            dec.feed(whole, 0, whole.length, (seq, p, o, l, w) -> got.add(Arrays.copyOfRange(p, o, o + l)));
            assertEquals(1, got.size(), "cut at " + cut);
            byte[] completed = got.get(0);
            assertEquals(payload.length, completed.length);
            int known = knownPayloadBytes(cut, cipher, mac, payload.length);
            assertArrayEquals(Arrays.copyOf(payload, known), Arrays.copyOf(completed, known), "what the client had");
            for (int i = known; i < payload.length; i++) {
                assertEquals(0, completed[i], "lost data is NUL at " + i);
            }
            assertEquals(5, c.recipient());
            assertEquals(data.length, c.dataLength());
            assertEquals(enc.position().sequence() - 1, c.after().sequence(), "position after the completed packet");
            // the packet after it decodes with a decoder started where the completion says
            List<byte[]> after = new ArrayList<>();
            new SshPacketDecoder(keys, c.after()).feed(next, 0, next.length, (seq, p, o, l, w) -> after.add(p));
            assertEquals(1, after.size());
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"chacha20-poly1305@openssh.com,", "aes128-ctr,hmac-sha2-256"})
    void onlyChannelDataWithItsHeaderCanBeCompleted(String cipher, String mac) throws Exception {
        Random r = new Random(9);
        DirectionKeys keys = keys(cipher, mac, r);
        SshPacketEncoder enc = new SshPacketEncoder(keys, CipherPosition.START, r);
        byte[] other = new byte[300];
        other[0] = 98; // a CHANNEL_REQUEST
        byte[] wire = enc.encode(other);
        DirectionModel d = new DirectionModel(cipher, mac, 0, 0, 0, 0, 100, keys);
        assertThrows(ReplayException.class, () -> ServerPacketCompletion.of(d, Arrays.copyOf(wire, 100)));
        byte[] data = enc.encode(channelData(1, "x".repeat(500)));
        DirectionModel d2 = new DirectionModel(cipher, mac, 0, 1, enc.position().blocks(), 0, 8, keys);
        assertThrows(ReplayException.class, () -> ServerPacketCompletion.of(d2, Arrays.copyOf(data, 8)));
    }

    /** Payload bytes the client had: the cut minus the length field (and nothing past the payload). */
    private static int knownPayloadBytes(int cut, String cipher, String mac, int payloadLength) {
        return Math.max(0, Math.min(payloadLength, cut - 4 - 1));
    }

    private static byte[] channelData(int recipient, String text) {
        return channelData(recipient, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static byte[] channelData(int recipient, byte[] data) {
        ByteArrayBuffer b = new ByteArrayBuffer();
        b.putByte((byte) 94);
        b.putUInt(recipient);
        b.putBytes(data);
        return b.getCompactData();
    }

    private static DirectionKeys keys(String cipher, String mac, Random r) throws Exception {
        Cipher c = BuiltinCiphers.fromFactoryName(cipher).create();
        byte[] key = new byte[c.getKdfSize()];
        byte[] iv = new byte[c.getIVSize()];
        r.nextBytes(key);
        r.nextBytes(iv);
        byte[] macKey = null;
        if (mac != null && !mac.isEmpty()) {
            macKey = new byte[BuiltinMacs.fromFactoryName(mac).create().getBlockSize()];
            r.nextBytes(macKey);
        }
        return new DirectionKeys(cipher, mac == null || mac.isEmpty() ? null : mac, iv, key, macKey);
    }
}
