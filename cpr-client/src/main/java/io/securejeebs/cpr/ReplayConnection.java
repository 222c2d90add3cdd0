package io.securejeebs.cpr;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.monitor.ssh.PacketDecodingException;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;

/**
 * The CPR client's end of one recovery connection: writes client bytes, and reads the recovery server's
 * answers as whole SSH messages: its identification line, its plaintext key-exchange packets, then, after
 * its NEWKEYS, packets decrypted with the replay transport's server-to-client keys (every MAC checked).
 * What the server sends is read and thrown away unless a step is waiting for it; it never reaches a client.
 */
final class ReplayConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final Deque<byte[]> messages = new ArrayDeque<>();
    private final byte[] buffer = new byte[64 << 10];
    private byte[] plain = new byte[0];
    private int plainLength;
    private String serverVersion;
    private StringBuilder line = new StringBuilder();
    private long plaintextPackets;
    private SshPacketDecoder decoder;
    private boolean newKeysSeen;

    ReplayConnection(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    String serverVersion() {
        return serverVersion;
    }

    boolean newKeysSeen() {
        return newKeysSeen;
    }

    /** Switches to decrypting, after the server's NEWKEYS, with the replay transport's keys. */
    void startDecrypting(DirectionKeys serverToClient, boolean strictKex) throws ReplayException {
        try {
            decoder = new SshPacketDecoder(serverToClient, new CipherPosition(strictKex ? 0 : plaintextPackets, 0));
        } catch (PacketDecodingException e) {
            throw new ReplayException("server-to-client keys: " + e.getMessage(), e);
        }
        if (plainLength > 0) {
            byte[] rest = Arrays.copyOf(plain, plainLength);
            plainLength = 0;
            decode(rest, rest.length);
        }
    }

    /** The next whole message from the server, waiting up to {@code deadlineNanos} (System.nanoTime). */
    byte[] next(long deadlineNanos) throws IOException, ReplayException {
        while (messages.isEmpty()) {
            long left = (deadlineNanos - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new SocketTimeoutException("no answer from the recovery server in time");
            }
            socket.setSoTimeout((int) Math.max(1, left));
            int n = in.read(buffer);
            if (n < 0) {
                throw new EOFException("the recovery server closed the connection");
            }
            if (decoder != null) {
                decode(buffer, n);
            } else {
                readPlain(buffer, 0, n);
            }
        }
        return messages.poll();
    }

    private void readPlain(byte[] data, int off, int len) throws ReplayException {
        int end = off + len;
        while (off < end && serverVersion == null) {
            char c = (char) (data[off++] & 0xff);
            if (c == '\n') {
                String text = line.toString().replace("\r", "");
                line = null;
                if (!text.startsWith("SSH-")) {
                    throw new ReplayException("the recovery server did not identify itself as SSH: " + text);
                }
                serverVersion = text;
            } else if (line.length() > 255) {
                throw new ReplayException("the recovery server's identification line is too long");
            } else {
                line.append(c);
            }
        }
        if (off == end) {
            return;
        }
        if (newKeysSeen) { // bytes after NEWKEYS before startDecrypting(): keep them for the decoder
            append(data, off, end - off);
            return;
        }
        append(data, off, end - off);
        while (!newKeysSeen && plainLength >= 4) {
            int packetLength = ((plain[0] & 0xff) << 24) | ((plain[1] & 0xff) << 16) | ((plain[2] & 0xff) << 8) | (plain[3] & 0xff);
            if (packetLength < 5 || packetLength > 256 << 10) {
                throw new ReplayException("bad plaintext packet length " + packetLength + " from the recovery server");
            }
            if (plainLength < 4 + packetLength) {
                return;
            }
            int padding = plain[4] & 0xff;
            messages.add(Arrays.copyOfRange(plain, 5, 4 + packetLength - padding));
            plaintextPackets++;
            if (plain[5] == 21) { // NEWKEYS
                newKeysSeen = true;
            }
            System.arraycopy(plain, 4 + packetLength, plain, 0, plainLength - 4 - packetLength);
            plainLength -= 4 + packetLength;
        }
    }

    private void append(byte[] data, int off, int len) {
        if (plainLength + len > plain.length) {
            plain = Arrays.copyOf(plain, Math.max(plainLength + len, 2 * plain.length));
        }
        System.arraycopy(data, off, plain, plainLength, len);
        plainLength += len;
    }

    private void decode(byte[] data, int n) throws ReplayException {
        try {
            decoder.feed(data, 0, n, (seq, p, o, l, wire) -> {
                messages.add(Arrays.copyOfRange(p, o, o + l));
                return true;
            });
        } catch (PacketDecodingException e) {
            throw new ReplayException("recovery server's packet: " + e.getMessage(), e);
        }
    }

    static String describe(byte[] message) {
        return message.length == 0 ? "empty" : "message " + (message[0] & 0xff);
    }

    static String ascii(byte[] b) {
        return new String(b, StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
