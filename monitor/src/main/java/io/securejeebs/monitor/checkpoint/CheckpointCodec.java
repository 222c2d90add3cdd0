package io.securejeebs.monitor.checkpoint;

import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.keyexport.wire.WireReader;
import io.securejeebs.keyexport.wire.WireWriter;
import io.securejeebs.monitor.app.ApplicationCheckpoint;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.SftpHandle;
import io.securejeebs.monitor.ssh.SftpModel;
import io.securejeebs.monitor.ssh.SshCheckpoint;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionCheckpoint;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.NegotiatedOptions;
import io.securejeebs.monitor.tcp.TcpCheckpoint;
import io.securejeebs.monitor.tcp.TimestampClocks;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The stored form of a {@link ConnectionCheckpoint}: the {@code state} column of {@code session_checkpoint}.
 * Built from SSH-style fields with keyexport's {@link WireWriter} (RFC 4251 §5: {@code byte}, {@code boolean},
 * {@code uint32}, {@code string}), plus signed 32-bit and 64-bit integers as 4 and 8 raw big-endian bytes.
 *
 * <pre>
 * byte      format version (2; version 1 is still read: it is version 2 without the SFTP states)
 * -- TCP
 * endpoint  client, server              (string: the 4-byte IPv4 address; uint32 port)
 * int64     opened, last seen           (capture clock, µs since the epoch)
 * uint32    client MSS; boolean SACK permitted; boolean window scaling; byte client scale; byte server scale;
 *           boolean timestamps
 * uint32    client window, server window (raw 16-bit fields)
 * int32 ×4  client TSval, client TSecr, server TSval, server TSecr; int64 server TSval capture time
 * 2 ×       c->s then s->c: int32 ISN; int32 next seq; int64 next offset; int32 acknowledged seq;
 *           string retained bytes (ending at the next offset)
 * -- application
 * string    protocol ("ssh")
 * ssh:      string V_C, V_S; boolean strict KEX; string SHA-256(session id); uint32 KEX records applied;
 *           2 × direction: string cipher; boolean has MAC [string MAC]; uint32 key epoch; int64 sequence;
 *               int64 cipher position; int64 plaintext packets; int64 packets; int64 whole-packets end;
 *               string tail
 *           boolean client bytes wait for the server's ACK; uint32 unacknowledged bytes at the c->s tail's end
 *           4 × optional string: user, method, last requested user, last requested method; uint32 attempts
 *           uint32 next server channel id; int32 highest channel id of the prefix
 *           string-list global requests
 *           boolean prefix complete; string prefix; uint32 prefix packets; boolean has end [int64 seq; int64 blocks]
 *           uint32 count, then each channel: int32 server id (-1 while opening); uint32 client id; string type;
 *               int64 server window; uint32 server max packet; int64 client window; uint32 client max packet;
 *               boolean pty [string term; uint32 columns, rows, width px, height px; string modes];
 *               uint32 env count [string name; string value]...; optional command; optional argument;
 *               5 × boolean (opened in prefix, EOF c->s, EOF s->c, CLOSE c->s, CLOSE s->c);
 *               string open payload; string-list requests after the prefix;
 *               (version 2) boolean SFTP followed [SFTP state]
 * SFTP state (an "sftp" subsystem channel, {@link SftpModel}):
 *           optional string why it is not followed (if present, nothing else of the state follows)
 *           int32 client's INIT version; int32 version in force (-1: not yet)
 *           uint32 count, then each open handle: string identifier; handle fields; int64 offset
 *           uint32 count, then each request awaiting its reply: int32 request id; boolean is an open
 *               [handle fields] or [int32 version it selects]
 *           2 × c->s then s->c: string kept head of the current SFTP packet; int64 its bytes that came
 *           handle fields: byte kind (0 file, 1 directory); string path; int32 open flags;
 *               boolean has desired access [int32 desired access]; string attrs
 * </pre>
 * (an optional string is a boolean, then the string if true). Nothing else follows.
 *
 * <p>No keys, no K or H, no KEX record and no authentication plaintext are in it (see {@link SshCheckpoint}),
 * and no file data: of an SFTP channel only paths, flags, handles, offsets and packet headers.
 * Decoding is strict: a truncated, corrupt or inconsistent blob, an unknown version or an unknown protocol
 * is a {@link CheckpointFormatException} that says what is wrong, never anything else.
 */
