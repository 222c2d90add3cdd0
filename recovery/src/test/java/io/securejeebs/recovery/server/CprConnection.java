package io.securejeebs.recovery.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.PacketDecodingException;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * TEST ONLY: the CPR side of a recovery connection, as the CPR client will drive it: the preamble, the
 * recorded client-to-server bytes (in lockstep with the server's answers where the original client waited
 * for one), REPLAY_END, and what the server sends back, decoded with the recorded session's keys.
 */
final class CprConnection implements AutoCloseable {
    /** How long a test waits for something the server must send (a hang fails the test, nothing is timed). */
    static final long WAIT_MS = 30_000;

    private final Socket socket;
    private final OutputStream out;
    private final ByteArrayOutputStream raw = new ByteArrayOutputStream();
    private final Thread reader;
    private volatile boolean eof;
    private volatile IOException readError;
    /** The server's output during the replay, with the replayed connection's keys. */
    final SshStream replay = new SshStream();
    private int fed;
    private int boundary = -1;
    private SshPacketDecoder after;
    private final List<byte[]> afterPayloads = new ArrayList<>();

    CprConnection(InetSocketAddress address) throws IOException {
        socket = new Socket(address.getAddress(), address.getPort());
        socket.setTcpNoDelay(true);
        out = socket.getOutputStream();
        InputStream in = socket.getInputStream();
        reader = new Thread(() -> {
            byte[] buf = new byte[16 * 1024];
            try {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    synchronized (raw) {
                        raw.write(buf, 0, n);
                        raw.notifyAll();
                    }
                }
            } catch (IOException e) {
                readError = e;
            }
            eof = true;
            synchronized (raw) {
                raw.notifyAll();
            }
        }, "cpr-reader");
        reader.setDaemon(true);
        reader.start();
    }

    void write(byte[] b) throws IOException {
        write(b, 0, b.length);
    }

    void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        out.flush();
    }

    /** Feeds what arrived to the decoders; false if nothing new. */
    private boolean pump() throws PacketDecodingException {
        byte[] b;
        synchronized (raw) {
            b = raw.toByteArray();
        }
        if (b.length == fed) {
            return false;
        }
        if (boundary < 0) {
            replay.feed(b, fed, b.length - fed);
        } else {
            int from = Math.max(fed, boundary);
            after.feed(b, from, b.length - from, (seq, p, o, l, w) -> afterPayloads.add(Arrays.copyOfRange(p, o, o + l)));
        }
        fed = b.length;
        return true;
    }

    private void waitForBytes(long deadline) throws InterruptedException {
        synchronized (raw) {
            if (raw.size() == fed && !eof) {
                raw.wait(Math.max(1, Math.min(200, deadline - System.currentTimeMillis())));
            }
        }
    }

    /** The first server packet at or after {@code fromIndex} that matches, waiting for it. */
    SshStream.Packet awaitServerPacket(int fromIndex, Predicate<SshStream.Packet> match, String what) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            pump();
            List<SshStream.Packet> ps = replay.packets();
            for (int i = fromIndex; i < ps.size(); i++) {
                if (match.test(ps.get(i))) {
                    return ps.get(i);
                }
            }
            if (eof && !pump()) {
                fail("the server closed the CPR connection while the test waited for " + what + "; it sent "
                        + types(ps));
            }
            if (System.currentTimeMillis() > deadline) {
                fail("no " + what + " from the server; it sent " + types(ps));
            }
            waitForBytes(deadline);
        }
    }

    static String types(List<SshStream.Packet> ps) {
        return ps.stream().map(p -> String.valueOf(p.type())).toList().toString();
    }

    /** The reply types a client waits for after each message (if it asked for a reply). */
    private static final Map<Integer, Set<Integer>> REPLIES = Map.of(
            5, Set.of(6),
            50, Set.of(51, 52, 60),
            61, Set.of(51, 52, 60),
            90, Set.of(91, 92),
            98, Set.of(99, 100),
            80, Set.of(81, 82));

    static boolean wantsReply(SshStream.Packet p) {
        Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
        return switch (p.type()) {
            case 5, 50, 61, 90 -> true;
            case 98 -> {
                b.getUInt();
                b.getString();
                yield b.getBoolean();
            }
            case 80 -> {
                b.getString();
                yield b.getBoolean();
            }
            default -> false;
        };
    }

    /**
     * Sends the preamble, then the recorded client bytes up to and including packet {@code lastIndex}: the
     * identification and the plaintext key exchange at once, then each encrypted packet, waiting after every
     * one the original client had to wait an answer for (a password check may answer asynchronously: a
     * channel open sent before USERAUTH_SUCCESS would reach the authentication service).
     *
     * @param replace packets to send instead of the recorded ones, by index
     */
    void replay(String preamble, SshStream c2s, int lastIndex, Map<Integer, byte[]> replace) throws Exception {
        write(preamble.getBytes(StandardCharsets.US_ASCII));
        byte[] bytes = c2s.bytes();
        List<SshStream.Packet> ps = c2s.packets();
        int firstEncrypted = 0;
        while (!ps.get(firstEncrypted).encrypted()) {
            firstEncrypted++;
        }
        write(bytes, 0, ps.get(firstEncrypted).start());
        for (int i = firstEncrypted; i <= lastIndex; i++) {
            SshStream.Packet p = ps.get(i);
            int before = replay.packets().size();
            byte[] b = replace.get(i);
            if (b != null) {
                write(b);
            } else {
                write(bytes, p.start(), p.end() - p.start());
            }
            if (wantsReply(p)) {
                Set<Integer> replies = REPLIES.get(p.type());
                awaitServerPacket(before, q -> q.encrypted() && replies.contains(q.type()),
                        "reply " + replies + " to message " + p.type() + " (packet " + i + ")");
            }
        }
    }

    /** Sends REPLAY_END, encoded where the replayed client stream stands (after packet {@code lastIndex}). */
    void sendReplayEnd(ReplayEnd end, DirectionKeys c2sKeys, CipherPosition at) throws Exception {
        write(new SshPacketEncoder(c2sKeys, at).encode(end.encode()));
    }

    /**
     * From now on the server encrypts with {@code keys} at {@code position} (what REPLAY_END installed). Every
     * byte it sent so far must be a whole packet under the replay's keys.
     */
    void switchServerStream(DirectionKeys keys, CipherPosition position) throws Exception {
        pump();
        assertEquals(fed, replay.end(), "the server's replay output ends with a whole packet");
        boundary = fed;
        DirectionKeys moved = new DirectionKeys(keys.cipher(), keys.mac(), position.ivFor(keys.cipher(), keys.iv()),
                keys.key(), keys.macKey());
        after = new SshPacketDecoder(moved, position.sequence());
    }

    /** Waits until the channel data the server sent after the switch contains {@code text}; returns all of it. */
    String awaitData(String text) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            pump();
            StringBuilder all = new StringBuilder();
            for (byte[] p : afterPayloads) {
                if ((p[0] & 0xff) == 94) {
                    Buffer b = new ByteArrayBuffer(p, 1, p.length - 1);
                    b.getUInt();
                    all.append(new String(b.getBytes(), StandardCharsets.UTF_8));
                }
            }
            if (all.indexOf(text) >= 0) {
                return all.toString();
            }
            if (eof && !pump()) {
                fail("the server closed the connection; data so far: " + all);
            }
            if (System.currentTimeMillis() > deadline) {
                fail("no '" + text + "' from the server; data so far: " + all + " messages "
                        + afterPayloads.stream().map(p -> p[0] & 0xff).toList());
            }
            waitForBytes(deadline);
        }
    }

    /** Waits for a message of {@code type} among what the server sent after the switch; returns its payload. */
    byte[] awaitMessage(int type) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            pump();
            for (byte[] p : afterPayloads) {
                if ((p[0] & 0xff) == type) {
                    return p;
                }
            }
            if (eof && !pump()) {
                fail("the server closed the connection before sending message " + type);
            }
            if (System.currentTimeMillis() > deadline) {
                fail("no message " + type + "; got " + afterPayloads.stream().map(p -> p[0] & 0xff).toList());
            }
            waitForBytes(deadline);
        }
    }

    /** The channel messages (93..100) the server sent to the client's channel {@code recipient} after the switch. */
    List<byte[]> messagesTo(long recipient) throws Exception {
        pump();
        List<byte[]> out = new ArrayList<>();
        for (byte[] p : afterPayloads) {
            int type = p[0] & 0xff;
            if (type >= 93 && type <= 100 && new ByteArrayBuffer(p, 1, 4).getUInt() == recipient) {
                out.add(p);
            }
        }
        return out;
    }

    /** Waits for the server to close the connection (or for the old socket to be swapped away: EOF). */
    void awaitEof() throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        synchronized (raw) {
            while (!eof) {
                if (System.currentTimeMillis() > deadline) {
                    fail("the connection stayed open");
                }
                raw.wait(200);
            }
        }
    }

    boolean isEof() {
        return eof;
    }

    IOException readError() {
        return readError;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
