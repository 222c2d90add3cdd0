package io.securejeebs.recovery.server;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.PacketDecodingException;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.mac.BuiltinMacs;

/**
 * TEST ONLY: one direction of an SSH connection as bytes arrive: the identification line, the plaintext
 * packets up to NEWKEYS, then (once the keys are given) every encrypted packet, decoded with the monitor's
 * {@link SshPacketDecoder}. Each packet keeps its byte range in the stream, its sequence number and the cipher
 * position before it, which is what a replay needs to cut, re-encrypt or continue the stream.
 */
final class SshStream {
    /** One packet: its bytes are {@code [start, end)} of the stream. */
    record Packet(int index, int start, int end, long sequence, CipherPosition before, boolean encrypted,
                  byte[] payload) {
        int type() {
            return payload[0] & 0xff;
        }
    }

    private final ByteArrayOutputStream all = new ByteArrayOutputStream();
    private final List<Packet> packets = new ArrayList<>();
    private String identification;
    private int parsed; // stream offset up to which bytes went into the current state's parser
    private boolean newKeysSeen;
    private int plaintextPackets;
    private DirectionKeys keys;
    private boolean strictKex;
    private SshPacketDecoder decoder;
    private CipherPosition position;
    private int packetStart;
    private int macAndTag;
    private boolean lengthOutsideCipher;

    synchronized void feed(byte[] data, int off, int len) throws PacketDecodingException {
        all.write(data, off, len);
        parse();
    }

    synchronized void feed(byte[] data) throws PacketDecodingException {
        feed(data, 0, data.length);
    }

    /** The keys of the epoch after the first NEWKEYS; strict KEX restarts the sequence numbers at 0. */
    synchronized void keys(DirectionKeys k, boolean strict) throws PacketDecodingException {
        this.keys = k;
        this.strictKex = strict;
        parse();
    }

    synchronized List<Packet> packets() {
        return List.copyOf(packets);
    }

    synchronized String identification() {
        return identification;
    }

    synchronized byte[] bytes() {
        return all.toByteArray();
    }

    /** The position after the last whole packet (what an encoder or decoder continues from). */
    synchronized CipherPosition position() {
        return position;
    }

    /** Stream offset just after the last whole packet. */
    synchronized int end() {
        return packets.isEmpty() ? 0 : packets.get(packets.size() - 1).end();
    }

    synchronized boolean encrypting() {
        return decoder != null;
    }

    private void parse() throws PacketDecodingException {
        byte[] b = all.toByteArray();
        if (identification == null) {
            for (int i = parsed; i < b.length; i++) {
                if (b[i] == '\n') {
                    String line = new String(b, parsed, i - parsed, StandardCharsets.UTF_8).replace("\r", "");
                    parsed = i + 1;
                    if (line.startsWith("SSH-")) {
                        identification = line;
                        break;
                    }
                }
            }
            if (identification == null) {
                return;
            }
        }
        while (!newKeysSeen && b.length - parsed >= 4) {
            int len = ((b[parsed] & 0xff) << 24) | ((b[parsed + 1] & 0xff) << 16) | ((b[parsed + 2] & 0xff) << 8)
                    | (b[parsed + 3] & 0xff);
            if (b.length - parsed < 4 + len) {
                return;
            }
            int pad = b[parsed + 4] & 0xff;
            byte[] payload = Arrays.copyOfRange(b, parsed + 5, parsed + 4 + len - pad);
            packets.add(new Packet(packets.size(), parsed, parsed + 4 + len, plaintextPackets, null, false, payload));
            plaintextPackets++;
            parsed += 4 + len;
            if (payload[0] == 21) { // NEWKEYS
                newKeysSeen = true;
            }
        }
        if (!newKeysSeen || keys == null) {
            return;
        }
        if (decoder == null) {
            long seq = strictKex ? 0 : plaintextPackets;
            decoder = new SshPacketDecoder(keys, seq);
            position = new CipherPosition(seq, 0);
            Cipher c = BuiltinCiphers.fromFactoryName(keys.cipher()).create();
            int mac = keys.mac() == null ? 0 : BuiltinMacs.fromFactoryName(keys.mac()).create().getBlockSize();
            macAndTag = mac + c.getAuthenticationTagSize();
            lengthOutsideCipher = c.getAuthenticationTagSize() > 0 || (keys.mac() != null && keys.mac().contains("-etm@"));
            packetStart = parsed;
        }
        // one byte at a time, so that each packet's end is where the decoder emits it
        for (; parsed < b.length; parsed++) {
            int at = parsed;
            decoder.feed(b, at, 1, (seq, p, o, l, w) -> {
                int end = at + 1;
                CipherPosition before = position;
                int packetLength = end - packetStart - 4 - macAndTag;
                position = position.after(keys.cipher(), lengthOutsideCipher ? packetLength : 4 + packetLength);
                packets.add(new Packet(packets.size(), packetStart, end, seq, before, true,
                        Arrays.copyOfRange(p, o, o + l)));
                packetStart = end;
                return true;
            });
        }
    }
}
