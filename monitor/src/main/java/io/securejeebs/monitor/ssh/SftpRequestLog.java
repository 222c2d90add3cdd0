package io.securejeebs.monitor.ssh;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.sshd.sftp.common.SftpConstants;

/**
 * The SFTP part of the replay log (DESIGN §3.2: "except where an application recovery module asks for it:
 * SFTP requests"): follows the channel data of one channel whose subsystem is "sftp", in both directions,
 * through the SFTP framing of draft-ietf-secsh-filexfer (uint32 length, byte type, then for every packet
 * but INIT and VERSION a uint32 request id), and keeps
 * <ul>
 *   <li>the client's INIT version and the server's VERSION (or a version-select the server accepted);</li>
 *   <li>each OPEN (path, flags, attrs) and OPENDIR (path), pending by request id until its reply: a HANDLE
 *       opens the handle, anything else (a STATUS) drops the request;</li>
 *   <li>per open file, the offset just past the latest READ or WRITE request on it;</li>
 *   <li>CLOSE forgets the handle (at the request: its reply is not awaited).</li>
 * </ul>
 *
 * <p>SSH packets split and merge SFTP packets arbitrarily: each direction is reassembled, but only the
 * header fields the log reads are buffered (at most a few hundred bytes, or an OPEN request whole up to
 * {@link #MAX_OPEN_REQUEST}); the bodies of WRITE, DATA, NAME and every other packet are counted and
 * skipped, never kept, so no file content is ever held.
 *
 * <p>It never throws: a stream that is not SFTP (wrong first packet, unknown type, impossible lengths), a
 * malformed request, or more open handles or pending requests than allowed stops it, with the reason, and
 * it holds nothing from then on. The SSH session is as recoverable as before: only this channel's SFTP
 * state is lost. Not thread-safe: the session tracker calls it under its lock.
 */
final class SftpRequestLog {
    /** SFTP handles are at most 256 bytes (draft-ietf-secsh-filexfer-02 §3). */
    static final int MAX_HANDLE = 256;
    /** The largest OPEN or OPENDIR request kept whole (a path and ATTRS); a longer one stops the log. */
    static final int MAX_OPEN_REQUEST = 16 << 10;
    /** A packet length above this is taken for garbage: SFTP servers refuse far smaller packets. */
    static final long MAX_PACKET = 16L << 20;
    private static final String VERSION_SELECT = "version-select";
    /** length, type */
    private static final int HEADER = 5;
    /** length, type, request id */
    private static final int ID_END = HEADER + 4;
    /** length, type, request id, and the length field of the first string (a handle, a name) */
    private static final int FIRST_STRING = ID_END + 4;
    private static final byte[] EMPTY = new byte[0];

    private final int maxHandles;
    private final int maxPending;
    private int clientVersion = -1;
    private int version = -1;
    /** By handle identifier, in the order opened. */
    private final Map<ByteBuffer, SftpHandle> handles = new LinkedHashMap<>();
    private final Map<Integer, SftpModel.PendingRequest> pending = new LinkedHashMap<>();
    private final Framing client = new Framing(true);
    private final Framing server = new Framing(false);
    private String stoppedReason;
    /** The handles or the version changed while the current chunk was followed. */
    private boolean changed;

    /**
     * @param maxHandles the most handles one channel may hold open
     * @param maxPending the most OPEN, OPENDIR and version-select requests that may wait for their reply
     */
    SftpRequestLog(int maxHandles, int maxPending) {
        this.maxHandles = maxHandles;
        this.maxPending = maxPending;
    }

    /**
     * A log that goes on from {@code state} (a checkpoint). A state that does not fit the limits, or is not
     * consistent, gives a stopped log with the reason; never an exception.
     */
    static SftpRequestLog resume(SftpModel state, int maxHandles, int maxPending) {
        SftpRequestLog log = new SftpRequestLog(maxHandles, maxPending);
        if (state.stoppedReason() != null) {
            log.stoppedReason = state.stoppedReason();
            return log;
        }
        try {
            if (state.handles().size() > maxHandles || state.pendingRequests().size() > maxPending) {
                throw new Stop("the checkpoint holds " + state.handles().size() + " open SFTP handles and "
                        + state.pendingRequests().size() + " pending requests (limits " + maxHandles + ", "
                        + maxPending + ")");
            }
            log.clientVersion = state.clientVersion();
            log.version = state.version();
            for (SftpHandle h : state.handles()) {
                if (h.identifier().length > MAX_HANDLE
                        || log.handles.put(ByteBuffer.wrap(h.identifier()), h) != null) {
                    throw new Stop("the checkpoint's SFTP handles are not consistent");
                }
            }
            for (SftpModel.PendingRequest p : state.pendingRequests()) {
                if (log.pending.put(p.requestId(), p) != null) {
                    throw new Stop("the checkpoint names SFTP request " + Integer.toUnsignedString(p.requestId()) + " twice");
                }
            }
            log.client.restore(state.fromClient());
            log.server.restore(state.fromServer());
        } catch (Stop e) {
            log.stop(e.getMessage());
        } catch (RuntimeException e) {
            log.stop("the checkpoint's SFTP state cannot be followed on (" + e.getClass().getSimpleName() + ")");
        }
        return log;
    }