public final class CheckpointCodec {
    public static final int FORMAT_VERSION = 2;
    /** The oldest format version this build reads. */
    public static final int OLDEST_FORMAT_VERSION = 1;
    private static final String WHAT = "session checkpoint";
    private static final int MAX_CHANNELS = 4096;
    private static final int MAX_ENV = 4096;
    private static final int MAX_SFTP_ENTRIES = 1 << 16;

    private CheckpointCodec() {
    }

    public static byte[] encode(ConnectionCheckpoint checkpoint) {
        WireWriter w = new WireWriter(1024);
        w.writeByte(FORMAT_VERSION);
        TcpCheckpoint t = checkpoint.tcp();
        w.writeEndpoint("client", t.key().client().toSocketAddress());
        w.writeEndpoint("server", t.key().server().toSocketAddress());
        int64(w, t.openedMicros());
        int64(w, t.lastSeenMicros());
        NegotiatedOptions o = t.options();
        w.writeUint32(o.clientMss());
        w.writeBoolean(o.sackPermitted());
        w.writeBoolean(o.windowScaling());
        w.writeByte(o.clientWindowScale());
        w.writeByte(o.serverWindowScale());
        w.writeBoolean(o.timestamps());
        w.writeUint32(t.clientWindowRaw());
        w.writeUint32(t.serverWindowRaw());
        TimestampClocks ts = t.timestamps();
        int32(w, ts.clientTsVal());
        int32(w, ts.clientTsEcr());
        int32(w, ts.serverTsVal());
        int32(w, ts.serverTsEcr());
        int64(w, ts.serverTsValMicros());
        direction(w, t.clientToServer());
        direction(w, t.serverToClient());
        ApplicationCheckpoint app = checkpoint.application();
        w.writeUtf8("protocol", app.protocol());
        if (app instanceof SshCheckpoint ssh) {
            ssh(w, ssh);
        } else {
            throw new IllegalArgumentException("no checkpoint encoding for protocol " + app.protocol());
        }
        return w.toByteArray();
    }

    public static ConnectionCheckpoint decode(byte[] blob) throws CheckpointFormatException {
        WireReader r = new WireReader(WHAT, blob);
        try {
            int format = r.readFormatVersion(OLDEST_FORMAT_VERSION, FORMAT_VERSION);
            ConnectionKey key = new ConnectionKey(endpoint(r, "client"), endpoint(r, "server"));
            long opened = int64(r, "opened");
            long lastSeen = int64(r, "last seen");
            int mss = r.readUint32("client MSS");
            boolean sack = r.readBoolean("SACK permitted");
            boolean scaling = r.readBoolean("window scaling");
            int clientScale = r.readByte("client window scale");
            int serverScale = r.readByte("server window scale");
            boolean timestamps = r.readBoolean("timestamps");
            if (mss > 0xffff || clientScale > 14 || serverScale > 14 || !scaling && (clientScale | serverScale) != 0) {
                throw r.malformed("impossible TCP options");
            }
            int clientWindow = r.readUint32("client window");
            int serverWindow = r.readUint32("server window");
            if (clientWindow > 0xffff || serverWindow > 0xffff) {
                throw r.malformed("a window field above 65535");
            }
            TimestampClocks ts = new TimestampClocks(int32(r, "client TSval"), int32(r, "client TSecr"),
                    int32(r, "server TSval"), int32(r, "server TSecr"), int64(r, "server TSval time"));
            TcpCheckpoint.Direction c2s = direction(r, "c->s");
            TcpCheckpoint.Direction s2c = direction(r, "s->c");
            TcpCheckpoint tcp = new TcpCheckpoint(key, opened, lastSeen,
                    new NegotiatedOptions(mss, sack, scaling, clientScale, serverScale, timestamps), c2s, s2c,
                    clientWindow, serverWindow, ts);
            String protocol = r.readUtf8("protocol");
            if (!SshSessionTracker.PROTOCOL.equals(protocol)) {
                throw r.malformed("unknown protocol (" + protocol.length() + " characters): this build reads "
                        + SshSessionTracker.PROTOCOL + " checkpoints only");
            }
            SshCheckpoint ssh = ssh(r, format);
            r.expectEnd();
            consistent(r, "c->s", c2s, ssh.clientToServer());
            consistent(r, "s->c", s2c, ssh.serverToClient());
            return new ConnectionCheckpoint(tcp, ssh);
        } catch (MalformedEncodingException e) {
            throw new CheckpointFormatException(e.getMessage());
        }
    }

    // ---------------------------------------------------------------- TCP

