package io.securejeebs.monitor.ssh;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * TEST FIXTURE for the fuzzer: a pair of streams with valid identification lines and valid plaintext
 * framing around random, half-structured messages (user auth, channel opens and confirmations with small
 * ids that often match, channel requests with plausible names, data with lying lengths, KEXINIT,
 * DISCONNECT, NEWKEYS now and then), every payload sometimes cut short. It reaches the tracker's message
 * handlers, which random bytes never do.
 */
final class FramedGarbage {
    private static final String[] REQUESTS = {"pty-req", "window-change", "env", "shell", "exec", "subsystem", "x11-req", ""};

    private FramedGarbage() {
    }

    /** {c2s, s2c}. */
    static byte[][] session(Random rnd) {
        return new byte[][] {stream(rnd, true), stream(rnd, false)};
    }

    private static byte[] stream(Random rnd, boolean client) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] version = ("SSH-2.0-Fuzz_" + rnd.nextInt(100) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        out.write(version, 0, version.length);
        for (int n = rnd.nextInt(60); n > 0; n--) {
            byte[] payload = client ? clientMessage(rnd) : serverMessage(rnd);
            if (rnd.nextInt(6) == 0) {
                payload = Arrays.copyOf(payload, 1 + rnd.nextInt(payload.length)); // a field runs past the end
            }
            int padding = 4 + (8 - (4 + 1 + payload.length + 4) % 8) % 8;
            ByteArrayBuffer packet = new ByteArrayBuffer();
            packet.putInt(1 + payload.length + padding);
            packet.putByte((byte) padding);
            packet.putRawBytes(payload);
            packet.putRawBytes(new byte[padding]);
            out.write(packet.array(), packet.rpos(), packet.available());
        }
        return out.toByteArray();
    }

    private static byte[] clientMessage(Random rnd) {
        ByteArrayBuffer b = new ByteArrayBuffer();
        switch (rnd.nextInt(14)) {
            case 0 -> {
                b.putByte(SshConstants.SSH_MSG_USERAUTH_REQUEST);
                b.putString(rnd.nextBoolean() ? "alice" : junk(rnd));
                b.putString("ssh-connection");
                b.putString(rnd.nextBoolean() ? "password" : "none");
            }
            case 1 -> {
                b.putByte(SshConstants.SSH_MSG_GLOBAL_REQUEST);
                b.putString(rnd.nextBoolean() ? "keepalive@openssh.com" : "tcpip-forward");
                b.putBoolean(rnd.nextBoolean());
            }
            case 2, 3 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_OPEN);
                b.putString(rnd.nextBoolean() ? "session" : junk(rnd));
                b.putInt(id(rnd));
                b.putUInt(rnd.nextInt() & 0xffffffffL);
                b.putInt(rnd.nextInt());
            }
            case 4 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_WINDOW_ADJUST);
                b.putInt(id(rnd));
                b.putUInt(rnd.nextInt() & 0xffffffffL);
            }
            case 5 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_DATA);
                b.putInt(id(rnd));
                byte[] data = ("ls -l\r" + junk(rnd) + "\u001b[A\u007f\n").getBytes(StandardCharsets.ISO_8859_1);
                b.putInt(rnd.nextInt(4) == 0 ? rnd.nextInt() : data.length); // sometimes a lying length
                b.putRawBytes(data);
            }
            case 6 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA);
                b.putInt(id(rnd));
                b.putInt(1);
                b.putString(junk(rnd));
            }
            case 7 -> {
                b.putByte(rnd.nextBoolean() ? SshConstants.SSH_MSG_CHANNEL_EOF : SshConstants.SSH_MSG_CHANNEL_CLOSE);
                b.putInt(id(rnd));
            }
            case 8, 9, 10 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_REQUEST);
                b.putInt(id(rnd));
                String name = REQUESTS[rnd.nextInt(REQUESTS.length)];
                b.putString(name);
                b.putBoolean(rnd.nextBoolean());
                switch (name) {
                    case "pty-req" -> {
                        b.putString("xterm");
                        b.putInt(rnd.nextInt());
                        b.putInt(80);
                        b.putInt(0);
                        b.putInt(0);
                        b.putBytes(junk(rnd).getBytes(StandardCharsets.ISO_8859_1));
                    }
                    case "window-change" -> {
                        b.putInt(rnd.nextInt(300));
                        b.putInt(rnd.nextInt(300));
                        b.putInt(0);
                        b.putInt(0);
                    }
                    case "env" -> {
                        b.putString(junk(rnd));
                        b.putString(junk(rnd));
                    }
                    case "exec", "subsystem" -> b.putString(junk(rnd));
                    default -> { }
                }
            }
            default -> common(rnd, b);
        }
        return bytes(b);
    }

    private static byte[] serverMessage(Random rnd) {
        ByteArrayBuffer b = new ByteArrayBuffer();
        switch (rnd.nextInt(11)) {
            case 0, 1 -> b.putByte(rnd.nextBoolean() ? SshConstants.SSH_MSG_USERAUTH_SUCCESS : SshConstants.SSH_MSG_USERAUTH_FAILURE);
            case 2, 3 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
                b.putInt(id(rnd));
                b.putInt(id(rnd));
                b.putUInt(rnd.nextInt() & 0xffffffffL);
                b.putInt(rnd.nextInt());
            }
            case 4 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_OPEN_FAILURE);
                b.putInt(id(rnd));
            }
            case 5 -> {
                b.putByte(SshConstants.SSH_MSG_CHANNEL_WINDOW_ADJUST);
                b.putInt(id(rnd));
                b.putUInt(rnd.nextInt() & 0xffffffffL);
            }
            case 6 -> {
                b.putByte(rnd.nextBoolean() ? SshConstants.SSH_MSG_CHANNEL_DATA : SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA);
                b.putInt(id(rnd));
                b.putInt(rnd.nextInt(3) == 0 ? rnd.nextInt() : 1);
                b.putString(junk(rnd));
            }
            case 7 -> {
                b.putByte(rnd.nextBoolean() ? SshConstants.SSH_MSG_CHANNEL_EOF : SshConstants.SSH_MSG_CHANNEL_CLOSE);
                b.putInt(id(rnd));
            }
            default -> common(rnd, b);
        }
        return bytes(b);
    }

    /** Messages either side sends. */
    private static void common(Random rnd, ByteArrayBuffer b) {
        switch (rnd.nextInt(6)) {
            case 0 -> {
                b.putByte(SshConstants.SSH_MSG_KEXINIT);
                b.putRawBytes(new byte[16]);
                for (int i = 0; i < 10; i++) {
                    b.putString(rnd.nextBoolean() ? "aes128-ctr,none" : junk(rnd));
                }
                b.putBoolean(false);
                b.putInt(0);
            }
            case 1 -> {
                b.putByte(SshConstants.SSH_MSG_DISCONNECT);
                b.putInt(11);
                b.putString(junk(rnd));
                b.putString("");
            }
            case 2 -> b.putByte(rnd.nextInt(8) == 0 ? SshConstants.SSH_MSG_NEWKEYS : SshConstants.SSH_MSG_IGNORE);
            case 3 -> {
                b.putByte(SshConstants.SSH_MSG_SERVICE_REQUEST);
                b.putString("ssh-userauth");
            }
            default -> {
                byte[] any = new byte[1 + rnd.nextInt(40)];
                rnd.nextBytes(any);
                b.putRawBytes(any);
            }
        }
    }

    /** Channel ids: mostly the few a session uses, so opens, confirmations and requests meet. */
    private static int id(Random rnd) {
        return rnd.nextInt(10) == 0 ? rnd.nextInt() : rnd.nextInt(3);
    }

    private static String junk(Random rnd) {
        char[] c = new char[rnd.nextInt(12)];
        for (int i = 0; i < c.length; i++) {
            c[i] = (char) (0x20 + rnd.nextInt(0x5f));
        }
        return new String(c);
    }

    private static byte[] bytes(ByteArrayBuffer b) {
        return Arrays.copyOfRange(b.array(), b.rpos(), b.wpos());
    }
}