    /** A log of a channel whose SFTP stream cannot be followed, for {@code reason}. */
    static SftpRequestLog stopped(String reason) {
        SftpRequestLog log = new SftpRequestLog(0, 0);
        log.stoppedReason = reason;
        return log;
    }

    /**
     * The client's CHANNEL_DATA.
     *
     * @return whether the open handles or the version changed (a state-setting change: checkpoint it soon)
     */
    boolean fromClient(byte[] data, int off, int len) {
        return follow(client, data, off, len);
    }

    /** The server's CHANNEL_DATA; see {@link #fromClient}. */
    boolean fromServer(byte[] data, int off, int len) {
        return follow(server, data, off, len);
    }

    private boolean follow(Framing f, byte[] data, int off, int len) {
        if (stoppedReason != null || len <= 0) {
            return false;
        }
        changed = false;
        try {
            f.accept(data, off, len);
        } catch (Stop e) {
            stop(e.getMessage());
        } catch (RuntimeException e) { // a bug here must not take the SSH session down with it
            stop("internal error following SFTP: " + e.getClass().getSimpleName());
        }
        return changed;
    }

    private void stop(String reason) {
        stoppedReason = reason;
        handles.clear();
        pending.clear();
        client.reset();
        server.reset();
        changed = true;
    }

    String stoppedReason() {
        return stoppedReason;
    }

    SftpModel model() {
        return new SftpModel(clientVersion, version, List.copyOf(handles.values()), stoppedReason,
                List.copyOf(pending.values()), client.partial(), server.partial());
    }

    // ---------------------------------------------------------------- framing

    /** One direction's SFTP packets: the kept head of the current one, and how much of it came. */
    private final class Framing {
        final boolean fromClient;
        byte[] head = EMPTY;
        int headLength;
        /** Bytes of the current packet that came (kept or skipped). */
        long consumed;
        /** 4 + the length field, once the header is in; -1 before. */
        long total = -1;
        int type;

        Framing(boolean fromClient) {
            this.fromClient = fromClient;
        }

        void accept(byte[] data, int off, int len) throws Stop {
            int end = off + len;
            while (true) {
                int want;
                while ((want = wanted()) > headLength) {
                    if (off == end) {
                        return;
                    }
                    int take = Math.min(want - headLength, end - off);
                    if (head.length < want) {
                        head = Arrays.copyOf(head, Math.max(want, Math.min(2 * head.length + 16, MAX_OPEN_REQUEST + HEADER)));
                    }
                    System.arraycopy(data, off, head, headLength, take);
                    headLength += take;
                    consumed += take;
                    off += take;
                }
                long skip = Math.min(total - consumed, end - off);
                consumed += skip;
                off += (int) skip;
                if (consumed < total) {
                    return; // the rest of this packet's body comes later
                }
                if (fromClient) {
                    onRequest(type, new Fields(head, headLength));
                } else {
                    onReply(type, new Fields(head, headLength));
                }
                reset();
                if (off == end) {
                    return;
                }
            }
        }

        /**
         * How many of the packet's first bytes to keep, given those kept so far: the header, then per type
         * the fields the log reads (some need the length of a string first). Checks the header once it is in.
         */
        private int wanted() throws Stop {
            if (headLength < HEADER) {
                return HEADER;
            }
            if (total < 0) {
                startPacket();
            }
            long want = fromClient ? requestHead() : replyHead();
            return (int) Math.min(want, total);
        }