    private static void direction(WireWriter w, TcpCheckpoint.Direction d) {
        int32(w, d.isn());
        int32(w, d.nextSeq());
        int64(w, d.nextOffset());
        int32(w, d.ackedSeq());
        w.writeString(d.retained());
    }

    private static TcpCheckpoint.Direction direction(WireReader r, String name) throws MalformedEncodingException {
        TcpCheckpoint.Direction d = new TcpCheckpoint.Direction(int32(r, name + " ISN"), int32(r, name + " next seq"),
                int64(r, name + " next offset"), int32(r, name + " acknowledged seq"), r.readString(name + " retained"));
        String wrong = d.inconsistency(name);
        if (wrong != null) {
            throw r.malformed(wrong);
        }
        return d;
    }

    private static Endpoint endpoint(WireReader r, String field) throws MalformedEncodingException {
        InetSocketAddress a = r.readEndpoint(field);
        try {
            return Endpoint.of(a);
        } catch (IllegalArgumentException e) {
            throw r.malformed(field + ": " + e.getMessage());
        }
    }

    /** The SSH tracker's tail of each direction must end where TCP's stream ends. */
    private static void consistent(WireReader r, String name, TcpCheckpoint.Direction tcp, SshCheckpoint.Direction ssh)
            throws MalformedEncodingException {
        if (ssh.wholePacketsEnd() + ssh.tail().length != tcp.nextOffset()) {
            throw r.malformed(name + ": the SSH state ends at offset " + (ssh.wholePacketsEnd() + ssh.tail().length)
                    + ", the TCP stream at " + tcp.nextOffset());
        }
    }

    // ---------------------------------------------------------------- SSH

    private static void ssh(WireWriter w, SshCheckpoint s) {
        w.writeUtf8("V_C", s.clientVersion());
        w.writeUtf8("V_S", s.serverVersion());
        w.writeBoolean(s.strictKex());
        w.writeString(s.sessionIdDigest());
        w.writeUint32(s.keyExchanges());
        direction(w, s.clientToServer());
        direction(w, s.serverToClient());
        w.writeBoolean(s.awaitServerAck());
        w.writeUint32(s.clientUnacknowledged());
        optional(w, "user", s.user());
        optional(w, "auth method", s.authMethod());
        optional(w, "last requested user", s.lastRequestUser());
        optional(w, "last requested method", s.lastRequestMethod());
        w.writeUint32(s.authAttempts());
        w.writeUint32(s.nextServerChannelId());
        int32(w, s.prefixMaxChannelId());
        w.writeStringList(s.globalRequests());
        w.writeBoolean(s.prefixComplete());
        w.writeString(s.prefix());
        w.writeUint32(s.prefixPackets());
        w.writeBoolean(s.prefixEndPosition() != null);
        if (s.prefixEndPosition() != null) {
            int64(w, s.prefixEndPosition().sequence());
            int64(w, s.prefixEndPosition().blocks());
        }
        w.writeUint32(s.channels().size());
        for (ChannelModel ch : s.channels()) {
            int32(w, ch.serverId());
            w.writeUint32(ch.clientId());
            w.writeUtf8("channel type", ch.type());
            int64(w, ch.serverWindow());
            w.writeUint32(ch.serverMaxPacket());
            int64(w, ch.clientWindow());
            w.writeUint32(ch.clientMaxPacket());
            ChannelModel.PtyRequest pty = ch.pty();
            w.writeBoolean(pty != null);
            if (pty != null) {
                w.writeUtf8("TERM", pty.term());
                w.writeUint32(pty.columns());
                w.writeUint32(pty.rows());
                w.writeUint32(pty.widthPixels());
                w.writeUint32(pty.heightPixels());
                w.writeString(pty.modes());
            }
            w.writeUint32(ch.env().size());
            for (Map.Entry<String, String> e : ch.env().entrySet()) {
                w.writeUtf8("env name", e.getKey());
                w.writeUtf8("env value", e.getValue());
            }
            optional(w, "command", ch.command());
            optional(w, "command argument", ch.commandArgument());
            w.writeBoolean(ch.openedInPrefix());
            w.writeBoolean(ch.eofFromClient());
            w.writeBoolean(ch.eofFromServer());
            w.writeBoolean(ch.closeFromClient());
            w.writeBoolean(ch.closeFromServer());
            w.writeString(ch.openPayload());
            w.writeStringList(ch.requestsAfterPrefix());
            w.writeBoolean(ch.sftp() != null);
            if (ch.sftp() != null) {
                sftp(w, ch.sftp());
            }
        }
    }

