package io.securejeebs.cpr;

import io.securejeebs.kernel.TcpOptions;
import io.securejeebs.kernel.TcpRepair.RepairExit;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * The private message that ends a Controlled Partial Replay (DESIGN §4.4–4.5): the CPR client sends it to
 * the recovery server as the last packet of the replay, and the server installs what it carries: the
 * original connection's final transport state in both directions, its channel windows, and the TCP state
 * of the connection to the real client (for the TCP_REPAIR restore and the socket swap).
 *
 * <p>Payload (SSH wire types, RFC 4251 §5):
 * <pre>
 * byte    SSH_MSG_SJ_REPLAY_END (200)
 * uint32  format version (1)
 * inbound (client to server), then outbound (server to client), each:
 *   string cipher, string mac ("" for AEAD), string key, string iv (the epoch's initial IV, as derived),
 *   string mac key ("" for AEAD), uint64 sequence (the next sequence number), uint64 blocks (CipherPosition)
 * uint32  channel count, then per channel:
 *   uint32 server id, uint32 client id, uint64 server window, uint32 server max packet,
 *   uint64 client window, uint32 client max packet, byte flags (1 EOF from client, 2 EOF from server,
 *   4 CLOSE from client, 8 CLOSE from server)
 * boolean has TCP; if true:
 *   string server ip, uint32 server port, string client ip, uint32 client port,
 *   uint32 send queue seq, string send queue, uint32 receive queue seq, string receive queue,
 *   uint32 mss, boolean sack, boolean window scaling, uint32 snd wscale, uint32 rcv wscale,
 *   boolean timestamps, uint32 timestamp, uint32 send window, uint32 receive window, boolean window probe
 * string  notice extra (UTF-8, may be empty): more lines for the recovered shell's notice
 * string  server KEXINIT (format 2; may be empty): the payload of a rekey KEXINIT the primary had sent and that
 *         nothing of the exchange followed; the recovery server takes it as its own, already sent
 * </pre>
 * The server's window is what the client may still send (the server's local window); the client's window
 * is what the server may still send (its remote window).
 *
 * <p>Holds keys and session payload: {@link #toString()} shows only names, positions, ids and sizes.
 *
 * @param inbound     client-to-server transport state (what the server decrypts next)
 * @param outbound    server-to-client transport state (what the server encrypts next)
 * @param channels    every channel of the session
 * @param tcp         the connection to the real client, or null: the session then continues on the CPR
 *                    connection itself (tests)
 * @param noticeExtra lines appended to the recovered shell's notice (e.g. the commands the monitor saw)
 * @param serverKexInit a rekey KEXINIT payload the primary sent and got no further with, or empty
 */
public record ReplayEnd(Direction inbound, Direction outbound, List<ChannelState> channels, TcpHandover tcp,
                        String noticeExtra, byte[] serverKexInit) {
    /** SSH_MSG_SJ_REPLAY_END, in the private range 192–255 (RFC 4250 §4.1.1). */
    public static final int MESSAGE = 200;
    public static final int FORMAT_VERSION = 2;
    private static final int MAX_KEXINIT = 64 << 10;

    private static final long UINT32_MAX = 0xffffffffL;
    private static final int MAX_NAME = 64;
    private static final int MAX_KEY = 1024;
    /** uint32 ids (2), uint64 windows (2), uint32 max packets (2), byte flags. */
    private static final int CHANNEL_BYTES = 4 + 4 + 8 + 4 + 8 + 4 + 1;
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** One direction's transport state: algorithms and keys of the current epoch, and where in it the stream is. */
    public record Direction(DirectionKeys keys, CipherPosition position) {
        public Direction {
            Objects.requireNonNull(keys, "keys");
            Objects.requireNonNull(position, "position");
            Objects.requireNonNull(keys.cipher(), "cipher");
            Objects.requireNonNull(keys.key(), "key");
            Objects.requireNonNull(keys.iv(), "iv");
            if (position.sequence() < 0 || position.sequence() > UINT32_MAX) {
                throw new IllegalArgumentException("sequence number out of range: " + position.sequence());
            }
            if (position.blocks() < 0) {
                throw new IllegalArgumentException("negative cipher position: " + position.blocks());
            }
        }

        @Override
        public String toString() {
            return keys.cipher() + (keys.mac() == null ? "" : "+" + keys.mac()) + " seq " + position.sequence()
                    + " blocks " + position.blocks();
        }
    }

    /**
     * One channel as the original connection left it.
     *
     * @param serverId        the server's channel id (the primary's, which the replay reproduced)
     * @param clientId        the client's channel id (the server's recipient)
     * @param serverWindow    bytes the client may still send (the server's local window)
     * @param serverMaxPacket the maximum packet the server announced
     * @param clientWindow    bytes the server may still send (the server's remote window)
     * @param clientMaxPacket the maximum packet the client announced
     * @param flags           {@link #EOF_FROM_CLIENT} | {@link #EOF_FROM_SERVER} | {@link #CLOSE_FROM_CLIENT} |
     *                        {@link #CLOSE_FROM_SERVER}
     */
    public record ChannelState(long serverId, long clientId, long serverWindow, long serverMaxPacket,
                               long clientWindow, long clientMaxPacket, int flags) {
        public static final int EOF_FROM_CLIENT = 1;
        public static final int EOF_FROM_SERVER = 2;
        public static final int CLOSE_FROM_CLIENT = 4;
        public static final int CLOSE_FROM_SERVER = 8;

        public ChannelState {
            uint32("server id", serverId);
            uint32("client id", clientId);
            uint32("server window", serverWindow);
            uint32("server max packet", serverMaxPacket);
            uint32("client window", clientWindow);
            uint32("client max packet", clientMaxPacket);
            if ((flags & ~0x0f) != 0) {
                throw new IllegalArgumentException("unknown channel flags 0x" + Integer.toHexString(flags));
            }
        }

        public boolean has(int flag) {
            return (flags & flag) != 0;
        }

        private static void uint32(String what, long v) {
            if (v < 0 || v > UINT32_MAX) {
                throw new IllegalArgumentException(what + " out of uint32 range: " + v);
            }
        }
    }

    /** The real client's connection, to be rebuilt with TCP_REPAIR and swapped under the session. */
    public record TcpHandover(TcpState state, RepairExit exit) {
        public TcpHandover {
            Objects.requireNonNull(state, "state");
            Objects.requireNonNull(exit, "exit");
        }
    }

    public ReplayEnd {
        Objects.requireNonNull(inbound, "inbound");
        Objects.requireNonNull(outbound, "outbound");
        channels = List.copyOf(channels);
        noticeExtra = noticeExtra == null ? "" : noticeExtra;
        serverKexInit = serverKexInit == null ? new byte[0] : serverKexInit.clone();
    }

    /** No rekey under way. */
    public ReplayEnd(Direction inbound, Direction outbound, List<ChannelState> channels, TcpHandover tcp,
                     String noticeExtra) {
        this(inbound, outbound, channels, tcp, noticeExtra, null);
    }

    @Override
    public byte[] serverKexInit() {
        return serverKexInit.clone();
    }

    public boolean hasTcp() {
        return tcp != null;
    }

    /** The whole payload, message number first. */
    public byte[] encode() {
        Buffer b = new ByteArrayBuffer(512 + (tcp == null ? 0
                : tcp.state().sendQueueLength() + tcp.state().recvQueueLength()), false);
        b.putByte((byte) MESSAGE);
        b.putUInt(FORMAT_VERSION);
        putDirection(b, inbound);
        putDirection(b, outbound);
        b.putUInt(channels.size());
        for (ChannelState c : channels) {
            b.putUInt(c.serverId());
            b.putUInt(c.clientId());
            b.putLong(c.serverWindow());
            b.putUInt(c.serverMaxPacket());
            b.putLong(c.clientWindow());
            b.putUInt(c.clientMaxPacket());
            b.putByte((byte) c.flags());
        }
        b.putBoolean(tcp != null);
        if (tcp != null) {
            TcpState s = tcp.state();
            TcpOptions o = s.options();
            b.putString(s.local().getAddress().getHostAddress());
            b.putUInt(s.local().getPort());
            b.putString(s.remote().getAddress().getHostAddress());
            b.putUInt(s.remote().getPort());
            b.putUInt(s.sendQueueSeq() & UINT32_MAX);
            b.putBytes(s.sendQueue());
            b.putUInt(s.recvQueueSeq() & UINT32_MAX);
            b.putBytes(s.recvQueue());
            b.putUInt(o.mss());
            b.putBoolean(o.sackPermitted());
            b.putBoolean(o.windowScaling());
            b.putUInt(o.sndWscale());
            b.putUInt(o.rcvWscale());
            b.putBoolean(o.timestamps());
            b.putUInt(s.timestamp() & UINT32_MAX);
            b.putUInt(s.sendWindow());
            b.putUInt(s.receiveWindow());
            b.putBoolean(tcp.exit() == RepairExit.WINDOW_PROBE);
        }
        b.putString(noticeExtra);
        b.putBytes(serverKexInit);
        return b.getCompactData();
    }

    private static void putDirection(Buffer b, Direction d) {
        DirectionKeys k = d.keys();
        b.putString(k.cipher());
        b.putString(k.mac() == null ? "" : k.mac());
        b.putBytes(k.key());
        b.putBytes(k.iv());
        b.putBytes(k.macKey() == null ? new byte[0] : k.macKey());
        b.putLong(d.position().sequence());
        b.putLong(d.position().blocks());
    }

    /** Parses a whole payload (message number first), or says precisely what is wrong with it. */
    public static ReplayEnd decode(byte[] payload) throws ReplayEndFormatException {
        return decode(payload, 0, payload.length);
    }

    public static ReplayEnd decode(byte[] payload, int offset, int length) throws ReplayEndFormatException {
        Objects.checkFromIndexSize(offset, length, payload.length);
        Reader r = new Reader(payload, offset, length);
        int message = r.u8("message number");
        if (message != MESSAGE) {
            throw new ReplayEndFormatException("not a REPLAY_END: message number " + message + ", expected " + MESSAGE);
        }
        long version = r.u32("format version");
        if (version != FORMAT_VERSION) {
            throw new ReplayEndFormatException("REPLAY_END format version " + version + " is not supported (only "
                    + FORMAT_VERSION + ")");
        }
        Direction inbound = direction(r, "inbound");
        Direction outbound = direction(r, "outbound");
        long count = r.u32("channel count");
        // a channel takes 33 bytes: a count the payload cannot hold is garbage, not a reason to allocate
        if (count > r.remaining() / CHANNEL_BYTES) {
            throw new ReplayEndFormatException("channel count " + count + " does not fit the "
                    + r.remaining() + " bytes left");
        }
        List<ChannelState> channels = new ArrayList<>((int) count);
        for (int i = 0; i < count; i++) {
            String c = "channel[" + i + "].";
            long serverId = r.u32(c + "serverId");
            long clientId = r.u32(c + "clientId");
            long serverWindow = r.u64Window(c + "serverWindow");
            long serverMax = r.u32(c + "serverMaxPacket");
            long clientWindow = r.u64Window(c + "clientWindow");
            long clientMax = r.u32(c + "clientMaxPacket");
            int flags = r.u8(c + "flags");
            try {
                channels.add(new ChannelState(serverId, clientId, serverWindow, serverMax, clientWindow, clientMax, flags));
            } catch (IllegalArgumentException e) {
                throw new ReplayEndFormatException(c + ": " + e.getMessage());
            }
        }
        TcpHandover tcp = null;
        if (r.bool("hasTcp")) {
            InetSocketAddress server = new InetSocketAddress(r.ip("tcp.serverIp"), r.port("tcp.serverPort"));
            InetSocketAddress client = new InetSocketAddress(r.ip("tcp.clientIp"), r.port("tcp.clientPort"));
            int sendSeq = (int) r.u32("tcp.sendQueueSeq");
            byte[] sendQueue = r.bytes("tcp.sendQueue", Integer.MAX_VALUE);
            int recvSeq = (int) r.u32("tcp.recvQueueSeq");
            byte[] recvQueue = r.bytes("tcp.recvQueue", Integer.MAX_VALUE);
            long mss = r.u32("tcp.mss");
            boolean sack = r.bool("tcp.sack");
            boolean wscale = r.bool("tcp.windowScaling");
            long sndWscale = r.u32("tcp.sndWscale");
            long rcvWscale = r.u32("tcp.rcvWscale");
            boolean timestamps = r.bool("tcp.timestamps");
            int timestamp = (int) r.u32("tcp.timestamp");
            long sendWindow = r.u32("tcp.sendWindow");
            long receiveWindow = r.u32("tcp.receiveWindow");
            boolean windowProbe = r.bool("tcp.windowProbe");
            if (sendWindow > Integer.MAX_VALUE || receiveWindow > Integer.MAX_VALUE) {
                throw new ReplayEndFormatException("tcp: window out of range (send " + sendWindow + ", receive "
                        + receiveWindow + ")");
            }
            try {
                TcpOptions options = new TcpOptions((int) Math.min(mss, Integer.MAX_VALUE), sack, wscale,
                        (int) Math.min(sndWscale, 99), (int) Math.min(rcvWscale, 99), timestamps);
                TcpState state = new TcpState(server, client, sendSeq, sendQueue, recvSeq, recvQueue, options,
                        timestamp, (int) sendWindow, (int) receiveWindow);
                tcp = new TcpHandover(state, windowProbe ? RepairExit.WINDOW_PROBE : RepairExit.NO_WINDOW_PROBE);
            } catch (IllegalArgumentException e) {
                throw new ReplayEndFormatException("tcp: " + e.getMessage());
            }
        }
        String notice = r.utf8("noticeExtra");
        byte[] kexInit = r.bytes("serverKexInit", MAX_KEXINIT);
        if (kexInit.length > 0 && kexInit[0] != 20) {
            throw new ReplayEndFormatException("serverKexInit is message " + (kexInit[0] & 0xff) + ", not KEXINIT (20)");
        }
        if (r.remaining() != 0) {
            throw new ReplayEndFormatException(r.remaining() + " unexpected bytes after the last field");
        }
        return new ReplayEnd(inbound, outbound, channels, tcp, notice, kexInit);
    }

    private static Direction direction(Reader r, String which) throws ReplayEndFormatException {
        String cipher = r.name(which + ".cipher");
        if (cipher.isEmpty()) {
            throw new ReplayEndFormatException(which + ".cipher is empty");
        }
        String mac = r.name(which + ".mac");
        byte[] key = r.bytes(which + ".key", MAX_KEY);
        byte[] iv = r.bytes(which + ".iv", MAX_KEY);
        byte[] macKey = r.bytes(which + ".macKey", MAX_KEY);
        long sequence = r.u64(which + ".sequence");
        long blocks = r.u64(which + ".blocks");
        if (sequence < 0 || sequence > UINT32_MAX) {
            throw new ReplayEndFormatException(which + ".sequence " + Long.toUnsignedString(sequence)
                    + " is not a 32-bit sequence number");
        }
        if (blocks < 0) {
            throw new ReplayEndFormatException(which + ".blocks " + Long.toUnsignedString(blocks) + " out of range");
        }
        if (mac.isEmpty() != (macKey.length == 0)) {
            throw new ReplayEndFormatException(which + ": a MAC key goes with a MAC name, and none without ("
                    + (mac.isEmpty() ? "no MAC, " + macKey.length + "-byte key" : mac + " without a key") + ")");
        }
        DirectionKeys keys = new DirectionKeys(cipher, mac.isEmpty() ? null : mac, iv, key,
                mac.isEmpty() ? null : macKey);
        return new Direction(keys, new CipherPosition(sequence, blocks));
    }

    @Override
    public String toString() {
        return "ReplayEnd[in " + inbound + ", out " + outbound + ", " + channels.size() + " channel(s)"
                + (tcp == null ? ", no TCP" : ", " + tcp.state() + " exit " + tcp.exit())
                + ", notice +" + noticeExtra.length() + " chars"
                + (serverKexInit.length == 0 ? "" : ", server KEXINIT sent (" + serverKexInit.length + " B)") + "]";
    }

    /** Reads SSH wire types and names the field that is missing or wrong. */
    private static final class Reader {
        private final byte[] data;
        private final int end;
        private int pos;

        Reader(byte[] data, int offset, int length) {
            this.data = data;
            this.pos = offset;
            this.end = offset + length;
        }

        int remaining() {
            return end - pos;
        }

        private void need(int n, String field) throws ReplayEndFormatException {
            if (remaining() < n) {
                throw new ReplayEndFormatException("REPLAY_END truncated at " + field + ": needs " + n + " byte(s), "
                        + remaining() + " left");
            }
        }

        int u8(String field) throws ReplayEndFormatException {
            need(1, field);
            return data[pos++] & 0xff;
        }

        boolean bool(String field) throws ReplayEndFormatException {
            int v = u8(field);
            if (v > 1) {
                throw new ReplayEndFormatException(field + " is not a boolean: " + v);
            }
            return v == 1;
        }

        long u32(String field) throws ReplayEndFormatException {
            need(4, field);
            long v = ((data[pos] & 0xffL) << 24) | ((data[pos + 1] & 0xffL) << 16) | ((data[pos + 2] & 0xffL) << 8)
                    | (data[pos + 3] & 0xffL);
            pos += 4;
            return v;
        }

        long u64(String field) throws ReplayEndFormatException {
            long hi = u32(field);
            long lo = u32(field);
            return (hi << 32) | lo;
        }

        /** A channel window: uint64 on the wire, but SSH windows are 32-bit. */
        long u64Window(String field) throws ReplayEndFormatException {
            long v = u64(field);
            if (v < 0 || v > UINT32_MAX) {
                throw new ReplayEndFormatException(field + " " + Long.toUnsignedString(v)
                        + " is larger than an SSH window can be (2^32 - 1)");
            }
            return v;
        }

        int port(String field) throws ReplayEndFormatException {
            long v = u32(field);
            if (v < 1 || v > 65535) {
                throw new ReplayEndFormatException(field + " " + v + " is not a port");
            }
            return (int) v;
        }

        byte[] bytes(String field, int max) throws ReplayEndFormatException {
            long n = u32(field + " length");
            if (n > max || n > remaining()) {
                throw new ReplayEndFormatException("REPLAY_END truncated at " + field + ": length " + n + ", "
                        + remaining() + " byte(s) left" + (n > max ? " (at most " + max + " allowed)" : ""));
            }
            byte[] out = new byte[(int) n];
            System.arraycopy(data, pos, out, 0, out.length);
            pos += out.length;
            return out;
        }

        String utf8(String field) throws ReplayEndFormatException {
            byte[] raw = bytes(field, Integer.MAX_VALUE);
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(raw)).toString();
            } catch (CharacterCodingException e) {
                throw new ReplayEndFormatException(field + " is not UTF-8");
            }
        }

        /** An algorithm name: printable US-ASCII, short. */
        String name(String field) throws ReplayEndFormatException {
            byte[] raw = bytes(field, MAX_NAME);
            for (byte b : raw) {
                if (b < 0x21 || b > 0x7e) {
                    throw new ReplayEndFormatException(field + " is not an algorithm name");
                }
            }
            return new String(raw, StandardCharsets.US_ASCII);
        }

        /** An IP literal; never a host name (no DNS lookup). */
        InetAddress ip(String field) throws ReplayEndFormatException {
            byte[] raw = bytes(field, 64);
            String s = new String(raw, StandardCharsets.US_ASCII);
            try {
                if (IPV4.matcher(s).matches()) {
                    String[] parts = s.split("\\.");
                    byte[] a = new byte[4];
                    for (int i = 0; i < 4; i++) {
                        int v = Integer.parseInt(parts[i]);
                        if (v > 255) {
                            throw new ReplayEndFormatException(field + " '" + s + "' is not an IPv4 address");
                        }
                        a[i] = (byte) v;
                    }
                    return InetAddress.getByAddress(a);
                }
                if (s.indexOf(':') >= 0 && s.matches("[0-9A-Fa-f:.]+")) {
                    return InetAddress.getByName(s); // an IPv6 literal: parsed, never looked up
                }
            } catch (UnknownHostException e) {
                // falls through
            }
            throw new ReplayEndFormatException(field + " '" + s + "' is not an IP address");
        }
    }
}