        private void startPacket() throws Stop {
            long length = uint32(head, 0);
            int t = head[4] & 0xff;
            String who = fromClient ? "client" : "server";
            if (length < 1 || length > MAX_PACKET) {
                throw new Stop("not SFTP: a " + who + " packet length of " + length);
            }
            if (fromClient && (clientVersion < 0) != (t == SftpConstants.SSH_FXP_INIT)) {
                throw new Stop(clientVersion < 0 ? "not SFTP: the client's first packet is of type " + t + ", not INIT"
                        : "the client sent INIT again");
            }
            if (!fromClient && (version < 0) != (t == SftpConstants.SSH_FXP_VERSION)) {
                throw new Stop(version < 0 ? "not SFTP: the server's first packet is of type " + t + ", not VERSION"
                        : "the server sent VERSION again");
            }
            if (t != SftpConstants.SSH_FXP_INIT && t != SftpConstants.SSH_FXP_VERSION && length < ID_END - 4) {
                throw new Stop("a " + who + " packet of type " + t + " without a request id");
            }
            total = 4 + length;
            type = t;
        }

        private long requestHead() throws Stop {
            switch (type) {
                case SftpConstants.SSH_FXP_INIT:
                    return ID_END; // the version
                case SftpConstants.SSH_FXP_OPEN:
                case SftpConstants.SSH_FXP_OPENDIR:
                    if (total > HEADER + MAX_OPEN_REQUEST) {
                        throw new Stop("an OPEN request of " + (total - 4) + " bytes (more than the " + MAX_OPEN_REQUEST
                                + " followed)");
                    }
                    return total;
                case SftpConstants.SSH_FXP_CLOSE:
                case SftpConstants.SSH_FXP_READ:
                    if (total > FIRST_STRING + MAX_HANDLE + 12) {
                        throw new Stop("a " + (type == SftpConstants.SSH_FXP_CLOSE ? "CLOSE" : "READ") + " request of "
                                + (total - 4) + " bytes: its handle would be longer than " + MAX_HANDLE + " bytes");
                    }
                    return total;
                case SftpConstants.SSH_FXP_WRITE: // id, handle, offset, the data's length; never the data
                    return headLength < FIRST_STRING ? FIRST_STRING : FIRST_STRING + handleLength() + 12;
                case SftpConstants.SSH_FXP_EXTENDED: { // id, the extension's name, and a version-select whole
                    if (headLength < FIRST_STRING) {
                        return FIRST_STRING;
                    }
                    long nameLength = uint32(head, ID_END);
                    if (nameLength != VERSION_SELECT.length()) {
                        return FIRST_STRING; // another extension: not followed
                    }
                    if (headLength < FIRST_STRING + nameLength) {
                        return FIRST_STRING + nameLength;
                    }
                    boolean versionSelect = VERSION_SELECT.equals(new String(head, FIRST_STRING, (int) nameLength,
                            StandardCharsets.US_ASCII));
                    return versionSelect && total <= FIRST_STRING + nameLength + 4 + 16 ? total : headLength;
                }
                case SftpConstants.SSH_FXP_LSTAT, SftpConstants.SSH_FXP_FSTAT, SftpConstants.SSH_FXP_SETSTAT,
                     SftpConstants.SSH_FXP_FSETSTAT, SftpConstants.SSH_FXP_READDIR, SftpConstants.SSH_FXP_REMOVE,
                     SftpConstants.SSH_FXP_MKDIR, SftpConstants.SSH_FXP_RMDIR, SftpConstants.SSH_FXP_REALPATH,
                     SftpConstants.SSH_FXP_STAT, SftpConstants.SSH_FXP_RENAME, SftpConstants.SSH_FXP_READLINK,
                     SftpConstants.SSH_FXP_SYMLINK, SftpConstants.SSH_FXP_LINK, SftpConstants.SSH_FXP_BLOCK,
                     SftpConstants.SSH_FXP_UNBLOCK:
                    return HEADER; // no effect on what is kept
                default:
                    throw new Stop("not SFTP: a client packet of type " + type);
            }
        }

        private long replyHead() throws Stop {
            switch (type) {
                case SftpConstants.SSH_FXP_VERSION:
                    return ID_END; // the version; the extensions are skipped
                case SftpConstants.SSH_FXP_HANDLE:
                    if (total > FIRST_STRING + MAX_HANDLE) {
                        throw new Stop("a HANDLE reply of " + (total - 4) + " bytes: its handle would be longer than "
                                + MAX_HANDLE + " bytes");
                    }
                    return total;
                case SftpConstants.SSH_FXP_STATUS:
                    return ID_END + 4; // id, status code; the message is skipped
                case SftpConstants.SSH_FXP_DATA, SftpConstants.SSH_FXP_NAME, SftpConstants.SSH_FXP_ATTRS,
                     SftpConstants.SSH_FXP_EXTENDED_REPLY:
                    return ID_END; // the id: it answers a request, which is no longer pending
                default:
                    throw new Stop("not SFTP: a server packet of type " + type);
            }
        }