    private static SshCheckpoint ssh(WireReader r, int format) throws MalformedEncodingException {
        String clientVersion = r.readUtf8("V_C");
        String serverVersion = r.readUtf8("V_S");
        boolean strict = r.readBoolean("strict KEX");
        byte[] sessionIdDigest = r.readString("session id digest", 32);
        int keyExchanges = r.readUint32("KEX records applied");
        SshCheckpoint.Direction c2s = sshDirection(r, "c->s");
        SshCheckpoint.Direction s2c = sshDirection(r, "s->c");
        if (keyExchanges < 1 || c2s.keyEpoch() >= keyExchanges || s2c.keyEpoch() >= keyExchanges) {
            throw r.malformed("a key epoch without its KEX record");
        }
        boolean awaitAck = r.readBoolean("client bytes wait for ACK");
        int unacknowledged = r.readUint32("unacknowledged client bytes");
        if (unacknowledged > c2s.tail().length || !awaitAck && unacknowledged > 0) {
            throw r.malformed(unacknowledged + " unacknowledged client bytes in a tail of " + c2s.tail().length);
        }
        String user = optional(r, "user");
        String method = optional(r, "auth method");
        String lastUser = optional(r, "last requested user");
        String lastMethod = optional(r, "last requested method");
        int attempts = r.readUint32("auth attempts");
        int nextChannel = r.readUint32("next server channel id");
        int prefixMaxChannel = int32(r, "prefix max channel id");
        if (prefixMaxChannel < -1 || prefixMaxChannel >= nextChannel && prefixMaxChannel >= 0) {
            throw r.malformed("prefix max channel id " + prefixMaxChannel + " with next id " + nextChannel);
        }
        List<byte[]> globalRequests = r.readStringList("global requests");
        boolean prefixComplete = r.readBoolean("prefix complete");
        byte[] prefix = r.readString("prefix");
        int prefixPackets = r.readUint32("prefix packets");
        CipherPosition prefixEnd = null;
        if (r.readBoolean("prefix end known")) {
            prefixEnd = new CipherPosition(sequence(r, "prefix end sequence"), nonNegative(r, "prefix end position"));
        }
        int channelCount = r.readUint32("channel count");
        if (channelCount > MAX_CHANNELS) {
            throw r.malformed(channelCount + " channels");
        }
        List<ChannelModel> channels = new ArrayList<>();
        for (int i = 0; i < channelCount; i++) {
            channels.add(channel(r, "channel[" + i + "]", format));
        }
        return new SshCheckpoint(clientVersion, serverVersion, strict, sessionIdDigest, keyExchanges, c2s, s2c, awaitAck,
                unacknowledged, user, method, lastUser, lastMethod, attempts, channels, nextChannel, prefixMaxChannel,
                globalRequests, prefixComplete, prefix, prefixPackets, prefixEnd);
    }

    private static void direction(WireWriter w, SshCheckpoint.Direction d) {
        w.writeUtf8("cipher", d.cipher());
        optional(w, "MAC", d.mac());
        w.writeUint32(d.keyEpoch());
        int64(w, d.sequence());
        int64(w, d.blocks());
        int64(w, d.plaintextPackets());
        int64(w, d.packets());
        int64(w, d.wholePacketsEnd());
        w.writeString(d.tail());
    }

    private static SshCheckpoint.Direction sshDirection(WireReader r, String name) throws MalformedEncodingException {
        String cipher = r.readUtf8(name + " cipher");
        try {
            CipherPosition.modeOf(cipher);
        } catch (IllegalArgumentException e) {
            throw r.malformed(name + ": " + e.getMessage());
        }
        String mac = optional(r, name + " MAC");
        int epoch = r.readUint32(name + " key epoch");
        long sequence = sequence(r, name + " sequence");
        long blocks = nonNegative(r, name + " cipher position");
        long plaintext = nonNegative(r, name + " plaintext packets");
        long packets = nonNegative(r, name + " packets");
        long end = nonNegative(r, name + " whole-packets end");
        byte[] tail = r.readString(name + " tail");
        if (packets < plaintext) {
            throw r.malformed(name + ": " + packets + " packets, fewer than the " + plaintext + " plaintext ones");
        }
        return new SshCheckpoint.Direction(cipher, mac, epoch, sequence, blocks, plaintext, packets, end, tail);
    }

