package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.KexInitProposal;
import io.securejeebs.keyexport.kex.KexRecordException;
import io.securejeebs.keyexport.kex.NegotiatedAlgorithms;
import io.securejeebs.keyexport.kex.SessionKeys;
import io.securejeebs.monitor.app.ApplicationCheckpoint;
import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.app.ApplicationUpdates;
import io.securejeebs.monitor.app.CheckpointUnavailableException;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TrackingException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.kex.extension.KexExtensions;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * Follows one SSH connection from its reassembled TCP streams and the sealed KEX records, exactly as the
 * server sees it (DESIGN §3.2): version lines and plaintext KEXINITs; then, with each key exchange's
 * record, both directions decrypted and every MAC or tag verified; packet boundaries, sequence numbers
 * (strict KEX resets them at every NEWKEYS), cipher positions, the user, the channels with their windows
 * and requests, and the replay log: the verbatim client ciphertext of the setup prefix, then the
 * plaintext of the state-setting messages. Channel data is not kept, except where an application hook
 * asks for some of it: the command lines typed into a shell ({@link CommandLines}, when configured) and the
 * requests of an SFTP channel ({@link SftpRequestLog}: versions, open handles and their offsets).
 *
 * <p>Anything that cannot be followed exactly (a bad MAC, garbage, a record that does not match the wire
 * or never comes) is a {@link TrackingException}: the TCP layer marks this one connection unrecoverable
 * with the reason, and the monitor goes on.
 *
 * <p>Checkpoints ({@link #checkpoint()}, {@link SshCheckpoint}): the state after the last whole packet of
 * each direction, without keys; {@link #resume} rebuilds a tracker from one, fetching the records of the key
 * exchanges in force again, and its decoders continue at the recorded positions.
 *
 * <p>Not thread-safe: the capture thread calls it under the connection table's lock, and records arrive
 * through {@link ApplicationUpdates}, under the same lock.
 */
public final class SshSessionTracker implements ApplicationTracker {
    public static final String PROTOCOL = "ssh";

    /**
     * Limits that keep a hostile or broken stream from growing memory.
     *
     * @param commandLinesKept command lines kept per shell channel; 0: typed lines are not followed
     * @param sftpOpenHandles open handles followed per SFTP channel ({@link SftpRequestLog}); 0: SFTP requests
     *                        are not followed
     * @param sftpPendingRequests SFTP OPEN, OPENDIR and version-select requests that may wait for their reply
     *                            per SFTP channel
     */
    public record Limits(int maxPrefixBytes, int maxPendingBytes, int maxChannels, int maxRequestsPerChannel,
                         int commandLinesKept, int sftpOpenHandles, int sftpPendingRequests) {
        public static final int SFTP_OPEN_HANDLES = 256;
        public static final int SFTP_PENDING_REQUESTS = 1024;
        public static final Limits DEFAULT = new Limits(64 << 10, 1 << 20, 64, 64, 0, SFTP_OPEN_HANDLES,
                SFTP_PENDING_REQUESTS);

        /** These limits, SFTP requests followed or not. */
        public Limits withSftp(boolean follow) {
            return new Limits(maxPrefixBytes, maxPendingBytes, maxChannels, maxRequestsPerChannel, commandLinesKept,
                    follow ? SFTP_OPEN_HANDLES : 0, follow ? SFTP_PENDING_REQUESTS : 0);
        }
    }

    private static final int MAX_LINE = 255;
    private static final int MAX_PRE_VERSION_LINES = 32;
    private static final int MAX_PLAIN_PACKET = 256 << 10;
    private static final int MAX_PENDING_RECORDS = 4;
    /** Key-exchange messages (30 to 49) one side may send in one key exchange: group exchange uses two. */
    private static final int MAX_KEX_MESSAGES = 8;
    /** What one entry of {@link #held} costs besides its bytes, charged to the pending limit. */
    private static final int HELD_ENTRY_COST = 64;
    /** "N-character command, sha256 0123abcd": enough to tell two apart, nothing of what they say. */
    public static String redacted(String secret, String what) {
        byte[] bytes = secret.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return bytes.length + "-" + what + ", sha256 " + java.util.HexFormat.of().formatHex(sha256(bytes, 0, bytes.length), 0, 4);
    }

    /** An exec request payload with every byte of its command line replaced by 'x'. */
    private static byte[] blankedExec(byte[] payload, String line) {
        byte[] command = line.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] out = payload.clone();
        // the command is the request's last field: a uint32 length, then the bytes, at the payload's end
        java.util.Arrays.fill(out, out.length - command.length, out.length, (byte) 'x');
        return out;
    }

    /** Lines of possibly-read input kept per channel for the recovery notice. */
    private static final int POSSIBLY_READ_LINES = 16;

    private final ConnectionKey key;
    private final KexRecordSource records;
    private final ApplicationUpdates updates;
    private final Limits limits;

    private final Direction c2s = new Direction(true);
    private final Direction s2c = new Direction(false);

    /** Keys of applied records not yet used by both directions, by ordinal. */
    private final Map<Integer, SessionKeys> keys = new TreeMap<>();
    /** Key exchanges as captured, not yet all checked against their record, by ordinal. */
    private final Map<Integer, WireKex> wireKex = new HashMap<>();
    /** Records received whose key exchange was not all captured yet, by ordinal. */
    private final Map<Integer, KexRecord> uncheckedRecords = new HashMap<>();
    private int requestedOrdinal = -1;
    private int appliedRecords;
    private KexRecord firstKex;
    private String sessionIdFingerprint;
    private boolean strictKex;
    private boolean pumping;
    private boolean awaitServerAck;
    private byte[] unacked;
    private int unackedLength;
    private long unackedStart;
    private final List<ApplicationUpdates.ApplicationUpdate> inlineDeliveries = new ArrayList<>(0);
    private boolean disconnected;
    /**
     * A rekey under way: the client stream just before the client's KEXINIT. While the server has sent no more of
     * that exchange than its own KEXINIT, the client holds nothing the recovery server cannot reproduce: the replay
     * stops before the client's KEXINIT, which goes back to the restored socket (with what followed it), and the
     * recovery server takes the primary's KEXINIT, if any, as its own, then answers afresh.
     */
    private record RekeyRollback(int ordinal, long offset, DirectionModel model) {}

    private RekeyRollback rekeyRollback;
    /** While settling a failover: the client packets being followed may have been read by the dead server. */
    private boolean possiblyRead;
    /** A state-setting message came since {@link #takeCheckpointRequest()} last asked. */
    private boolean checkpointWanted;
    /** Resumed from a checkpoint and record #0 not yet back: SHA-256 of the session id it must have. */
    private byte[] resumeSessionIdDigest;
    /**
     * While a direction waits for its keys, the bytes of both directions wait here, in the order they came,
     * and are followed in that order once the keys are in: a client request must not be taken before the
     * server reply it answers (a CHANNEL_REQUEST names the id of the OPEN_CONFIRMATION before it).
     */
    private final ArrayDeque<Held> held = new ArrayDeque<>(2);
    /** Bytes in {@link #held} plus {@link #HELD_ENTRY_COST} per entry: what the pending limit bounds. */
    private int heldCost;

    // user authentication
    private String authUser;
    private String authMethod;
    private String lastRequestUser;
    private String lastRequestMethod;
    private int authAttempts;
    /** Whether the client's latest authentication message (request or info response) is in the replay prefix. */
    private boolean lastAuthMessageInPrefix;
    /**
     * Why this session can never be replayed although its traffic was followed (an allowed message the replay
     * cannot carry): set once, at the message that made it so, and reported from then on.
     */
    private String unreplayable;

    // connection layer
    private final Map<Integer, Channel> pendingOpens = new HashMap<>();   // by client id
    private final Map<Integer, Channel> byServerId = new TreeMap<>();
    private final Map<Integer, Channel> byClientId = new HashMap<>();
    private int nextServerChannelId;
    private int prefixMaxChannelId = -1;
    private final List<byte[]> globalRequests = new ArrayList<>();

    // replay prefix: the client's ciphertext from offset 0 up to the first message that is not setup
    private byte[] prefix = new byte[2048];
    private int prefixLength;
    private boolean prefixComplete;
    private int prefixPackets;
    private CipherPosition prefixEndPosition;
    /** What ended the prefix (for reasons): a client message, or the size limit. */
    private String prefixEndedBy;

    public SshSessionTracker(ConnectionKey key, KexRecordSource records, ApplicationUpdates updates, Limits limits) {
        this.key = key;
        this.records = records;
        this.updates = updates;
        this.limits = limits;
    }

    @Override
    public String protocol() {
        return PROTOCOL;
    }

    @Override
    public StreamSink clientStream() {
        return (offset, data, off, len) -> {
            if (awaitServerAck) {
                holdUnacknowledged(offset, data, off, len);
                return;
            }
            processClientBytes(data, off, len);
        };
    }

    /**
     * From now on, client bytes are processed only once the server has acknowledged them (live and offline
     * capture): what the client sent while the primary was dying never reached it, so the recovery server
     * must get those bytes in its receive queue and decrypt them itself, from the state before them.
     */
    public SshSessionTracker processClientBytesWhenAcknowledged() {
        this.awaitServerAck = true;
        return this;
    }

    private void processClientBytes(byte[] data, int off, int len) throws TrackingException {
        keepPrefix(data, off, len);
        arrive(c2s, data, off, len);
    }

    private void holdUnacknowledged(long offset, byte[] data, int off, int len) throws TrackingException {
        if (unackedLength + len > limits.maxPendingBytes()) {
            throw new TrackingException("c->s: " + (unackedLength + len) + " bytes the server has not acknowledged"
                    + " (limit " + limits.maxPendingBytes() + ")");
        }
        if (unacked == null || unackedLength + len > unacked.length) {
            unacked = Arrays.copyOf(unacked == null ? new byte[0] : unacked, Math.max(unackedLength + len, 1024));
        }
        if (unackedLength == 0) {
            unackedStart = offset;
        }
        System.arraycopy(data, off, unacked, unackedLength, len);
        unackedLength += len;
    }

    @Override
    public void onClientBytesAcknowledged(long offset) throws TrackingException {
        if (!awaitServerAck || unackedLength == 0 || offset <= unackedStart) {
            return;
        }
        int n = (int) Math.min(unackedLength, offset - unackedStart);
        byte[] held = unacked;
        int rest = unackedLength - n;
        if (rest == 0) {
            unacked = null;
            unackedLength = 0;
        } else {
            unacked = Arrays.copyOfRange(held, n, unackedLength);
            unackedLength = rest;
        }
        unackedStart += n;
        processClientBytes(held, 0, n);
    }

    /**
     * The whole client packets up to {@code offset} may have been read by the dead server (see
     * {@code TcpConnection#settleClientBytesBefore}): they are followed as consumed, so the replay starts after
     * them and the restored socket never hands them to a new application; what they typed into a shell is kept
     * for the recovery notice instead. A packet cut at {@code offset} was not whole when the server died: it
     * stays, with what follows, for the restored socket.
     */
    @Override
    public void onClientBytesPossiblyRead(long offset) throws TrackingException {
        possiblyRead = true;
        try {
            onClientBytesAcknowledged(offset);
        } finally {
            possiblyRead = false;
        }
    }

    @Override
    public StreamSink serverStream() {
        return (offset, data, off, len) -> arrive(s2c, data, off, len);
    }

    @Override
    public long clientConsumedOffset() {
        RekeyRollback r = rekeyUnanswered();
        return r != null ? r.offset() : c2s.wholePacketsEnd;
    }

    /**
     * The rollback point of a rekey under way that the server answered with nothing more than its KEXINIT (no
     * key-exchange message, no NEWKEYS), when the client's KEXINIT was seen; null otherwise.
     */
    private RekeyRollback rekeyUnanswered() {
        RekeyRollback r = rekeyRollback;
        return r != null && rekeyResumable() && wireKex.containsKey(r.ordinal()) ? r : null;
    }

    /** A rekey under way from which the recovery server can carry on: the server sent at most its KEXINIT. */
    private boolean rekeyResumable() {
        if (wireKex.size() != 1) {
            return false;
        }
        Map.Entry<Integer, WireKex> e = wireKex.entrySet().iterator().next();
        WireKex w = e.getValue();
        if (e.getKey() == 0 || w.ended[0] || w.ended[1] || !w.messages.get(1).isEmpty()) {
            return false;
        }
        // the client's part goes back to the socket: it must start at a KEXINIT whose stream position is known
        return w.kexInit[0] == null || (rekeyRollback != null && rekeyRollback.ordinal() == e.getKey());
    }

    /** The primary's KEXINIT of a resumable rekey, which the recovery server must take as its own, or null. */
    private byte[] serverKexInitSent() {
        if (wireKex.isEmpty() || !rekeyResumable()) {
            return null;
        }
        byte[] i = wireKex.values().iterator().next().kexInit[1];
        return i == null ? null : i.clone();
    }

    @Override
    public SshSessionModel resumeState() {
        List<ChannelModel> channels = new ArrayList<>();
        for (Channel ch : byServerId.values()) {
            channels.add(ch.model());
        }
        // An open prefix (nothing but setup so far) ends at the last whole client packet.
        int length = prefixComplete ? prefixLength : (int) Math.min(prefixLength, c2s.wholePacketsEnd);
        CipherPosition end = prefixComplete ? prefixEndPosition
                : c2s.keyEpoch == 0 && c2s.phase == Phase.ENCRYPTED ? c2s.decoder.position() : null;
        RekeyRollback rollback = rekeyUnanswered();
        return new SshSessionModel(c2s.version, s2c.version, sessionIdFingerprint, strictKex, appliedRecords,
                rollback != null ? rollback.model() : c2s.model(), s2c.model(), authUser, authMethod, authAttempts, List.copyOf(channels),
                nextServerChannelId, globalRequests.stream().map(byte[]::clone).toList(), prefixComplete,
                length, prefixPackets, end, prefixMaxChannelId,
                Arrays.copyOf(prefix, length), firstKex, s2c.partialPacket(), possiblyReadInput(), serverKexInitSent());
    }

    private Map<Integer, List<String>> possiblyReadInput() {
        Map<Integer, List<String>> out = new TreeMap<>();
        for (Channel ch : byServerId.values()) {
            if (ch.possiblyReadInput != null && !ch.possiblyReadInput.withPending().isEmpty()) {
                out.put(ch.serverId, ch.possiblyReadInput.withPending());
            }
        }
        return Map.copyOf(out);
    }

    @Override
    public String unrecoverableReason() {
        if (disconnected) {
            return "the session sent SSH_MSG_DISCONNECT";
        }
        if (unreplayable != null) {
            return unreplayable;
        }
        if (c2s.resumeAt != null || s2c.resumeAt != null) {
            return "resuming from a checkpoint: waiting for KEX record #"
                    + (firstKex == null ? 0 : Math.max(c2s.waitingFor, s2c.waitingFor));
        }
        if (c2s.phase != Phase.ENCRYPTED || s2c.phase != Phase.ENCRYPTED) {
            return c2s.keyEpoch < 0 || s2c.keyEpoch < 0 ? "the initial key exchange has not completed"
                    : "a key exchange is in progress (waiting for KEX record #" + Math.max(c2s.waitingFor, s2c.waitingFor) + ")";
        }
        if (!wireKex.isEmpty() && !rekeyResumable()) {
            // A rekey under way that the server had answered: the client already holds part of an exchange whose
            // server side died with the primary (its ephemeral key, or keys it never exported).
            int ordinal = wireKex.keySet().stream().min(Integer::compare).orElseThrow();
            return "a key exchange is in progress (rekey #" + ordinal + ": " + wireKex.get(ordinal).progress() + ")";
        }
        if (authUser == null) {
            return "user authentication has not completed";
        }
        if (!pendingOpens.isEmpty()) {
            return "a channel open is in progress";
        }
        if (prefixEndPosition == null && prefixComplete) {
            return "the replay prefix could not be delimited";
        }
        return null;
    }

    @Override
    public boolean takeCheckpointRequest() {
        boolean wanted = checkpointWanted;
        checkpointWanted = false;
        return wanted;
    }

    /**
     * The state after the last whole packet of each direction, and the bytes after it (see
     * {@link SshCheckpoint}): only between key exchanges, with both directions decrypted.
     */
    @Override
    public SshCheckpoint checkpoint() throws CheckpointUnavailableException {
        if (disconnected) {
            throw new CheckpointUnavailableException("the session sent SSH_MSG_DISCONNECT", true);
        }
        if (unreplayable != null) {
            throw new CheckpointUnavailableException(unreplayable, true);
        }
        if (c2s.phase != Phase.ENCRYPTED || s2c.phase != Phase.ENCRYPTED || firstKex == null) {
            throw new CheckpointUnavailableException(c2s.resumeAt != null || s2c.resumeAt != null
                    ? "resuming: the KEX records are not back yet" : c2s.keyEpoch < 0 || s2c.keyEpoch < 0
                    ? "the initial key exchange has not completed" : "a key exchange is in progress", false);
        }
        if (!held.isEmpty() || !wireKex.isEmpty() || !uncheckedRecords.isEmpty()) {
            throw new CheckpointUnavailableException("a key exchange is in progress", false);
        }
        byte[] buffered = c2s.decoder.bufferedCopy();
        byte[] c2sTail = Arrays.copyOf(buffered, buffered.length + unackedLength);
        if (unackedLength > 0) {
            System.arraycopy(unacked, 0, c2sTail, buffered.length, unackedLength);
        }
        List<ChannelModel> channels = new ArrayList<>(byServerId.size() + pendingOpens.size());
        for (Channel ch : byServerId.values()) {
            channels.add(checkpointModel(ch));
        }
        for (Channel ch : pendingOpens.values()) {
            channels.add(checkpointModel(ch));
        }
        // A complete prefix is never written again: it is shared, not copied.
        byte[] prefixBytes = prefixComplete ? prefix : Arrays.copyOf(prefix, (int) Math.min(prefixLength, c2s.wholePacketsEnd));
        return new SshCheckpoint(c2s.version, s2c.version, strictKex, sha256(firstKex.sessionId(), 0,
                firstKex.sessionId().length), appliedRecords, c2s.checkpoint(c2sTail), s2c.checkpoint(s2c.partialPacket()),
                awaitServerAck, unackedLength, authUser, authMethod, lastRequestUser, lastRequestMethod, authAttempts,
                channels, nextServerChannelId, prefixMaxChannelId, List.copyOf(globalRequests), prefixComplete,
                prefixBytes, prefixPackets, prefixEndPosition);
    }

    /**
     * A tracker that follows a session on from its checkpoint (a restarted appliance). Its directions wait
     * for the keys of the epochs in force, which it derives from the KEX records fetched again through
     * {@code records} (record #0 first: its session id must be the checkpoint's); the bytes the checkpoint
     * holds after the last whole packets wait with whatever is captured next, and are followed in order once
     * the keys are in. A record that never comes, or that does not fit, makes the connection unrecoverable.
     *
     * @throws TrackingException when the checkpoint cannot be followed on (or a record delivered at once does not fit)
     */
    public static SshSessionTracker resume(ConnectionKey key, KexRecordSource records, ApplicationUpdates updates,
                                           Limits limits, SshCheckpoint cp) throws TrackingException {
        SshSessionTracker t = new SshSessionTracker(key, records, updates, limits);
        int channelsOpen = 0;
        for (ChannelModel m : cp.channels()) {
            channelsOpen += m.serverId() < 0 ? 0 : 1;
        }
        if (cp.sessionIdDigest().length != 32 || cp.keyExchanges() < 1
                || cp.clientToServer().keyEpoch() >= cp.keyExchanges() || cp.serverToClient().keyEpoch() >= cp.keyExchanges()
                || cp.clientToServer().keyEpoch() < 0 || cp.serverToClient().keyEpoch() < 0
                || cp.clientUnacknowledged() < 0 || cp.clientUnacknowledged() > cp.clientToServer().tail().length
                || (!cp.awaitServerAck() && cp.clientUnacknowledged() > 0)
                || cp.channels().size() > limits.maxChannels() || channelsOpen > cp.nextServerChannelId()
                || cp.prefix().length > limits.maxPrefixBytes() || cp.clientToServer().packets() < cp.clientToServer().plaintextPackets()
                || cp.serverToClient().packets() < cp.serverToClient().plaintextPackets()) {
            throw new TrackingException("the SSH checkpoint does not describe a session this tracker can follow");
        }
        t.awaitServerAck = cp.awaitServerAck();
        t.c2s.resumeFrom(cp.clientVersion(), cp.clientToServer());
        t.s2c.resumeFrom(cp.serverVersion(), cp.serverToClient());
        t.strictKex = cp.strictKex();
        t.resumeSessionIdDigest = cp.sessionIdDigest().clone();
        t.sessionIdFingerprint = HexFormat.of().formatHex(cp.sessionIdDigest(), 0, 4);
        t.appliedRecords = cp.keyExchanges();
        t.requestedOrdinal = Math.max(cp.clientToServer().keyEpoch(), cp.serverToClient().keyEpoch());
        t.authUser = cp.user();
        t.authMethod = cp.authMethod();
        t.lastRequestUser = cp.lastRequestUser();
        t.lastRequestMethod = cp.lastRequestMethod();
        t.authAttempts = cp.authAttempts();
        // An open prefix holds every message so far; once it ended before the login (not checkpointed: which
        // side of its end the last request fell on), a login that completes now is taken as after it.
        t.lastAuthMessageInPrefix = !cp.prefixComplete();
        for (ChannelModel m : cp.channels()) {
            Channel ch = t.new Channel(m.type(), m.clientId(), m.clientWindow(), m.clientMaxPacket(), m.openPayload(),
                    m.openedInPrefix());
            ch.serverId = m.serverId();
            ch.serverWindow = m.serverWindow();
            ch.serverMaxPacket = m.serverMaxPacket();
            ch.pty = m.pty();
            ch.env = m.env().isEmpty() ? null : new LinkedHashMap<>(m.env());
            ch.command = m.command();
            ch.commandArgument = m.commandArgument();
            ch.eofFromClient = m.eofFromClient();
            ch.eofFromServer = m.eofFromServer();
            ch.closeFromClient = m.closeFromClient();
            ch.closeFromServer = m.closeFromServer();
            ch.requestsAfterPrefix = m.requestsAfterPrefix().isEmpty() ? null : new ArrayList<>(m.requestsAfterPrefix());
            if ("shell".equals(m.command()) && limits.commandLinesKept() > 0) {
                ch.lines = new CommandLines(limits.commandLinesKept()); // typed lines are not checkpointed
            }
            if (ch.isSftp() && limits.sftpOpenHandles() > 0) {
                ch.sftp = m.sftp() == null
                        ? SftpRequestLog.stopped("resumed from a checkpoint that holds no SFTP state")
                        : SftpRequestLog.resume(m.sftp(), limits.sftpOpenHandles(), limits.sftpPendingRequests());
            }
            boolean clash = m.serverId() < 0
                    ? t.pendingOpens.putIfAbsent(m.clientId(), ch) != null
                    : t.byServerId.putIfAbsent(m.serverId(), ch) != null | t.byClientId.putIfAbsent(m.clientId(), ch) != null;
            if (clash) {
                throw new TrackingException("the SSH checkpoint names channel " + m.serverId() + "/" + m.clientId() + " twice");
            }
        }
        t.nextServerChannelId = cp.nextServerChannelId();
        t.prefixMaxChannelId = cp.prefixMaxChannelId();
        t.globalRequests.addAll(cp.globalRequests());
        t.prefixComplete = cp.prefixComplete();
        t.prefixLength = cp.prefix().length;
        t.prefix = cp.prefixComplete() ? cp.prefix() : Arrays.copyOf(cp.prefix(), Math.max(2048, cp.prefix().length));
        t.prefixPackets = cp.prefixPackets();
        t.prefixEndPosition = cp.prefixEndPosition();
        // The bytes after the last whole packets wait for the keys, as bytes captured after a NEWKEYS do.
        byte[] c2sTail = cp.clientToServer().tail();
        int processed = c2sTail.length - cp.clientUnacknowledged();
        if (processed > 0) {
            t.processClientBytes(c2sTail, 0, processed);
        }
        if (cp.clientUnacknowledged() > 0) {
            t.unacked = Arrays.copyOfRange(c2sTail, processed, c2sTail.length);
            t.unackedLength = t.unacked.length;
            t.unackedStart = cp.clientToServer().wholePacketsEnd() + processed;
        }
        byte[] s2cTail = cp.serverToClient().tail();
        if (s2cTail.length > 0) {
            t.arrive(t.s2c, s2cTail, 0, s2cTail.length);
        }
        t.request(0, true);
        t.pump();
        return t;
    }

    /** A record of a key exchange in force at the checkpoint this tracker resumed from (any thread, under the lock). */
    void onResumedRecord(int ordinal, KexRecord record) throws TrackingException {
        if (record.ordinal() != ordinal) {
            throw new TrackingException("asked for KEX record #" + ordinal + " and got #" + record.ordinal());
        }
        if (ordinal == 0) {
            if (!c2s.version.equals(record.clientVersion()) || !s2c.version.equals(record.serverVersion())) {
                throw new TrackingException("KEX record #0: the identification lines differ from the checkpoint's");
            }
            byte[] digest = sha256(record.sessionId(), 0, record.sessionId().length);
            if (resumeSessionIdDigest == null || !MessageDigest.isEqual(digest, resumeSessionIdDigest)) {
                throw new TrackingException("KEX record #0 belongs to another session than the checkpoint");
            }
            if (record.strictKex() != strictKex) {
                throw new TrackingException("KEX record #0: strict key exchange differs from the checkpoint");
            }
            firstKex = record;
            resumeSessionIdDigest = null;
        } else if (firstKex == null || !Arrays.equals(firstKex.sessionId(), record.sessionId())) {
            throw new TrackingException("KEX record #" + ordinal + " belongs to another session");
        }
        if (ordinal == c2s.waitingFor || ordinal == s2c.waitingFor) {
            try {
                keys.put(ordinal, SessionKeys.derive(record,
                        NegotiatedAlgorithms.of(record.clientKexInit(), record.serverKexInit())));
            } catch (KexRecordException e) {
                throw new TrackingException("KEX record #" + ordinal + ": " + e.getMessage());
            }
        }
        if (ordinal == 0) {
            if (c2s.waitingFor > 0) {
                request(c2s.waitingFor, true);
            }
            if (s2c.waitingFor > 0 && s2c.waitingFor != c2s.waitingFor) {
                request(s2c.waitingFor, true);
            }
        }
        pump();
    }

    /**
     * The SSH trackers of a live appliance: {@code create} follows each new connection, {@code resume}
     * one from its checkpoint.
     *
     * @param whenAcknowledged see {@link #processClientBytesWhenAcknowledged()}
     */
    public static ApplicationTrackerFactory factory(KexRecordSource records, Limits limits, boolean whenAcknowledged) {
        return new ApplicationTrackerFactory() {
            @Override
            public ApplicationTracker create(ConnectionKey key, ApplicationUpdates updates) {
                SshSessionTracker t = new SshSessionTracker(key, records, updates, limits);
                return whenAcknowledged ? t.processClientBytesWhenAcknowledged() : t;
            }

            @Override
            public ApplicationTracker resume(ConnectionKey key, ApplicationUpdates updates, ApplicationCheckpoint state)
                    throws TrackingException {
                if (!(state instanceof SshCheckpoint cp)) {
                    throw new TrackingException("not an SSH checkpoint (" + state.protocol() + ")");
                }
                SshSessionTracker t = SshSessionTracker.resume(key, records, updates, limits, cp);
                return whenAcknowledged ? t.processClientBytesWhenAcknowledged() : t;
            }
        };
    }

    /** Captured bytes: followed now, or held behind what already waits for keys. */
    private void arrive(Direction d, byte[] data, int off, int len) throws TrackingException {
        if (held.isEmpty() && !waitingForKeys()) {
            d.feed(data, off, len);
        } else {
            hold(d, data, off, len, false);
        }
        pump();
    }

    private boolean waitingForKeys() {
        return c2s.phase == Phase.WAITING_KEYS || s2c.phase == Phase.WAITING_KEYS;
    }

    /**
     * Holds bytes until the keys are in: at the end, or (the rest of the chunk being followed, which came
     * before everything held) at the front.
     */
    private void hold(Direction d, byte[] data, int off, int len, boolean first) throws TrackingException {
        if (len == 0) {
            return;
        }
        Held neighbour = first ? held.peekFirst() : held.peekLast();
        boolean merge = !first && neighbour != null && neighbour.direction == d;
        int cost = len + (merge ? 0 : HELD_ENTRY_COST);
        if (heldCost + cost > limits.maxPendingBytes()) {
            Direction w = c2s.phase == Phase.WAITING_KEYS ? c2s : s2c;
            throw new TrackingException(w.name + ": KEX record #" + w.waitingFor + " has not arrived and "
                    + (heldCost + cost) + " bytes wait for its keys (limit " + limits.maxPendingBytes() + ")");
        }
        heldCost += cost;
        if (merge) {
            neighbour.append(data, off, len, limits.maxPendingBytes());
        } else if (first) {
            held.addFirst(new Held(d, data, off, len));
        } else {
            held.addLast(new Held(d, data, off, len));
        }
    }

    /** Follows held bytes, in order, as long as no direction waits for keys. */
    private boolean followHeld() throws TrackingException {
        boolean followed = false;
        while (!held.isEmpty() && !waitingForKeys()) {
            Held h = held.pollFirst();
            heldCost -= h.length + HELD_ENTRY_COST;
            h.direction.feed(h.data, 0, h.length);
            followed = true;
        }
        return followed;
    }

    private int heldBytes(Direction d) {
        int n = 0;
        for (Held h : held) {
            n += h.direction == d ? h.length : 0;
        }
        return n;
    }

    /** Bytes of one direction waiting for keys; adjacent chunks of one direction share an entry. */
    private static final class Held {
        final Direction direction;
        byte[] data;
        int length;

        Held(Direction direction, byte[] data, int off, int len) {
            this.direction = direction;
            this.data = Arrays.copyOfRange(data, off, off + len);
            this.length = len;
        }

        /** Appends; the array grows by doubling, never past {@code cap}, so the pending limit bounds memory. */
        void append(byte[] more, int off, int len, int cap) {
            if (length + len > data.length) {
                data = Arrays.copyOf(data, Math.max(length + len, Math.min(2 * data.length, cap)));
            }
            System.arraycopy(more, off, data, length, len);
            length += len;
        }
    }

    // ---------------------------------------------------------------- records

    /** Requests records as directions reach NEWKEYS, and moves directions whose keys have arrived. */
    private void pump() throws TrackingException {
        if (pumping) {
            return; // a record delivered on this thread, inside request(): the outer loop goes on
        }
        pumping = true;
        try {
            boolean progress = true;
            while (progress) {
                progress = false;
                int wanted = Math.max(c2s.waitingFor, s2c.waitingFor);
                if (wanted > requestedOrdinal) {
                    if (wanted > requestedOrdinal + 1) {
                        throw new TrackingException("key exchange #" + wanted + " began before #" + (requestedOrdinal + 1)
                                + " was seen to end");
                    }
                    requestedOrdinal = wanted;
                    request(wanted);
                    progress = true;
                }
                while (!inlineDeliveries.isEmpty()) {
                    inlineDeliveries.remove(0).apply();
                    progress = true;
                }
                progress |= c2s.activateIfKeysArrived();
                progress |= s2c.activateIfKeysArrived();
                progress |= followHeld();
            }
        } finally {
            pumping = false;
        }
    }

    /**
     * Asks for a record. A delivery on this very thread, inside the call (offline mode), is applied by
     * {@link #pump()} right after; a later one, from another thread, goes through the table's lock.
     */
    private void request(int ordinal) {
        request(ordinal, false);
    }

    /** @param forResume the record of a key exchange in force at the checkpoint this tracker resumes from */
    private void request(int ordinal, boolean forResume) {
        Thread caller = Thread.currentThread();
        boolean[] returned = new boolean[1];
        WireKex wire = forResume ? null : wireKex.get(ordinal);
        byte[] clientKexInit = wire == null || wire.kexInit[0] == null ? null : wire.kexInit[0].clone();
        records.request(key, ordinal, firstKex == null ? null : firstKex.sessionId(), clientKexInit,
                new KexRecordSource.Delivery() {
            @Override
            public void record(KexRecord record) {
                deliver(() -> {
                    if (forResume) {
                        onResumedRecord(ordinal, record);
                    } else {
                        onKexRecord(ordinal, record);
                    }
                });
            }

            @Override
            public void failed(String reason) {
                deliver(() -> {
                    throw new TrackingException("KEX record #" + ordinal + ": " + reason);
                });
            }

            private void deliver(ApplicationUpdates.ApplicationUpdate update) {
                if (!returned[0] && Thread.currentThread() == caller) {
                    inlineDeliveries.add(update);
                } else {
                    updates.apply(key, SshSessionTracker.this, update);
                }
            }
        });
        returned[0] = true;
    }

    /** A record arrived (on any thread, under the table's lock). */
    void onKexRecord(int ordinal, KexRecord record) throws TrackingException {
        if (record.ordinal() != ordinal) {
            throw new TrackingException("asked for KEX record #" + ordinal + " and got #" + record.ordinal());
        }
        if (ordinal == 0) {
            if (c2s.version != null && !c2s.version.equals(record.clientVersion())
                    || s2c.version != null && !s2c.version.equals(record.serverVersion())) {
                throw new TrackingException("KEX record #0: the identification lines differ from the wire");
            }
            firstKex = record;
            strictKex = record.strictKex();
            sessionIdFingerprint = fingerprint(record.sessionId());
        } else if (firstKex != null && !Arrays.equals(firstKex.sessionId(), record.sessionId())) {
            throw new TrackingException("KEX record #" + ordinal + " belongs to another session");
        }
        uncheckedRecords.put(ordinal, record);
        checkWire(ordinal);
        try {
            keys.put(ordinal, SessionKeys.derive(record,
                    NegotiatedAlgorithms.of(record.clientKexInit(), record.serverKexInit())));
        } catch (KexRecordException e) {
            throw new TrackingException("KEX record #" + ordinal + ": " + e.getMessage());
        }
        appliedRecords++;
        checkpointWanted = true;
        pump();
    }

    /** One key exchange as the wire shows it, until its record has been checked against all of it. */
    private static final class WireKex {
        /** I_C and I_S as captured. */
        final byte[][] kexInit = new byte[2][];
        /** SHA-256 of each key-exchange message (30 to 49) after KEXINIT, client's then server's. */
        final List<List<byte[]>> messages = List.of(new ArrayList<>(2), new ArrayList<>(2));
        /** Whether each side's NEWKEYS ended its part. */
        final boolean[] ended = new boolean[2];
        /** Whether the server ignored the client's first key-exchange message (a wrong guess); null until known. */
        Boolean clientGuessIgnored;

        /** How far the exchange got, for the reason a session is not recoverable now. */
        String progress() {
            StringBuilder b = new StringBuilder();
            for (int side = 0; side < 2; side++) {
                String who = side == 0 ? "client" : "server";
                b.append(side == 0 ? "" : ", ").append(who).append(": ")
                        .append(ended[side] ? "NEWKEYS sent" : kexInit[side] == null ? "no KEXINIT yet"
                                : messages.get(side).isEmpty() ? "KEXINIT sent"
                                : messages.get(side).size() + " key-exchange message(s) sent");
            }
            return b.toString();
        }
    }

    private WireKex wireKex(int ordinal) throws TrackingException {
        WireKex w = wireKex.computeIfAbsent(ordinal, k -> new WireKex());
        if (wireKex.size() > MAX_PENDING_RECORDS) {
            throw new TrackingException("too many key exchanges without their records");
        }
        return w;
    }

    private void onKexInit(boolean fromClient, int ordinal, byte[] payload, int off, int len) throws TrackingException {
        wireKex(ordinal).kexInit[fromClient ? 0 : 1] = Arrays.copyOfRange(payload, off, off + len);
        checkWire(ordinal);
    }

    /** A key-exchange message (e.g. KEX_ECDH_INIT, KEX_ECDH_REPLY): the record holds the same payloads. */
    private void onKexMessage(boolean fromClient, int ordinal, byte[] payload, int off, int len) throws TrackingException {
        List<byte[]> seen = wireKex(ordinal).messages.get(fromClient ? 0 : 1);
        if (seen.size() == MAX_KEX_MESSAGES) {
            throw new TrackingException((fromClient ? "c->s" : "s->c") + ": more than " + MAX_KEX_MESSAGES
                    + " messages in key exchange #" + ordinal);
        }
        seen.add(sha256(payload, off, len));
        checkWire(ordinal);
    }

    private void onNewKeys(boolean fromClient, int ordinal) throws TrackingException {
        wireKex(ordinal).ended[fromClient ? 0 : 1] = true;
        if (fromClient) {
            rekeyRollback = null; // the client has moved to the next keys: nothing to roll back to
        }
        checkWire(ordinal);
    }

    /**
     * The record must be the key exchange on the wire: I_C and I_S the very KEXINITs, and the key-exchange
     * messages the very ones each side sent, none missing at its NEWKEYS. The client's are replayed from
     * the prefix: one that differs from what the server got could never reproduce the keys.
     *
     * <p>A client that sets first_kex_packet_follows (RFC 4253 §7.1; Dropbear always does) and guessed wrong
     * sends one packet the server silently ignores: MINA drops it before the exporter sees it, so the record
     * lacks it, and the wire's first client message is left out of the match, by MINA's own rule
     * ({@link KexInitProposal#guessIgnoredBy}). The replay stays byte exact: the prefix carries the ignored
     * packet, and the recovery server, proposing the recorded I_S, ignores it by the same rule. A right guess
     * is an ordinary first message, recorded and matched.
     */
    private void checkWire(int ordinal) throws TrackingException {
        KexRecord r = uncheckedRecords.get(ordinal);
        WireKex w = wireKex.get(ordinal);
        if (r == null || w == null) {
            return;
        }
        if (w.kexInit[0] != null && !Arrays.equals(w.kexInit[0], r.clientKexInit())) {
            throw new TrackingException("KEX record #" + ordinal + ": I_C differs from the client's KEXINIT on the wire");
        }
        if (w.kexInit[1] != null && !Arrays.equals(w.kexInit[1], r.serverKexInit())) {
            throw new TrackingException("KEX record #" + ordinal + ": I_S differs from the server's KEXINIT on the wire");
        }
        if (w.clientGuessIgnored == null) {
            try {
                w.clientGuessIgnored = KexInitProposal.parse(r.clientKexInit())
                        .guessIgnoredBy(KexInitProposal.parse(r.serverKexInit()));
            } catch (KexRecordException e) {
                throw new TrackingException("KEX record #" + ordinal + ": " + e.getMessage());
            }
        }
        for (int side = 0; side < 2; side++) {
            String who = side == 0 ? "client's" : "server's";
            if (w.ended[side] && w.kexInit[side] == null) {
                throw new TrackingException("KEX record #" + ordinal + ": the " + who + " NEWKEYS came without its KEXINIT");
            }
            List<byte[]> seen = w.messages.get(side);
            List<byte[]> recorded = side == 0 ? r.clientKexMessages() : r.serverKexMessages();
            boolean ignoresFirst = side == 0 && w.clientGuessIgnored;
            int skip = ignoresFirst && !seen.isEmpty() ? 1 : 0; // the wrongly guessed packet, not in the record
            int n = seen.size() - skip;
            boolean same = n <= recorded.size()
                    && (!w.ended[side] || (n == recorded.size() && skip == (ignoresFirst ? 1 : 0)));
            for (int i = 0; same && i < n; i++) {
                same = Arrays.equals(seen.get(i + skip), sha256(recorded.get(i), 0, recorded.get(i).length));
            }
            if (!same) {
                throw new TrackingException("KEX record #" + ordinal + ": the " + who
                        + " key-exchange messages differ from the wire");
            }
        }
        if (w.ended[0] && w.ended[1]) {
            uncheckedRecords.remove(ordinal);
            wireKex.remove(ordinal);
        }
    }

    private static byte[] sha256(byte[] data, int off, int len) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(data, off, len);
            return d.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String fingerprint(byte[] sessionId) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(sessionId);
            return HexFormat.of().formatHex(d, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- prefix

    private void keepPrefix(byte[] data, int off, int len) throws TrackingException {
        if (prefixComplete) {
            return;
        }
        if (prefixLength + len > limits.maxPrefixBytes()) {
            // Setup longer than the limit: the prefix ends at the last whole packet; the rest is controlled replay.
            // (resumed and keys not yet in: the decoder will start where the checkpoint's last whole packet ended)
            closePrefix(c2s.wholePacketsEnd, c2s.decoder == null ? c2s.resumeAt : c2s.decoder.position(),
                    "its size limit (" + limits.maxPrefixBytes() + " bytes)");
            return;
        }
        if (prefixLength + len > prefix.length) {
            prefix = Arrays.copyOf(prefix, Math.max(prefixLength + len, prefix.length * 2));
        }
        System.arraycopy(data, off, prefix, prefixLength, len);
        prefixLength += len;
    }

    private void closePrefix(long endOffset, CipherPosition position, String why) throws TrackingException {
        int epoch = c2s.resumeAt != null ? c2s.waitingFor : c2s.keyEpoch;
        if (epoch != 0 && position != null) {
            throw new TrackingException("the replay prefix would end under rekeyed keys");
        }
        prefixComplete = true;
        prefixLength = (int) Math.min(prefixLength, endOffset);
        prefix = Arrays.copyOf(prefix, prefixLength);
        prefixEndPosition = position;
        prefixEndedBy = why;
    }

    /** OpenSSH's transport-level ping (PROTOCOL §1.9, "ping@openssh.com"): SSH2_MSG_PING and SSH2_MSG_PONG. */
    static final int MSG_PING = 192;
    static final int MSG_PONG = 193;

    /**
     * Whether a client message may be part of the verbatim prefix: setup, with no effect on data flow, that the
     * recovery server answers as the primary did when it is replayed byte for byte. Besides authentication and
     * the channel opens and requests: what RFC 4253/8308 and OpenSSH's PROTOCOL let a client send around its
     * login whatever the server does: IGNORE, DEBUG, UNIMPLEMENTED, EXT_INFO (RFC 8308 §2.3: right after the
     * client's first NEWKEYS, e.g. asyncssh's "global-requests-ok"), the answers to the server's global requests,
     * and ping@openssh.com's PING and PONG.
     */
    private static boolean isSetup(int cmd) {
        return switch (cmd) {
            case SshConstants.SSH_MSG_IGNORE, SshConstants.SSH_MSG_DEBUG, SshConstants.SSH_MSG_UNIMPLEMENTED,
                 SshConstants.SSH_MSG_SERVICE_REQUEST, KexExtensions.SSH_MSG_EXT_INFO,
                 SshConstants.SSH_MSG_USERAUTH_REQUEST, SshConstants.SSH_MSG_USERAUTH_INFO_RESPONSE,
                 SshConstants.SSH_MSG_GLOBAL_REQUEST, SshConstants.SSH_MSG_REQUEST_SUCCESS,
                 SshConstants.SSH_MSG_REQUEST_FAILURE, SshConstants.SSH_MSG_CHANNEL_OPEN,
                 SshConstants.SSH_MSG_CHANNEL_REQUEST, MSG_PING, MSG_PONG -> true;
            default -> false;
        };
    }

    // ---------------------------------------------------------------- messages

    private void onClientMessage(long seq, byte[] p, int off, int len, long start, long end) throws TrackingException {
        int cmd = p[off] & 0xff;
        if (!prefixComplete) {
            if (c2s.keyEpoch < 0 || (c2s.keyEpoch == 0 && isSetup(cmd))) {
                prefixPackets++; // the plaintext key exchange, then setup messages under the first keys
            } else {
                closePrefix(start, c2s.positionBefore, "client message " + SshConstants.getCommandMessageName(cmd));
            }
        }
        boolean inPrefix = !prefixComplete;
        Buffer b = new ByteArrayBuffer(p, off + 1, len - 1, true);
        try {
            switch (cmd) {
                case SshConstants.SSH_MSG_USERAUTH_REQUEST -> {
                    lastRequestUser = b.getString();
                    b.getString(); // service
                    lastRequestMethod = b.getString();
                    authAttempts++;
                    lastAuthMessageInPrefix = inPrefix;
                }
                case SshConstants.SSH_MSG_USERAUTH_INFO_RESPONSE -> lastAuthMessageInPrefix = inPrefix;
                case SshConstants.SSH_MSG_GLOBAL_REQUEST -> {
                    String name = b.getString();
                    checkpointWanted |= !name.startsWith("keepalive@");
                    if (!inPrefix && !name.startsWith("keepalive@")) {
                        if (globalRequests.size() >= limits.maxRequestsPerChannel()) {
                            throw new TrackingException("more than " + limits.maxRequestsPerChannel() + " global requests to replay");
                        }
                        globalRequests.add(Arrays.copyOfRange(p, off, off + len));
                    }
                }
                case SshConstants.SSH_MSG_CHANNEL_OPEN -> {
                    String type = b.getString();
                    int clientId = b.getInt();
                    long window = b.getUInt();
                    int maxPacket = b.getInt();
                    if (pendingOpens.size() + byServerId.size() >= limits.maxChannels()) {
                        throw new TrackingException("more than " + limits.maxChannels() + " channels");
                    }
                    Channel ch = new Channel(type, clientId, window, maxPacket, Arrays.copyOfRange(p, off, off + len), inPrefix);
                    pendingOpens.put(clientId, ch);
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_WINDOW_ADJUST -> channelByServerId(b.getInt(), cmd).clientWindow += b.getUInt();
                case SshConstants.SSH_MSG_CHANNEL_DATA -> {
                    Channel ch = channelByServerId(b.getInt(), cmd);
                    int n = b.getInt();
                    ch.serverWindow -= n;
                    if (ch.lines != null) {
                        ch.lines.accept(p, off + 9, Math.min(n, len - 9));
                    }
                    if (possiblyRead) {
                        if (ch.possiblyReadInput == null) {
                            ch.possiblyReadInput = new CommandLines(POSSIBLY_READ_LINES);
                        }
                        ch.possiblyReadInput.accept(p, off + 9, Math.min(n, len - 9));
                    }
                    if (ch.sftp != null) {
                        checkpointWanted |= ch.sftp.fromClient(p, off + 9, Math.min(n, len - 9));
                    }
                }
                case SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA -> {
                    Channel ch = channelByServerId(b.getInt(), cmd);
                    b.getInt();
                    ch.serverWindow -= b.getInt();
                }
                case SshConstants.SSH_MSG_CHANNEL_EOF -> {
                    channelByServerId(b.getInt(), cmd).eofFromClient = true;
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_CLOSE -> {
                    Channel ch = channelByServerId(b.getInt(), cmd);
                    ch.closeFromClient = true;
                    forgetIfClosed(ch);
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_REQUEST -> {
                    Channel ch = channelByServerId(b.getInt(), cmd);
                    ch.onRequest(b, Arrays.copyOfRange(p, off, off + len), inPrefix);
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_DISCONNECT -> {
                    disconnected = true;
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_KEXINIT -> {
                    if (c2s.decoder != null && rekeyRollback == null) { // a rekey: where the client stood before it
                        rekeyRollback = new RekeyRollback(c2s.newKeysSeen, start, c2s.modelBefore());
                    }
                    onKexInit(true, c2s.newKeysSeen, p, off, len);
                }
                default -> { }
            }
        } catch (RuntimeException e) { // MINA's Buffer: a field runs past the payload
            throw new TrackingException("c->s packet " + seq + " (message " + cmd + "): malformed: " + e.getMessage());
        }
    }

    private void onServerMessage(long seq, byte[] p, int off, int len) throws TrackingException {
        int cmd = p[off] & 0xff;
        Buffer b = new ByteArrayBuffer(p, off + 1, len - 1, true);
        try {
            switch (cmd) {
                case SshConstants.SSH_MSG_USERAUTH_SUCCESS -> {
                    if (lastRequestUser == null) {
                        throw new TrackingException("USERAUTH_SUCCESS without a request");
                    }
                    if (authUser == null && !lastAuthMessageInPrefix && unreplayable == null) {
                        // the replay re-authenticates from the prefix alone, which ended before this login
                        unreplayable = "the login came after the replay prefix ended"
                                + (prefixEndedBy == null ? "" : " (at " + prefixEndedBy + ")");
                    }
                    authUser = lastRequestUser;
                    authMethod = lastRequestMethod;
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_OPEN_CONFIRMATION -> {
                    int clientId = b.getInt();
                    int serverId = b.getInt();
                    Channel ch = pendingOpens.remove(clientId);
                    if (ch == null) {
                        throw new TrackingException("server confirmed channel " + clientId + " that the client never opened");
                    }
                    ch.serverId = serverId;
                    ch.serverWindow = b.getUInt();
                    ch.serverMaxPacket = b.getInt();
                    byServerId.put(serverId, ch);
                    byClientId.put(clientId, ch);
                    nextServerChannelId = Math.max(nextServerChannelId, serverId + 1);
                    if (ch.openedInPrefix) {
                        prefixMaxChannelId = Math.max(prefixMaxChannelId, serverId);
                    }
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_OPEN_FAILURE -> {
                    pendingOpens.remove(b.getInt());
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_WINDOW_ADJUST -> channelByClientId(b.getInt(), cmd).serverWindow += b.getUInt();
                case SshConstants.SSH_MSG_CHANNEL_DATA -> {
                    Channel ch = channelByClientId(b.getInt(), cmd);
                    int n = b.getInt();
                    ch.clientWindow -= n;
                    if (ch.sftp != null) {
                        checkpointWanted |= ch.sftp.fromServer(p, off + 9, Math.min(n, len - 9));
                    }
                }
                case SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA -> {
                    Channel ch = channelByClientId(b.getInt(), cmd);
                    b.getInt();
                    ch.clientWindow -= b.getInt();
                }
                case SshConstants.SSH_MSG_CHANNEL_EOF -> {
                    channelByClientId(b.getInt(), cmd).eofFromServer = true;
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_CHANNEL_CLOSE -> {
                    Channel ch = channelByClientId(b.getInt(), cmd);
                    ch.closeFromServer = true;
                    forgetIfClosed(ch);
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_DISCONNECT -> {
                    disconnected = true;
                    checkpointWanted = true;
                }
                case SshConstants.SSH_MSG_KEXINIT -> onKexInit(false, s2c.newKeysSeen, p, off, len);
                default -> { }
            }
        } catch (RuntimeException e) {
            throw new TrackingException("s->c packet " + seq + " (message " + cmd + "): malformed: " + e.getMessage());
        }
    }

    private Channel channelByServerId(int id, int cmd) throws TrackingException {
        Channel ch = byServerId.get(id);
        if (ch == null) {
            throw new TrackingException("client message " + cmd + " for unknown server channel " + id);
        }
        return ch;
    }

    private Channel channelByClientId(int id, int cmd) throws TrackingException {
        Channel ch = byClientId.get(id);
        if (ch == null) {
            throw new TrackingException("server message " + cmd + " for unknown client channel " + id);
        }
        return ch;
    }

    private void forgetIfClosed(Channel ch) {
        if (ch.closeFromClient && ch.closeFromServer) {
            byServerId.remove(ch.serverId);
            byClientId.remove(ch.clientId);
        }
    }

    /** Whether the session has ended with a DISCONNECT in either direction. */
    public boolean disconnected() {
        return disconnected;
    }

    // ---------------------------------------------------------------- channels

    private final class Channel {
        final String type;
        final int clientId;
        final byte[] openPayload;
        final boolean openedInPrefix;
        int serverId = -1;
        long serverWindow;
        int serverMaxPacket;
        long clientWindow;
        final int clientMaxPacket;
        ChannelModel.PtyRequest pty;
        Map<String, String> env;
        String command;
        String commandArgument;
        boolean eofFromClient;
        boolean eofFromServer;
        boolean closeFromClient;
        boolean closeFromServer;
        List<byte[]> requestsAfterPrefix;
        CommandLines lines;
        /** Input the dead server may have read, never delivered again (at a failover only). */
        CommandLines possiblyReadInput;
        /** The SFTP requests of an "sftp" subsystem channel, when followed. */
        SftpRequestLog sftp;

        Channel(String type, int clientId, long window, int maxPacket, byte[] openPayload, boolean openedInPrefix) {
            this.type = type;
            this.clientId = clientId;
            this.clientWindow = window;
            this.clientMaxPacket = maxPacket;
            this.openPayload = openPayload;
            this.openedInPrefix = openedInPrefix;
        }

        void onRequest(Buffer b, byte[] payload, boolean inPrefix) throws TrackingException {
            String request = b.getString();
            b.getBoolean(); // want-reply
            boolean windowChange = false;
            switch (request) {
                case "pty-req" -> pty = new ChannelModel.PtyRequest(b.getString(), b.getInt(), b.getInt(), b.getInt(),
                        b.getInt(), b.getBytes());
                case "window-change" -> {
                    windowChange = true;
                    int cols = b.getInt();
                    int rows = b.getInt();
                    int wpx = b.getInt();
                    int hpx = b.getInt();
                    if (pty != null) {
                        pty = new ChannelModel.PtyRequest(pty.term(), cols, rows, wpx, hpx, pty.modes());
                    }
                }
                case "env" -> {
                    if (env == null) {
                        env = new java.util.LinkedHashMap<>();
                    }
                    if (env.size() < limits.maxRequestsPerChannel()) {
                        env.put(b.getString(), redacted(b.getString(), "byte value")); // values may hold secrets
                    }
                }
                case "shell" -> {
                    command = "shell";
                    if (limits.commandLinesKept() > 0) {
                        lines = new CommandLines(limits.commandLinesKept());
                    }
                }
                case "exec" -> {
                    command = "exec";
                    String line = b.getString();
                    commandArgument = redacted(line, "character command"); // a command line may hold secrets
                    if (!inPrefix) {
                        // replayed only to put the channel in the same state (the recovery server never runs it):
                        // the same request with its command blanked, so that no checkpoint holds the command line
                        payload = blankedExec(payload, line);
                    }
                }
                case "subsystem" -> {
                    command = "subsystem";
                    commandArgument = b.getString();
                    if (isSftp() && sftp == null && limits.sftpOpenHandles() > 0) {
                        sftp = new SftpRequestLog(limits.sftpOpenHandles(), limits.sftpPendingRequests());
                    }
                }
                default -> { }
            }
            if (inPrefix) {
                return;
            }
            if (requestsAfterPrefix == null) {
                requestsAfterPrefix = new ArrayList<>(2);
            }
            if (windowChange) { // only the latest size matters
                requestsAfterPrefix.removeIf(r -> "window-change".equals(requestName(r)));
            }
            if (requestsAfterPrefix.size() >= limits.maxRequestsPerChannel()) {
                throw new TrackingException("channel " + serverId + ": more than " + limits.maxRequestsPerChannel()
                        + " requests to replay");
            }
            requestsAfterPrefix.add(payload);
        }

        /** Whether a hook reads this channel's data in that direction (the data is deciphered only then). */
        boolean readsData(boolean fromClient) {
            return (fromClient && (lines != null || possiblyRead)) || (sftp != null && sftp.stoppedReason() == null);
        }

        ChannelModel model() {
            return new ChannelModel(serverId, clientId, type, serverWindow, serverMaxPacket, clientWindow,
                    clientMaxPacket, pty, env == null ? Map.of() : Map.copyOf(env), command, commandArgument,
                    openedInPrefix, eofFromClient, eofFromServer, closeFromClient, closeFromServer, openPayload,
                    requestsAfterPrefix == null ? List.of() : List.copyOf(requestsAfterPrefix),
                    lines == null ? List.of() : lines.snapshot(), sftp == null ? null : sftp.model());
        }

        boolean isSftp() {
            return "subsystem".equals(command) && "sftp".equals(commandArgument);
        }
    }

    /**
     * The channel as checkpointed: env in the order asked, no command lines (they may hold secrets); the SFTP
     * requests' state whole (paths, handles and header fields; never file data).
     */
    private ChannelModel checkpointModel(Channel ch) {
        return new ChannelModel(ch.serverId, ch.clientId, ch.type, ch.serverWindow, ch.serverMaxPacket, ch.clientWindow,
                ch.clientMaxPacket, ch.pty, ch.env == null ? Map.of() : java.util.Collections.unmodifiableMap(
                new LinkedHashMap<>(ch.env)), ch.command, ch.commandArgument, ch.openedInPrefix, ch.eofFromClient,
                ch.eofFromServer, ch.closeFromClient, ch.closeFromServer, ch.openPayload,
                ch.requestsAfterPrefix == null ? List.of() : List.copyOf(ch.requestsAfterPrefix), List.of(),
                ch.sftp == null ? null : ch.sftp.model());
    }

    /** The request name of a CHANNEL_REQUEST payload. */
    static String requestName(byte[] payload) {
        Buffer b = new ByteArrayBuffer(payload, 1, payload.length - 1, true);
        b.getInt();
        return b.getString();
    }

    /**
     * The command lines typed into a shell, as well as keystrokes tell: printable characters, backspace,
     * Ctrl-U, and escape sequences (cursor keys) skipped. Only kept when configured: typed lines may hold
     * secrets.
     */
    static final class CommandLines {
        private final int keep;
        private final List<String> done = new ArrayList<>();
        private final StringBuilder line = new StringBuilder();
        private boolean escape;

        CommandLines(int keep) {
            this.keep = keep;
        }

        void accept(byte[] data, int off, int len) {
            for (int i = off; i < off + len; i++) {
                int c = data[i] & 0xff;
                if (escape) {
                    escape = !(c >= 0x40 && c <= 0x7e && c != '[' && c != 'O');
                } else if (c == 0x1b) {
                    escape = true;
                } else if (c == '\r' || c == '\n') {
                    if (!line.isEmpty()) {
                        done.add(line.toString());
                        if (done.size() > keep) {
                            done.remove(0);
                        }
                        line.setLength(0);
                    }
                } else if (c == 0x7f || c == 0x08) {
                    if (!line.isEmpty()) {
                        line.setLength(line.length() - 1);
                    }
                } else if (c == 0x15 || c == 0x03) { // Ctrl-U, Ctrl-C
                    line.setLength(0);
                } else if (c >= 0x20 && line.length() < 512) {
                    line.append((char) c);
                }
            }
        }

        List<String> snapshot() {
            return List.copyOf(done);
        }

        /** The complete lines, then the line typed but not ended, if any. */
        List<String> withPending() {
            if (line.isEmpty()) {
                return snapshot();
            }
            List<String> all = new ArrayList<>(done);
            all.add(line.toString());
            return List.copyOf(all);
        }
    }

    // ---------------------------------------------------------------- one direction

    private enum Phase { VERSION, PLAIN, WAITING_KEYS, ENCRYPTED }

    private final class Direction {
        final boolean fromClient;
        final String name;
        Phase phase = Phase.VERSION;
        String version;
        byte[] line = new byte[64];
        int lineLength;
        int preVersionLines;
        byte[] plain = new byte[0];
        int plainLength;
        long sequence;
        long plaintextPackets;
        /** NEWKEYS seen in this direction: the key epoch after the last one is {@code newKeysSeen - 1}. */
        int newKeysSeen;
        int keyEpoch = -1;
        /** The key epoch this direction waits for, -1 when it waits for none. */
        int waitingFor = -1;
        SshPacketDecoder decoder;
        long packetsInEarlierEpochs;
        SessionKeys.DirectionKeys directionKeys;
        /** Stream offset just past the last whole packet (or the version line). */
        long wholePacketsEnd;
        CipherPosition positionBefore;
        TrackingException stoppedBy;
        /** Resumed from a checkpoint, keys not yet in: where the decoder continues, and what it must be. */
        CipherPosition resumeAt;
        String resumeCipher;
        String resumeMac;

        Direction(boolean fromClient) {
            this.fromClient = fromClient;
            this.name = fromClient ? "c->s" : "s->c";
        }

        void feed(byte[] data, int off, int len) throws TrackingException {
            int end = off + len;
            while (off < end) {
                switch (phase) {
                    case VERSION -> off = readVersion(data, off, end);
                    case PLAIN -> off = readPlain(data, off, end);
                    case WAITING_KEYS -> { // what follows NEWKEYS in this chunk is under keys not in yet
                        hold(this, data, off, end - off, true);
                        off = end;
                    }
                    case ENCRYPTED -> off = readEncrypted(data, off, end);
                }
            }
        }

        private int readVersion(byte[] data, int off, int end) throws TrackingException {
            while (off < end) {
                byte c = data[off++];
                if (c == '\n') {
                    int n = lineLength > 0 && line[lineLength - 1] == '\r' ? lineLength - 1 : lineLength;
                    String text = new String(line, 0, n, StandardCharsets.UTF_8);
                    wholePacketsEnd += lineLength + 1;
                    lineLength = 0;
                    if (text.startsWith("SSH-")) {
                        if (!text.startsWith("SSH-2.0-") && !text.startsWith("SSH-1.99-")) {
                            throw new TrackingException(name + ": not SSH 2.0: " + printable(text));
                        }
                        version = text;
                        line = null;
                        phase = Phase.PLAIN;
                        return off;
                    }
                    if (fromClient || ++preVersionLines > MAX_PRE_VERSION_LINES) {
                        throw new TrackingException(name + ": no SSH identification line: " + printable(text));
                    }
                } else {
                    if (lineLength == MAX_LINE) {
                        throw new TrackingException(name + ": identification line longer than " + MAX_LINE + " bytes");
                    }
                    if (lineLength == line.length) {
                        line = Arrays.copyOf(line, MAX_LINE);
                    }
                    line[lineLength++] = c;
                }
            }
            return off;
        }

        /** Plaintext binary packets (before the first NEWKEYS). */
        private int readPlain(byte[] data, int off, int end) throws TrackingException {
            while (off < end && phase == Phase.PLAIN) {
                int need = plainLength < 4 ? 4 : 4 + readInt(plain, 0);
                int take = Math.min(end - off, need - plainLength);
                if (plain.length < need) {
                    plain = Arrays.copyOf(plain, Math.max(need, 64));
                }
                System.arraycopy(data, off, plain, plainLength, take);
                plainLength += take;
                off += take;
                if (plainLength == 4) {
                    int packetLength = readInt(plain, 0);
                    if (packetLength < 5 || packetLength > MAX_PLAIN_PACKET || (packetLength + 4) % 8 != 0) {
                        throw new TrackingException(name + ": invalid plaintext packet length " + packetLength);
                    }
                    continue;
                }
                if (plainLength < 4 || plainLength < 4 + readInt(plain, 0)) {
                    continue;
                }
                int packetLength = readInt(plain, 0);
                int padding = plain[4] & 0xff;
                int payloadLength = packetLength - 1 - padding;
                if (padding < 4 || payloadLength < 1) {
                    throw new TrackingException(name + ": plaintext packet with padding " + padding + " in " + packetLength);
                }
                long seq = sequence;
                sequence = (sequence + 1) & 0xffffffffL;
                plaintextPackets++;
                long start = wholePacketsEnd;
                wholePacketsEnd += 4 + packetLength;
                plainLength = 0;
                onPacket(seq, plain, 5, payloadLength, start, wholePacketsEnd);
                if (plain.length > 4096) {
                    plain = new byte[0]; // KEXINIT-sized buffers are not kept for the whole session
                }
            }
            return off;
        }

        private int readEncrypted(byte[] data, int off, int end) throws TrackingException {
            try {
                positionBefore = decoder.position();
                decoder.feed(data, off, end - off, (seq, p, o, l, wire) -> {
                    long start = wholePacketsEnd;
                    wholePacketsEnd += wire;
                    try {
                        boolean more = onPacket(seq, p, o, l, start, wholePacketsEnd);
                        positionBefore = decoder.position();
                        return more;
                    } catch (TrackingException e) {
                        stoppedBy = e;
                        return false;
                    }
                });
            } catch (PacketDecodingException e) {
                throw new TrackingException(name + " (key epoch " + keyEpoch + "): " + e.getMessage());
            }
            if (stoppedBy != null) {
                throw stoppedBy;
            }
            if (phase == Phase.WAITING_KEYS) { // stopped at NEWKEYS: what follows is under the next keys
                byte[] rest = decoder.takeBuffered();
                hold(this, rest, 0, rest.length, true);
            }
            return end;
        }

        /** @return whether to go on decoding in this epoch */
        private boolean onPacket(long seq, byte[] p, int o, int l, long start, long end) throws TrackingException {
            int cmd = p[o] & 0xff;
            if (fromClient) {
                onClientMessage(seq, p, o, l, start, end);
            } else {
                onServerMessage(seq, p, o, l);
            }
            if (cmd >= SshConstants.SSH_MSG_KEX_FIRST && cmd <= SshConstants.SSH_MSG_KEX_LAST) {
                onKexMessage(fromClient, newKeysSeen, p, o, l);
            }
            if (cmd == SshConstants.SSH_MSG_NEWKEYS) {
                if (l != 1) { // RFC 4253 §7.3: the message number alone; more is a capture that is not the stream
                    throw new TrackingException(name + ": a NEWKEYS payload of " + l + " bytes, not 1");
                }
                onNewKeys(fromClient, newKeysSeen);
                waitingFor = newKeysSeen++;
                phase = Phase.WAITING_KEYS;
                sequence = decoder == null ? sequence : decoder.nextSequence();
                return false;
            }
            return true;
        }

        boolean activateIfKeysArrived() throws TrackingException {
            if (phase != Phase.WAITING_KEYS || !keys.containsKey(waitingFor)) {
                return false;
            }
            SessionKeys k = keys.get(waitingFor);
            directionKeys = fromClient ? k.clientToServer() : k.serverToClient();
            if (resumeAt != null) {
                return activateResumed();
            }
            checkpointWanted = true; // a key exchange done (or half of it)
            keyEpoch = waitingFor;
            waitingFor = -1;
            if (strictKex) {
                sequence = 0;
            }
            try {
                if (decoder != null) {
                    packetsInEarlierEpochs += decoder.packetsDecoded();
                }
                decoder = new SshPacketDecoder(directionKeys, new CipherPosition(sequence, 0))
                        .withPayloadPolicy(this::wholePayloadNeeded);
            } catch (PacketDecodingException e) {
                throw new TrackingException(name + ": " + e.getMessage());
            }
            phase = Phase.ENCRYPTED;
            plain = null;
            dropKeysBothUsed();
            return true; // what was held is followed by pump(), in the order it came
        }

        /** The keys of the epoch in force at the checkpoint: the decoder continues where it stood. */
        private boolean activateResumed() throws TrackingException {
            if (!directionKeys.cipher().equals(resumeCipher) || !Objects.equals(directionKeys.mac(), resumeMac)) {
                throw new TrackingException(name + ": KEX record #" + waitingFor + " gives " + directionKeys.cipher()
                        + "/" + directionKeys.mac() + ", the checkpoint says " + resumeCipher + "/" + resumeMac);
            }
            keyEpoch = waitingFor;
            waitingFor = -1;
            try {
                decoder = new SshPacketDecoder(directionKeys, resumeAt).withPayloadPolicy(this::wholePayloadNeeded);
            } catch (PacketDecodingException e) {
                throw new TrackingException(name + ": " + e.getMessage());
            }
            resumeAt = null;
            resumeCipher = null;
            resumeMac = null;
            phase = Phase.ENCRYPTED;
            dropKeysBothUsed();
            return true;
        }

        /**
         * Channel data is followed by its header alone (channel, length: the windows), unless a hook reads the
         * data of that channel in this direction; every other message is deciphered whole.
         */
        private boolean wholePayloadNeeded(byte[] p, int off, int len) {
            int cmd = p[off] & 0xff;
            if ((cmd != SshConstants.SSH_MSG_CHANNEL_DATA && cmd != SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA) || len < 5) {
                return true;
            }
            int recipient = readInt(p, off + 1);
            Channel ch = fromClient ? byServerId.get(recipient) : byClientId.get(recipient);
            return ch == null || ch.readsData(fromClient);
        }

        /** This direction as it stood at a checkpoint: waiting for the keys of its epoch, fetched again. */
        void resumeFrom(String identification, SshCheckpoint.Direction d) {
            version = identification;
            line = null;
            plain = null;
            phase = Phase.WAITING_KEYS;
            waitingFor = d.keyEpoch();
            newKeysSeen = d.keyEpoch() + 1;
            sequence = d.sequence();
            resumeAt = d.position();
            resumeCipher = d.cipher();
            resumeMac = d.mac();
            plaintextPackets = d.plaintextPackets();
            packetsInEarlierEpochs = d.packets() - d.plaintextPackets();
            wholePacketsEnd = d.wholePacketsEnd();
        }

        SshCheckpoint.Direction checkpoint(byte[] tail) {
            CipherPosition at = decoder.position();
            return new SshCheckpoint.Direction(directionKeys.cipher(), directionKeys.mac(), keyEpoch, at.sequence(),
                    at.blocks(), plaintextPackets, plaintextPackets + packetsInEarlierEpochs + decoder.packetsDecoded(),
                    wholePacketsEnd, tail);
        }

        DirectionModel model() {
            if (decoder == null && resumeAt != null) {
                return new DirectionModel(resumeCipher, resumeMac, waitingFor, resumeAt.sequence(), resumeAt.blocks(),
                        plaintextPackets + packetsInEarlierEpochs, heldBytes(this), null);
            }
            if (decoder == null) {
                return new DirectionModel("none", null, -1, sequence, 0, plaintextPackets, plainLength + heldBytes(this), null);
            }
            CipherPosition at = decoder.position();
            return new DirectionModel(directionKeys.cipher(), directionKeys.mac(), keyEpoch, at.sequence(), at.blocks(),
                    plaintextPackets + packetsInEarlierEpochs + decoder.packetsDecoded(), decoder.bytesBuffered()
                    + heldBytes(this), directionKeys);
        }

        byte[] partialPacket() {
            return decoder == null ? new byte[0] : decoder.bufferedCopy();
        }

        /** This direction as it stood before the packet being followed now (called from within {@link #onPacket}). */
        DirectionModel modelBefore() {
            return new DirectionModel(directionKeys.cipher(), directionKeys.mac(), keyEpoch, positionBefore.sequence(),
                    positionBefore.blocks(), plaintextPackets + packetsInEarlierEpochs + decoder.packetsDecoded(),
                    decoder.bytesBuffered() + heldBytes(this), directionKeys);
        }
    }

    /** Keys both directions have moved past are forgotten. */
    private void dropKeysBothUsed() {
        int oldestInUse = Math.min(c2s.keyEpoch, s2c.keyEpoch);
        keys.keySet().removeIf(ordinal -> ordinal < oldestInUse);
    }

    private static int readInt(byte[] b, int i) {
        return ((b[i] & 0xff) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
    }

    private static String printable(String s) {
        StringBuilder out = new StringBuilder();
        for (char c : s.toCharArray()) {
            out.append(c >= 0x20 && c < 0x7f ? c : '?');
            if (out.length() >= 80) {
                out.append('…');
                break;
            }
        }
        return '"' + out.toString() + '"';
    }
}