        private long handleLength() throws Stop {
            long n = uint32(head, ID_END);
            if (n > MAX_HANDLE) {
                throw new Stop("a WRITE request with a handle of " + n + " bytes (at most " + MAX_HANDLE + ")");
            }
            return n;
        }

        void reset() {
            if (head.length > 1024) {
                head = EMPTY; // an OPEN-sized buffer is not kept for the channel's life
            }
            headLength = 0;
            consumed = 0;
            total = -1;
            type = 0;
        }

        SftpModel.PartialPacket partial() {
            return consumed == 0 ? SftpModel.PartialPacket.NONE
                    : new SftpModel.PartialPacket(Arrays.copyOf(head, headLength), consumed);
        }

        /** Stands where a checkpoint's partial packet says; it must be one this framing could have kept. */
        void restore(SftpModel.PartialPacket p) throws Stop {
            byte[] h = p.head();
            if (h.length > HEADER + MAX_OPEN_REQUEST || p.consumed() < h.length) {
                throw new Stop("the checkpoint's SFTP partial packet is not consistent");
            }
            head = h.clone();
            headLength = h.length;
            consumed = p.consumed();
            if (headLength < HEADER ? consumed != headLength
                    : wanted() < headLength || consumed > total || consumed > headLength && wanted() != headLength) {
                throw new Stop("the checkpoint's SFTP partial packet is not consistent");
            }
        }
    }

    // ---------------------------------------------------------------- packets

    private void onRequest(int type, Fields f) throws Stop {
        switch (type) {
            case SftpConstants.SSH_FXP_INIT -> {
                clientVersion = f.int32("INIT version");
                changed = true;
            }
            case SftpConstants.SSH_FXP_OPEN -> {
                int id = f.int32("OPEN id");
                byte[] path = f.string("OPEN path", MAX_OPEN_REQUEST);
                if (version < 0) {
                    throw new Stop("an OPEN request before the server's VERSION");
                }
                Integer access = version >= 5 ? f.int32("OPEN desired-access") : null;
                int flags = f.int32("OPEN flags");
                byte[] attrs = f.rest();
                expect(id, new SftpModel.PendingRequest(id, new SftpHandle(EMPTY, SftpHandle.Kind.FILE, path, flags,
                        access, attrs, 0), -1));
            }
            case SftpConstants.SSH_FXP_OPENDIR -> {
                int id = f.int32("OPENDIR id");
                byte[] path = f.string("OPENDIR path", MAX_OPEN_REQUEST);
                f.end("OPENDIR");
                expect(id, new SftpModel.PendingRequest(id, new SftpHandle(EMPTY, SftpHandle.Kind.DIRECTORY, path, 0,
                        null, EMPTY, 0), -1));
            }
            case SftpConstants.SSH_FXP_CLOSE -> {
                f.int32("CLOSE id");
                byte[] handle = f.string("CLOSE handle", MAX_HANDLE);
                f.end("CLOSE");
                changed |= handles.remove(ByteBuffer.wrap(handle)) != null;
            }
            case SftpConstants.SSH_FXP_READ -> {
                f.int32("READ id");
                byte[] handle = f.string("READ handle", MAX_HANDLE);
                long offset = f.int64("READ offset");
                long length = f.int32("READ length") & 0xffffffffL;
                f.end("READ");
                moveTo(handle, offset + length);
            }
            case SftpConstants.SSH_FXP_WRITE -> {
                f.int32("WRITE id");
                byte[] handle = f.string("WRITE handle", MAX_HANDLE);
                long offset = f.int64("WRITE offset");
                long length = f.int32("WRITE data length") & 0xffffffffL;
                if (f.length + length != client.total) {
                    throw new Stop("a WRITE request of " + (client.total - 4) + " bytes with " + length
                            + " bytes of data");
                }
                moveTo(handle, offset + length);
            }
            case SftpConstants.SSH_FXP_EXTENDED -> {
                if (f.length < client.total || f.length <= FIRST_STRING + VERSION_SELECT.length()) {
                    return; // another extension (only its name's length was kept), or no version in it
                }
                int id = f.int32("EXTENDED id");
                String name = new String(f.string("extension name", VERSION_SELECT.length()), StandardCharsets.US_ASCII);
                if (!VERSION_SELECT.equals(name)) {
                    return;
                }
                String selected = new String(f.string("version-select version", 16), StandardCharsets.US_ASCII);
                if (f.at == f.length && selected.matches("[0-9]{1,2}")) { // else the server refuses it
                    expect(id, new SftpModel.PendingRequest(id, null, Integer.parseInt(selected)));
                }
            }
            default -> { } // not followed: its head was not even kept
        }
    }