    private static ChannelModel channel(WireReader r, String name, int format) throws MalformedEncodingException {
        int serverId = int32(r, name + " server id");
        if (serverId < -1) {
            throw r.malformed(name + ": server id " + serverId);
        }
        int clientId = r.readUint32(name + " client id");
        String type = r.readUtf8(name + " type");
        long serverWindow = int64(r, name + " server window");
        int serverMaxPacket = r.readUint32(name + " server max packet");
        long clientWindow = int64(r, name + " client window");
        int clientMaxPacket = r.readUint32(name + " client max packet");
        ChannelModel.PtyRequest pty = null;
        if (r.readBoolean(name + " has pty")) {
            pty = new ChannelModel.PtyRequest(r.readUtf8(name + " TERM"), r.readUint32(name + " columns"),
                    r.readUint32(name + " rows"), r.readUint32(name + " width"), r.readUint32(name + " height"),
                    r.readString(name + " modes"));
        }
        int envCount = r.readUint32(name + " env count");
        if (envCount > MAX_ENV || envCount > r.remaining() / 8) {
            throw r.malformed(name + ": " + envCount + " environment variables");
        }
        Map<String, String> env = new LinkedHashMap<>();
        for (int i = 0; i < envCount; i++) {
            String k = r.readUtf8(name + " env name");
            if (env.put(k, r.readUtf8(name + " env value")) != null) {
                throw r.malformed(name + ": environment variable set twice");
            }
        }
        String command = optional(r, name + " command");
        String argument = optional(r, name + " command argument");
        boolean inPrefix = r.readBoolean(name + " opened in prefix");
        boolean eofC = r.readBoolean(name + " EOF c->s");
        boolean eofS = r.readBoolean(name + " EOF s->c");
        boolean closeC = r.readBoolean(name + " CLOSE c->s");
        boolean closeS = r.readBoolean(name + " CLOSE s->c");
        byte[] open = r.readString(name + " open payload");
        List<byte[]> requests = r.readStringList(name + " requests");
        SftpModel sftp = format >= 2 && r.readBoolean(name + " SFTP followed") ? sftp(r, name + " SFTP") : null;
        return new ChannelModel(serverId, clientId, type, serverWindow, serverMaxPacket, clientWindow, clientMaxPacket,
                pty, env.isEmpty() ? Map.of() : Collections.unmodifiableMap(env), command, argument, inPrefix, eofC,
                eofS, closeC, closeS, open, List.copyOf(requests), List.of(), sftp);
    }

    // ---------------------------------------------------------------- SFTP

    private static void sftp(WireWriter w, SftpModel m) {
        optional(w, "SFTP stopped", m.stoppedReason());
        if (m.stoppedReason() != null) {
            return;
        }
        int32(w, m.clientVersion());
        int32(w, m.version());
        w.writeUint32(m.handles().size());
        for (SftpHandle h : m.handles()) {
            w.writeString(h.identifier());
            handleFields(w, h);
            int64(w, h.offset());
        }
        w.writeUint32(m.pendingRequests().size());
        for (SftpModel.PendingRequest p : m.pendingRequests()) {
            int32(w, p.requestId());
            w.writeBoolean(p.opening() != null);
            if (p.opening() != null) {
                handleFields(w, p.opening());
            } else {
                int32(w, p.selectsVersion());
            }
        }
        for (SftpModel.PartialPacket packet : List.of(m.fromClient(), m.fromServer())) {
            w.writeString(packet.head());
            int64(w, packet.consumed());
        }
    }

    private static void handleFields(WireWriter w, SftpHandle h) {
        w.writeByte(h.kind() == SftpHandle.Kind.FILE ? 0 : 1);
        w.writeString(h.pathBytes());
        int32(w, h.openFlags());
        w.writeBoolean(h.desiredAccess() != null);
        if (h.desiredAccess() != null) {
            int32(w, h.desiredAccess());
        }
        w.writeString(h.attrs());
    }

