package io.securejeebs.cpr;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.DirectionModel;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.apache.sshd.common.SshConstants;
import org.bouncycastle.crypto.engines.ChaChaEngine;
import org.bouncycastle.crypto.params.KeyParameter;
import org.bouncycastle.crypto.params.ParametersWithIV;

/**
 * The rest of a server packet the crash cut in two. The client holds the first bytes of it and waits for
 * the others; only a whole packet passes its MAC, so this host must send exactly the missing bytes. What
 * the client already has is decrypted with the server-to-client keys at the packet's position; it must be
 * channel data (the usual case: output streaming when the primary died). The part of the data the primary
 * never sent is lost with it and is completed with NUL bytes (terminals ignore NUL); the padding with
 * random bytes. The packet is then encrypted and authenticated whole, and its known beginning must come
 * out identical to what the client already has.
 *
 * @param rest       the missing wire bytes, to append to the TCP send queue
 * @param after      the server-to-client position after this packet, null if there was no cut packet
 * @param recipient  the client channel id the data is for, -1 if none
 * @param dataLength the channel data length the packet carries (window the server spends)
 * @param filled     how many data bytes were completed with NUL
 */
public record ServerPacketCompletion(byte[] rest, CipherPosition after, int recipient, int dataLength, int filled) {
    public static final ServerPacketCompletion NONE = new ServerPacketCompletion(new byte[0], null, -1, 0, 0);

    public static ServerPacketCompletion of(DirectionModel direction, byte[] partial) throws ReplayException {
        if (partial == null || partial.length == 0) {
            return NONE;
        }
        DirectionKeys keys = direction.keys();
        CipherPosition at = direction.position();
        CipherPosition.Mode mode = CipherPosition.modeOf(keys.cipher());
        boolean etm = keys.mac() != null && keys.mac().endsWith("-etm@openssh.com");
        boolean lengthInClear = mode != CipherPosition.Mode.CTR || etm;
        try {
            // 1. The packet length.
            int packetLength;
            byte[] head;
            if (mode == CipherPosition.Mode.CTR && !etm) {
                require(partial, 16, "its first cipher block");
                head = ctr(keys.key(), at.ivFor(keys.cipher(), keys.iv()), partial, 0, Math.min(partial.length, 1 << 20));
                packetLength = readInt(head, 0);
            } else if (mode == CipherPosition.Mode.CHACHA20_POLY1305) {
                require(partial, 4, "its length");
                packetLength = readInt(chacha(Arrays.copyOfRange(keys.key(), 32, 64), at.sequence(), 0, partial, 0, 4), 0);
                head = null;
            } else {
                require(partial, 4, "its length");
                packetLength = readInt(partial, 0);
                head = null;
            }
            if (packetLength < 5 || packetLength > SshPacketEncoder.MAX_PACKET_LENGTH) {
                throw new ReplayException("the cut server packet has an impossible length " + packetLength);
            }
            // 2. The plaintext the client already holds, length field included.
            int known = Math.min(partial.length, 4 + packetLength);
            byte[] plain = new byte[4 + packetLength];
            if (head != null) {
                System.arraycopy(head, 0, plain, 0, known);
            } else {
                writeInt(plain, 0, packetLength);
                byte[] body = Arrays.copyOfRange(partial, 4, known);
                byte[] clear = switch (mode) {
                    case CHACHA20_POLY1305 -> chacha(Arrays.copyOfRange(keys.key(), 0, 32), at.sequence(), 1, body, 0, body.length);
                    case GCM -> gcmKeystream(keys.key(), at.ivFor(keys.cipher(), keys.iv()), body);
                    case CTR -> ctr(keys.key(), at.ivFor(keys.cipher(), keys.iv()), body, 0, body.length);
                };
                System.arraycopy(clear, 0, plain, 4, clear.length);
            }
            // 3. It must be channel data whose header the client already has.
            int headerEnd = 4 + 1 + 1 + 4 + 4;
            if (known < headerEnd) {
                throw new ReplayException("the crash cut a server packet after " + known + " bytes, before its header");
            }
            int padding = plain[4] & 0xff;
            int type = plain[5] & 0xff;
            int dataOffset;
            if (type == SshConstants.SSH_MSG_CHANNEL_DATA) {
                dataOffset = 14;
            } else if (type == SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA) {
                if (known < headerEnd + 4) {
                    throw new ReplayException("the crash cut a server packet before its header");
                }
                dataOffset = 18;
            } else {
                throw new ReplayException("the crash cut a server packet of type " + type + ": only channel data can be completed");
            }
            int recipient = readInt(plain, 6);
            int dataLength = readInt(plain, dataOffset - 4);
            if (dataOffset + dataLength + padding != 4 + packetLength || padding < 4) {
                throw new ReplayException("the cut server packet's lengths do not add up");
            }
            // 4. Complete: NUL for the lost data, random padding, then seal the whole packet.
            int filled = Math.max(0, dataOffset + dataLength - known);
            byte[] pad = new byte[padding];
            new java.security.SecureRandom().nextBytes(pad);
            int padStart = dataOffset + dataLength;
            for (int i = Math.max(known, padStart); i < plain.length; i++) {
                plain[i] = pad[i - padStart];
            }
            SshPacketEncoder encoder = new SshPacketEncoder(keys, at);
            byte[] wire = encoder.encodeLaidOut(plain);
            if (!Arrays.equals(wire, 0, partial.length, partial, 0, partial.length)) {
                throw new ReplayException("re-encrypting the cut server packet does not reproduce what the client has");
            }
            return new ServerPacketCompletion(Arrays.copyOfRange(wire, partial.length, wire.length), encoder.position(),
                    recipient, dataLength, filled);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new ReplayException("completing the cut server packet: " + e.getMessage(), e);
        }
    }

    private static void require(byte[] partial, int n, String what) throws ReplayException {
        if (partial.length < n) {
            throw new ReplayException("the crash cut a server packet after " + partial.length + " bytes, before " + what);
        }
    }

    private static byte[] ctr(byte[] key, byte[] iv, byte[] in, int off, int len) throws GeneralSecurityException {
        Cipher c = Cipher.getInstance("AES/CTR/NoPadding");
        c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
        return c.doFinal(in, off, len);
    }

    /** GCM encrypts with AES-CTR from the counter block IV || 00000002 (NIST SP 800-38D, 96-bit IV). */
    private static byte[] gcmKeystream(byte[] key, byte[] iv12, byte[] body) throws GeneralSecurityException {
        byte[] counter = Arrays.copyOf(iv12, 16);
        counter[15] = 2;
        return ctr(key, counter, body, 0, body.length);
    }

    /** chacha20 (the original, 64-bit nonce) keyed K, nonce = BE64(seq), from block {@code block}. */
    private static byte[] chacha(byte[] key, long seq, int block, byte[] in, int off, int len) {
        byte[] nonce = new byte[8];
        for (int i = 0; i < 8; i++) {
            nonce[i] = (byte) (seq >>> (56 - 8 * i));
        }
        ChaChaEngine engine = new ChaChaEngine(20);
        engine.init(true, new ParametersWithIV(new KeyParameter(key), nonce));
        engine.skip(64L * block);
        byte[] out = new byte[len];
        engine.processBytes(in, off, len, out, 0);
        return out;
    }

    private static int readInt(byte[] b, int i) {
        return ((b[i] & 0xff) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
    }

    private static void writeInt(byte[] b, int i, int v) {
        b[i] = (byte) (v >>> 24);
        b[i + 1] = (byte) (v >>> 16);
        b[i + 2] = (byte) (v >>> 8);
        b[i + 3] = (byte) v;
    }
}