    private void onReply(int type, Fields f) throws Stop {
        switch (type) {
            case SftpConstants.SSH_FXP_VERSION -> {
                version = f.int32("VERSION version");
                changed = true;
            }
            case SftpConstants.SSH_FXP_HANDLE -> {
                int id = f.int32("HANDLE id");
                byte[] handle = f.string("HANDLE handle", MAX_HANDLE);
                f.end("HANDLE");
                SftpModel.PendingRequest request = pending.remove(id);
                if (request == null || request.opening() == null) {
                    return; // a reply to nothing the log follows
                }
                ByteBuffer key = ByteBuffer.wrap(handle);
                if (!handles.containsKey(key) && handles.size() >= maxHandles) {
                    throw new Stop("more than " + maxHandles + " open SFTP handles");
                }
                SftpHandle opening = request.opening();
                handles.put(key, new SftpHandle(handle, opening.kind(), opening.pathBytes(), opening.openFlags(),
                        opening.desiredAccess(), opening.attrs(), 0));
                changed = true;
            }
            case SftpConstants.SSH_FXP_STATUS -> {
                int id = f.int32("STATUS id");
                int code = f.int32("STATUS code");
                SftpModel.PendingRequest request = pending.remove(id);
                if (request != null && request.opening() == null && code == SftpConstants.SSH_FX_OK) {
                    version = request.selectsVersion();
                    changed = true;
                }
            }
            default -> pending.remove(f.int32("reply id")); // an open answered otherwise opened nothing
        }
    }

    private void expect(int id, SftpModel.PendingRequest request) throws Stop {
        if (!pending.containsKey(id) && pending.size() >= maxPending) {
            throw new Stop("more than " + maxPending + " SFTP requests waiting for their reply");
        }
        pending.put(id, request);
    }

    private void moveTo(byte[] handle, long offset) {
        ByteBuffer key = ByteBuffer.wrap(handle);
        SftpHandle h = handles.get(key);
        if (h != null && h.kind() == SftpHandle.Kind.FILE) {
            handles.put(key, h.at(offset));
        }
    }

    private static long uint32(byte[] b, int i) {
        return ((b[i] & 0xffL) << 24) | ((b[i + 1] & 0xff) << 16) | ((b[i + 2] & 0xff) << 8) | (b[i + 3] & 0xff);
    }

    /** The fields of a kept packet head, after its length and type; running past them is a {@link Stop}. */
    private static final class Fields {
        final byte[] b;
        final int length;
        int at = HEADER;

        Fields(byte[] b, int length) {
            this.b = b;
            this.length = length;
        }

        int int32(String field) throws Stop {
            need(field, 4);
            int v = (int) uint32(b, at);
            at += 4;
            return v;
        }

        long int64(String field) throws Stop {
            need(field, 8);
            long v = (uint32(b, at) << 32) | uint32(b, at + 4);
            at += 8;
            return v;
        }

        byte[] string(String field, int max) throws Stop {
            long n = Integer.toUnsignedLong(int32(field + " length"));
            if (n > max) {
                throw new Stop("malformed SFTP packet: " + field + " of " + n + " bytes");
            }
            need(field, (int) n);
            byte[] s = Arrays.copyOfRange(b, at, at + (int) n);
            at += (int) n;
            return s;
        }

        byte[] rest() {
            byte[] r = Arrays.copyOfRange(b, at, length);
            at = length;
            return r;
        }

        void end(String packet) throws Stop {
            if (at != length) {
                throw new Stop("malformed SFTP packet: " + (length - at) + " bytes after the fields of " + packet);
            }
        }

        private void need(String field, int n) throws Stop {
            if (length - at < n) {
                throw new Stop("malformed SFTP packet: " + field + " runs past its end");
            }
        }
    }

    /** Why the log stops following the channel; carries no stack trace. */
    static final class Stop extends Exception {
        Stop(String reason) {
            super(reason, null, false, false);
        }
    }

    @Override
    public String toString() { // counts only
        return "SftpRequestLog[v" + version + ", " + handles.size() + " open, " + pending.size() + " pending"
                + (stoppedReason == null ? "" : ", stopped: " + stoppedReason) + "]";
    }

    /** For tests: the kept bytes of both directions' current packets. */
    int bufferedBytes() {
        return client.headLength + server.headLength;
    }

    /** For tests. */
    List<SftpHandle> openHandles() {
        return new ArrayList<>(handles.values());
    }
}