    private static SftpModel sftp(WireReader r, String name) throws MalformedEncodingException {
        String stopped = optional(r, name + " stopped");
        if (stopped != null) {
            return SftpModel.stopped(stopped);
        }
        int clientVersion = int32(r, name + " client version");
        int version = int32(r, name + " version");
        if (clientVersion < -1 || version < -1) {
            throw r.malformed(name + ": version " + clientVersion + "/" + version);
        }
        int handleCount = sftpCount(r, name + " handle count");
        List<SftpHandle> handles = new ArrayList<>();
        for (int i = 0; i < handleCount; i++) {
            String field = name + " handle[" + i + "]";
            byte[] identifier = r.readString(field + " identifier");
            SftpHandle fields = handleFields(r, field, identifier);
            handles.add(new SftpHandle(identifier, fields.kind(), fields.pathBytes(), fields.openFlags(),
                    fields.desiredAccess(), fields.attrs(), int64(r, field + " offset")));
        }
        int pendingCount = sftpCount(r, name + " pending count");
        List<SftpModel.PendingRequest> pending = new ArrayList<>();
        for (int i = 0; i < pendingCount; i++) {
            String field = name + " pending[" + i + "]";
            int id = int32(r, field + " request id");
            if (r.readBoolean(field + " is an open")) {
                pending.add(new SftpModel.PendingRequest(id, handleFields(r, field, new byte[0]), -1));
            } else {
                int selects = int32(r, field + " selected version");
                if (selects < 0) {
                    throw r.malformed(field + ": selects version " + selects);
                }
                pending.add(new SftpModel.PendingRequest(id, null, selects));
            }
        }
        SftpModel.PartialPacket fromClient = partialPacket(r, name + " c->s");
        SftpModel.PartialPacket fromServer = partialPacket(r, name + " s->c");
        return new SftpModel(clientVersion, version, handles, null, pending, fromClient, fromServer);
    }

    private static int sftpCount(WireReader r, String field) throws MalformedEncodingException {
        int n = r.readUint32(field);
        if (n < 0 || n > MAX_SFTP_ENTRIES || n > r.remaining() / 4) {
            throw r.malformed(field + " " + Integer.toUnsignedString(n));
        }
        return n;
    }

    /** The fields a handle shares with the open request it answers; offset 0. */
    private static SftpHandle handleFields(WireReader r, String field, byte[] identifier)
            throws MalformedEncodingException {
        int kind = r.readByte(field + " kind");
        if (kind > 1) {
            throw r.malformed(field + ": kind " + kind);
        }
        byte[] path = r.readString(field + " path");
        int flags = int32(r, field + " open flags");
        Integer access = r.readBoolean(field + " has desired access") ? int32(r, field + " desired access") : null;
        byte[] attrs = r.readString(field + " attrs");
        return new SftpHandle(identifier, kind == 0 ? SftpHandle.Kind.FILE : SftpHandle.Kind.DIRECTORY, path, flags,
                access, attrs, 0);
    }

    private static SftpModel.PartialPacket partialPacket(WireReader r, String name) throws MalformedEncodingException {
        byte[] head = r.readString(name + " packet head");
        long consumed = nonNegative(r, name + " packet bytes");
        if (consumed < head.length) {
            throw r.malformed(name + ": " + consumed + " bytes of a packet whose head holds " + head.length);
        }
        return head.length == 0 && consumed == 0 ? SftpModel.PartialPacket.NONE
                : new SftpModel.PartialPacket(head, consumed);
    }

    // ---------------------------------------------------------------- fields

    private static void optional(WireWriter w, String field, String value) {
        w.writeBoolean(value != null);
        if (value != null) {
            w.writeUtf8(field, value);
        }
    }

    private static String optional(WireReader r, String field) throws MalformedEncodingException {
        return r.readBoolean(field + " present") ? r.readUtf8(field) : null;
    }

    private static void int32(WireWriter w, int v) {
        w.writeRaw(new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v});
    }

    private static int int32(WireReader r, String field) throws MalformedEncodingException {
        byte[] b = r.readRaw(field, 4);
        return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    private static void int64(WireWriter w, long v) {
        int32(w, (int) (v >>> 32));
        int32(w, (int) v);
    }

    private static long int64(WireReader r, String field) throws MalformedEncodingException {
        byte[] b = r.readRaw(field, 8);
        long v = 0;
        for (byte x : b) {
            v = (v << 8) | (x & 0xff);
        }
        return v;
    }

    private static long nonNegative(WireReader r, String field) throws MalformedEncodingException {
        int at = r.position();
        long v = int64(r, field);
        if (v < 0) {
            throw r.malformed(field + " at offset " + at + " is negative");
        }
        return v;
    }

    /** An SSH packet sequence number: 0 .. 2^32 - 1. */
    private static long sequence(WireReader r, String field) throws MalformedEncodingException {
        int at = r.position();
        long v = int64(r, field);
        if (v < 0 || v > 0xffffffffL) {
            throw r.malformed(field + " at offset " + at + " is not a 32-bit sequence number");
        }
        return v;
    }
}
