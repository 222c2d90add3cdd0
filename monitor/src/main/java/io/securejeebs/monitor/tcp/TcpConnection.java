package io.securejeebs.monitor.tcp;

import io.securejeebs.monitor.app.ApplicationCheckpoint;
import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.app.CheckpointUnavailableException;

/**
 * The TCP state of one connection to a watched service, learnt only from captured segments: both
 * reassembled directions, the handshake's options, both windows, the latest timestamps each way, the
 * server bytes the client has not acknowledged, and the client bytes the server application has not
 * consumed. A connection whose stream cannot be followed exactly becomes unrecoverable, with the reason;
 * it never throws into the capture loop.
 *
 * <p>A restarted appliance tracks the connections it checkpointed again, {@link State#RESUMING}: their state
 * is the checkpoint's, and the first segments of each direction must continue exactly where it left off,
 * or something was missed while the appliance was down and the connection is unrecoverable.
 */
public final class TcpConnection {
    /**
     * SYN_SENT until the SYN-ACK; RESUMING (from a checkpoint) until both directions have shown a segment
     * that continues it; then ESTABLISHED until CLOSED (FIN both ways, or RST), unless UNRECOVERABLE first.
     */
    public enum State { SYN_SENT, ESTABLISHED, RESUMING, CLOSED, UNRECOVERABLE }

    private final ConnectionKey key;
    private final ApplicationTracker app;
    private final long memoryLimit;
    private final long openedMicros;
    private final TcpSegmentOptions clientSynOptions;
    private final int clientIsn;

    private State state = State.SYN_SENT;
    private String unrecoverableReason;
    private StreamReassembler clientToServer;
    private StreamReassembler serverToClient;
    private NegotiatedOptions options;
    /** When the client bytes still waiting for the server's ACK were captured (see {@link #settleClientBytesBefore}). */
    private final ClientArrivals clientArrivals = new ClientArrivals();
    private long lastSeenMicros;
    private int clientWindowRaw;
    private int serverWindowRaw;
    private int clientTsVal;
    private int clientTsEcr;
    private int serverTsVal;
    private int serverTsEcr;
    private long serverTsValMicros;
    /** Capture time of {@code clientTsVal}. */
    private long clientTsValMicros;
    /**
     * Each side sent a segment beyond the tracked windows that carried this connection's own timestamps: proof
     * that the stream moved on past what the capture saw, not a spoof ({@link #lostTrack}).
     */
    private boolean clientBeyondWithOwnClock;
    private boolean serverBeyondWithOwnClock;
    private boolean clientFin;
    private boolean serverFin;
    /** The client's receive window (for the server's bytes) and the server's, as each last advertised it. */
    private final ReceiveWindow clientWindow = new ReceiveWindow();
    private final ReceiveWindow serverWindow = new ReceiveWindow();
    /** RESUMING: which directions have shown a segment that continues the checkpoint. */
    private boolean resumedClient;
    private boolean resumedServer;

    // Checkpoint bookkeeping, under the connection table's lock.
    /** Bumped at every captured segment and asynchronous update: the state may have changed. */
    long changes = 1;
    /** {@link #changes} as the last checkpoint taken saw it. */
    long checkpointedChanges;
    /** Whether the database may hold a checkpoint row of this 4-tuple (a later state must replace or delete it). */
    boolean checkpointStored;
    /** Whether that row already says why the connection can no longer be resumed (it is not written again). */
    boolean checkpointReasonStored;

    /** Options of a SYN, copied out of the reused {@link TcpSegment}. */
    private record TcpSegmentOptions(int mss, int windowScale, boolean sackPermitted, boolean timestamps) {
        static TcpSegmentOptions of(TcpSegment s) {
            return new TcpSegmentOptions(s.mss, s.windowScale, s.sackPermitted, s.hasTimestamp);
        }
    }

    /** Starts tracking at the client's SYN. */
    public TcpConnection(ConnectionKey key, TcpSegment syn, ApplicationTracker app, long memoryLimit) {
        this.key = key;
        this.app = app;
        this.memoryLimit = memoryLimit;
        this.openedMicros = syn.timestampMicros;
        this.lastSeenMicros = syn.timestampMicros;
        this.clientIsn = syn.seq;
        this.clientSynOptions = TcpSegmentOptions.of(syn);
        this.clientToServer = new StreamReassembler("c->s", syn.seq, app.clientStream());
        this.clientWindowRaw = syn.window;
        if (syn.hasTimestamp) {
            clientTsVal = syn.tsVal;
            clientTsValMicros = syn.timestampMicros;
        }
    }

    private TcpConnection(ConnectionKey key, ApplicationTracker app, long memoryLimit, long openedMicros,
                          long lastSeenMicros, int clientIsn) {
        this.key = key;
        this.app = app;
        this.memoryLimit = memoryLimit;
        this.openedMicros = openedMicros;
        this.lastSeenMicros = lastSeenMicros;
        this.clientIsn = clientIsn;
        this.clientSynOptions = null; // the handshake is over: its options are in NegotiatedOptions
    }

    /**
     * A connection followed on from its checkpoint, {@link State#RESUMING} until its next segments show
     * that nothing was missed.
     */
    static TcpConnection resume(TcpCheckpoint cp, ApplicationTracker app, long memoryLimit) {
        TcpConnection c = new TcpConnection(cp.key(), app, memoryLimit, cp.openedMicros(), cp.lastSeenMicros(),
                cp.clientToServer().isn());
        c.state = State.RESUMING;
        c.options = cp.options();
        c.clientToServer = StreamReassembler.resume("c->s", cp.clientToServer(), app.clientStream());
        c.serverToClient = StreamReassembler.resume("s->c", cp.serverToClient(), app.serverStream());
        c.clientWindowRaw = cp.clientWindowRaw();
        c.serverWindowRaw = cp.serverWindowRaw();
        c.clientWindow.advertised(cp.serverToClient().ackedSeq(), cp.clientWindowRaw(), cp.options().clientWindowScale());
        c.serverWindow.advertised(cp.clientToServer().ackedSeq(), cp.serverWindowRaw(), cp.options().serverWindowScale());
        TimestampClocks ts = cp.timestamps();
        c.clientTsVal = ts.clientTsVal();
        c.clientTsEcr = ts.clientTsEcr();
        c.serverTsVal = ts.serverTsVal();
        c.serverTsEcr = ts.serverTsEcr();
        c.serverTsValMicros = ts.serverTsValMicros();
        c.clientTsValMicros = cp.lastSeenMicros();
        c.changes = 0; // the stored checkpoint is this very state
        c.checkpointStored = true;
        return c;
    }

    /** A connection known only to be unrecoverable (e.g. its checkpoint could not be read). */
    static TcpConnection unrecoverable(ConnectionKey key, ApplicationTracker app, String reason, long nowMicros) {
        TcpConnection c = new TcpConnection(key, app, 0, nowMicros, nowMicros, 0);
        c.markUnrecoverable(reason);
        return c;
    }

    /** A connection seen mid-stream: its handshake options are unknown, so it can never be restored. */
    public static TcpConnection seenMidStream(ConnectionKey key, TcpSegment s, ApplicationTracker app) {
        TcpConnection c = new TcpConnection(key, s, app, 0);
        c.markUnrecoverable("handshake not captured (the connection predates the monitor): "
                + "window scale and options unknown");
        return c;
    }

    public ConnectionKey key() {
        return key;
    }

    public State state() {
        return state;
    }

    public ApplicationTracker application() {
        return app;
    }

    /** Applies a change the tracker makes off the capture path (see {@link io.securejeebs.monitor.app.ApplicationUpdates}). */
    void onApplicationUpdate(io.securejeebs.monitor.app.ApplicationUpdates.ApplicationUpdate update) {
        if (state != State.ESTABLISHED && state != State.SYN_SENT && state != State.RESUMING) {
            return;
        }
        try {
            update.apply(); // consumed client bytes are released at the next segment, outside any delivery
        } catch (TrackingException e) {
            markUnrecoverable(e.getMessage());
        }
    }

    public int clientIsn() {
        return clientIsn;
    }

    public String unrecoverableReason() {
        return unrecoverableReason;
    }

    public long lastSeenMicros() {
        return lastSeenMicros;
    }

    public long openedMicros() {
        return openedMicros;
    }

    /** Bytes of payload memory this connection holds now. */
    public long bytesHeld() {
        return (clientToServer == null ? 0 : clientToServer.capacityHeld())
                + (serverToClient == null ? 0 : serverToClient.capacityHeld());
    }

    /**
     * Follows one segment from the client.
     *
     * @return null if the segment was followed, else why it was ignored: a segment the server's kernel would
     *         not act on either (RFC 793 acceptability, RFC 5961), e.g. spoofed by someone who does not know
     *         the connection's sequence numbers
     */
    public String onClientSegment(TcpSegment s) {
        if (state == State.UNRECOVERABLE || state == State.CLOSED) {
            lastSeenMicros = s.timestampMicros;
            if (s.has(TcpSegment.RST)) {
                close(); // nothing left to protect: any RST ends what is shown
            }
            return null;
        }
        String ignored = unacceptable(s, true);
        if (ignored != null) {
            lostTrack(s, true, ignored);
            return ignored;
        }
        lastSeenMicros = s.timestampMicros;
        if (s.has(TcpSegment.RST)) {
            close();
            return null;
        }
        if (state == State.RESUMING && !continuesCheckpoint(s, true)) {
            return null;
        }
        try {
            if (s.payloadTruncated) {
                throw new TrackingException("c->s: a captured segment was cut short by the snaplen");
            }
            clientToServer.onSegment(s.seq, s.has(TcpSegment.SYN), s.has(TcpSegment.FIN),
                    s.frame, s.payloadOffset, s.payloadLength);
            if (s.payloadLength > 0) {
                clientArrivals.arrived(clientToServer.nextOffset(), s.timestampMicros);
            }
            clientFin |= s.has(TcpSegment.FIN);
            if (s.has(TcpSegment.ACK) && serverToClient != null) {
                serverToClient.onAcknowledgement(s.ack);
                serverToClient.releaseBefore(serverToClient.ackedOffset());
            }
            if (!s.has(TcpSegment.SYN)) {
                clientWindowRaw = s.window;
                if (s.has(TcpSegment.ACK) && options != null) {
                    clientWindow.advertised(s.ack, s.window, options.clientWindowScale());
                }
            }
            if (s.hasTimestamp) {
                clientTsVal = s.tsVal;
                clientTsEcr = s.tsEcr;
                clientTsValMicros = s.timestampMicros;
            }
            afterSegment();
        } catch (TrackingException e) {
            markUnrecoverable(e.getMessage());
        }
        return null;
    }

    /** Follows one segment from the server; the result as for {@link #onClientSegment}. */
    public String onServerSegment(TcpSegment s) {
        if (state == State.UNRECOVERABLE || state == State.CLOSED) {
            lastSeenMicros = s.timestampMicros;
            if (s.has(TcpSegment.RST)) {
                close();
            }
            return null;
        }
        String ignored = unacceptable(s, false);
        if (ignored != null) {
            lostTrack(s, false, ignored);
            return ignored;
        }
        lastSeenMicros = s.timestampMicros;
        if (s.has(TcpSegment.RST)) {
            close();
            return null;
        }
        if (state == State.RESUMING && !continuesCheckpoint(s, false)) {
            return null;
        }
        try {
            if (s.payloadTruncated) {
                throw new TrackingException("s->c: a captured segment was cut short by the snaplen");
            }
            if (s.has(TcpSegment.SYN)) { // the SYN-ACK (unacceptable() let only the one of this handshake through)
                serverToClient = new StreamReassembler("s->c", s.seq, app.serverStream());
                options = NegotiatedOptions.of(synOptionsAsSegment(), s);
                state = State.ESTABLISHED;
                serverWindow.advertised(s.ack, s.window, 0); // a SYN's window is never scaled
            }
            // The acknowledgement first: the server received those client bytes before it wrote this payload,
            // and a tracker that follows the server's view must see them before the server's answer.
            if (s.has(TcpSegment.ACK)) {
                clientToServer.onAcknowledgement(s.ack);
                app.onClientBytesAcknowledged(clientToServer.ackedOffset());
                clientArrivals.acknowledged(clientToServer.ackedOffset());
            }
            serverToClient.onSegment(s.seq, s.has(TcpSegment.SYN), s.has(TcpSegment.FIN),
                    s.frame, s.payloadOffset, s.payloadLength);
            serverFin |= s.has(TcpSegment.FIN);
            if (!s.has(TcpSegment.SYN)) {
                serverWindowRaw = s.window;
                if (s.has(TcpSegment.ACK)) {
                    serverWindow.advertised(s.ack, s.window, options.serverWindowScale());
                }
            }
            if (s.hasTimestamp) {
                serverTsVal = s.tsVal;
                serverTsEcr = s.tsEcr;
                serverTsValMicros = s.timestampMicros;
            }
            afterSegment();
        } catch (TrackingException e) {
            markUnrecoverable(e.getMessage());
        }
        return null;
    }

    /**
     * Why the receiver's kernel would ignore this segment (so must the tracker, before any state changes), or
     * null if it would act on it. As Linux's tcp_validate_incoming and tcp_ack check, against what the capture
     * shows of the receiver: its next expected byte lies between its latest acknowledgement ({@code rcv_wup})
     * and the highest contiguous byte captured, and its window's right edge is the highest it advertised.
     * <ul>
     * <li>An RST counts only at exactly the receiver's next expected byte (RFC 5961 §3: one elsewhere in the
     *     window draws a challenge ACK and is dropped).</li>
     * <li>A SYN on a synchronized connection is dropped (RFC 5961 §4: challenge ACK); so is a segment without
     *     ACK.</li>
     * <li>Data or a FIN entirely before the receive window, or starting beyond its right edge, is dropped
     *     (RFC 793 §3.3 acceptability).</li>
     * <li>An acknowledgement of data the receiver never sent, or older than the sender's largest window,
     *     drops the segment (RFC 5961 §5). Data the capture did not see but the receiver may well have sent
     *     (an acknowledgement up to the right edge of the window the sender offered it) is a capture loss, and
     *     is left to the reassembler to report.</li>
     * </ul>
     */
    private String unacceptable(TcpSegment s, boolean fromClient) {
        if (state == State.SYN_SENT) {
            if (fromClient) {
                return s.has(TcpSegment.SYN) || s.has(TcpSegment.RST)
                        ? "c->s: a SYN or RST during the handshake" : null;
            }
            if (!s.has(TcpSegment.SYN)) {
                return "s->c: a segment before the SYN-ACK";
            }
            return s.has(TcpSegment.ACK) && s.ack == clientIsn + 1 && !s.has(TcpSegment.RST)
                    ? null : "s->c: a SYN-ACK that does not acknowledge the client's SYN";
        }
        String name = fromClient ? "c->s" : "s->c";
        StreamReassembler in = fromClient ? clientToServer : serverToClient;
        StreamReassembler out = fromClient ? serverToClient : clientToServer;
        ReceiveWindow receiver = fromClient ? serverWindow : clientWindow;
        ReceiveWindow sender = fromClient ? clientWindow : serverWindow;
        int rcvWup = in.seqOf(in.ackedOffset());
        int rcvNxt = in.nextSeq();
        if (s.has(TcpSegment.RST)) {
            return s.seq == rcvWup || s.seq == rcvNxt ? null
                    : name + ": an RST at " + SeqNum.toString(s.seq) + ", not at the receiver's next byte";
        }
        if (s.has(TcpSegment.SYN)) {
            return name + ": a SYN on a synchronized connection";
        }
        if (!s.has(TcpSegment.ACK)) {
            return name + ": a segment without ACK";
        }
        int end = s.seq + s.payloadLength + (s.has(TcpSegment.FIN) ? 1 : 0);
        if (SeqNum.before(end, rcvWup)) {
            return name + ": a segment before the receive window (seq " + SeqNum.toString(s.seq) + ", "
                    + s.payloadLength + " byte(s), the receiver acknowledged up to " + SeqNum.toString(rcvWup) + ")";
        }
        if (receiver.known && SeqNum.after(s.seq, receiver.rightEdge)) {
            return name + ": a segment at " + SeqNum.toString(s.seq) + ", " + BEYOND_WINDOW + " (right edge "
                    + SeqNum.toString(receiver.rightEdge) + ")";
        }
        int sndNxt = out.seqOf(out.nextOffset() + (out.finSeen() ? 1 : 0));
        if (SeqNum.after(s.ack, sndNxt) && (!sender.known || SeqNum.after(s.ack, sender.rightEdge + 1))) {
            return name + ": an acknowledgement of " + SeqNum.toString(s.ack) + ", " + NEVER_SENT + " (sent up to "
                    + SeqNum.toString(sndNxt) + ")";
        }
        int sndUna = out.seqOf(out.ackedOffset());
        if (sender.maxWindow > 0 && SeqNum.before(s.ack, sndUna - sender.maxWindow)) {
            return name + ": an acknowledgement older than the largest window";
        }
        return null;
    }

    /** Why {@link #unacceptable} refused a segment that lies beyond what is tracked (not before it, not an RST or SYN). */
    private static final String BEYOND_WINDOW = "beyond the receive window";
    private static final String NEVER_SENT = "data never sent";
    /** How far a TCP timestamp clock may run ahead of the capture clock: Linux ticks at 1 kHz. */
    private static final long TS_SLACK_TICKS = 10_000;

    /**
     * A capture loss larger than a window leaves the tracked windows behind: every later segment of the
     * connection lies beyond them, and would be ignored for ever while the connection looked recoverable. Such
     * segments carry the connection's own TCP timestamps (RFC 7323), which a blind spoofer does not know: the
     * sender's TSval where its clock has run since its last tracked segment, and a TSecr at or after the one
     * it echoed last. Once both sides have sent one, the connection is unrecoverable. Without timestamps on
     * the connection, nothing tells the two apart, and the segments stay ignored.
     */
    private void lostTrack(TcpSegment s, boolean fromClient, String ignored) {
        if (!(ignored.contains(BEYOND_WINDOW) || ignored.contains(NEVER_SENT)) || state != State.ESTABLISHED
                || options == null || !options.timestamps() || !s.hasTimestamp) {
            return;
        }
        int lastTsVal = fromClient ? clientTsVal : serverTsVal;
        long lastTsValMicros = fromClient ? clientTsValMicros : serverTsValMicros;
        int lastTsEcr = fromClient ? clientTsEcr : serverTsEcr;
        int peerTsVal = fromClient ? serverTsVal : clientTsVal;
        long peerTsValMicros = fromClient ? serverTsValMicros : clientTsValMicros;
        long ran = Math.max(0, s.timestampMicros - lastTsValMicros) / 1000 + TS_SLACK_TICKS;
        long peerRan = Math.max(0, s.timestampMicros - peerTsValMicros) / 1000 + TS_SLACK_TICKS;
        boolean ownClock = SeqNum.afterOrEqual(s.tsVal, lastTsVal) && SeqNum.diff(s.tsVal, lastTsVal) <= ran
                && SeqNum.afterOrEqual(s.tsEcr, lastTsEcr) && SeqNum.diff(s.tsEcr, peerTsVal) <= peerRan;
        if (!ownClock) {
            return;
        }
        if (fromClient) {
            clientBeyondWithOwnClock = true;
        } else {
            serverBeyondWithOwnClock = true;
        }
        if (clientBeyondWithOwnClock && serverBeyondWithOwnClock) {
            markUnrecoverable("capture lost track: both sides sent segments beyond the tracked windows, with the"
                    + " connection's own timestamps (the capture missed more than a window; last: " + ignored + ")");
        }
    }

    /**
     * What one side advertised of its receive window: the right edge (the highest sequence number it accepts;
     * Linux never moves it back) and the largest window (scaled) it offered.
     */
    private static final class ReceiveWindow {
        boolean known;
        int rightEdge;
        int maxWindow;

        void advertised(int ack, int rawWindow, int scale) {
            int window = (int) Math.min(Integer.MAX_VALUE, (long) (rawWindow & 0xffff) << scale);
            int edge = ack + window;
            if (!known || SeqNum.after(edge, rightEdge)) {
                rightEdge = edge;
            }
            known = true;
            maxWindow = Math.max(maxWindow, window);
        }
    }

    /**
     * Whether a segment of a connection resumed from its checkpoint continues it: its sequence number not
     * past the next byte the checkpoint expects in its direction, and its acknowledgement not past the next
     * byte of the other. Anything else means that bytes moved while the appliance was down, and were not
     * seen: the connection becomes unrecoverable. Once both directions have continued it, the connection is
     * ESTABLISHED again (a hole later is caught as it is on any connection). Only segments its kernel would
     * accept get here: one beyond the checkpoint's windows is ignored, as on any connection.
     */
    private boolean continuesCheckpoint(TcpSegment s, boolean fromClient) {
        StreamReassembler mine = fromClient ? clientToServer : serverToClient;
        StreamReassembler other = fromClient ? serverToClient : clientToServer;
        String name = fromClient ? "c->s" : "s->c";
        if (SeqNum.after(s.seq, mine.nextSeq())) {
            markUnrecoverable("traffic while the appliance was down (" + name + " expected seq "
                    + SeqNum.toString(mine.nextSeq()) + ", saw " + SeqNum.toString(s.seq) + ")");
            return false;
        }
        if (s.has(TcpSegment.ACK) && SeqNum.after(s.ack, other.nextSeq())) {
            markUnrecoverable("traffic while the appliance was down (" + (fromClient ? "s->c" : "c->s")
                    + " expected seq " + SeqNum.toString(other.nextSeq()) + ", saw it acknowledged up to "
                    + SeqNum.toString(s.ack) + ")");
            return false;
        }
        if (fromClient) {
            resumedClient = true;
        } else {
            resumedServer = true;
        }
        if (resumedClient && resumedServer) {
            state = State.ESTABLISHED;
        }
        return true;
    }

    private TcpSegment synOptionsAsSegment() {
        TcpSegment syn = new TcpSegment();
        syn.mss = clientSynOptions.mss();
        syn.windowScale = clientSynOptions.windowScale();
        syn.sackPermitted = clientSynOptions.sackPermitted();
        syn.hasTimestamp = clientSynOptions.timestamps();
        return syn;
    }

    private void afterSegment() throws TrackingException {
        clientToServer.releaseBefore(app.clientConsumedOffset());
        if (clientFin && serverFin && serverToClient != null
                && clientToServer.ackedOffset() > clientToServer.nextOffset() - 1
                && serverToClient.ackedOffset() > serverToClient.nextOffset() - 1) {
            close();
            return;
        }
        long held = bytesHeld();
        if (held > memoryLimit) {
            throw new TrackingException("buffered " + held + " bytes, over the per-connection limit of "
                    + memoryLimit + " (monitor.max-buffer-per-connection)");
        }
    }

    private void close() {
        state = State.CLOSED;
        discardBuffers();
    }

    public void markUnrecoverable(String reason) {
        if (state == State.UNRECOVERABLE) {
            return;
        }
        state = State.UNRECOVERABLE;
        unrecoverableReason = reason;
        discardBuffers();
    }

    private void discardBuffers() {
        if (clientToServer != null) {
            clientToServer.discardAll();
        }
        if (serverToClient != null) {
            serverToClient.discardAll();
        }
    }

    /**
     * At a failover: the client bytes that the dead server never acknowledged but that were captured at or before
     * {@code deadAfterMicros}, the last moment it may still have been alive, may have been read by it (its
     * delayed ACK died with it). The application tracker decides what that means for its protocol (SSH: those
     * whole packets are taken as consumed, and their input is shown to the user instead of run again). Bytes
     * captured later reached a dead host, and stay for the restored socket's receive queue.
     */
    void settleClientBytesBefore(long deadAfterMicros) {
        if (state != State.ESTABLISHED || clientToServer == null) {
            return;
        }
        long end = clientArrivals.capturedBy(deadAfterMicros);
        if (end > clientToServer.ackedOffset()) {
            try {
                app.onClientBytesPossiblyRead(end);
            } catch (TrackingException e) {
                markUnrecoverable(e.getMessage());
            }
        }
    }

    /** The restorable state now. A snapshot of a connection that cannot be restored carries the reason. */
    public ConnectionSnapshot snapshot() {
        String reason = switch (state) {
            case UNRECOVERABLE -> unrecoverableReason;
            case CLOSED -> "connection closed";
            case SYN_SENT -> "handshake not complete";
            case ESTABLISHED, RESUMING -> {
                if (serverToClient.hasOutOfOrderData()) {
                    yield "s->c: a hole in the captured server data the client has not acknowledged";
                }
                if (clientFin || serverFin) {
                    yield "connection half-closed";
                }
                yield app.unrecoverableReason();
            }
        };
        long clientBytes = clientToServer == null ? 0 : clientToServer.nextOffset();
        long serverBytes = serverToClient == null ? 0 : serverToClient.nextOffset();
        if (reason != null) {
            // Not restorable, but when both sequence numbers are known the connection can still be reset (empty
            // queues at the next byte each way): its client then learns of it now instead of hanging.
            boolean resettable = state != State.SYN_SENT && state != State.CLOSED
                    && clientToServer != null && serverToClient != null && options != null;
            byte[] none = resettable ? new byte[0] : null;
            return new ConnectionSnapshot(key, app.protocol(), openedMicros, lastSeenMicros, options,
                    resettable ? serverToClient.nextSeq() : 0, none, resettable ? clientToServer.nextSeq() : 0, none,
                    0, resettable ? clientWindowRaw << options.clientWindowScale() : 0,
                    resettable ? serverWindowRaw << options.serverWindowScale() : 0,
                    new TimestampClocks(clientTsVal, clientTsEcr, serverTsVal, serverTsEcr,
                    serverTsValMicros), clientBytes, serverBytes, null, reason, state == State.RESUMING);
        }
        long unacked = serverToClient.ackedOffset();
        long consumed = Math.max(app.clientConsumedOffset(), clientToServer.retainedFrom());
        int clientScale = options.clientWindowScale();
        int serverScale = options.serverWindowScale();
        return new ConnectionSnapshot(key, app.protocol(), openedMicros, lastSeenMicros, options,
                serverToClient.seqOf(unacked), serverToClient.copyFrom(unacked),
                clientToServer.seqOf(consumed), clientToServer.copyFrom(consumed),
                clientToServer.seqOf(clientToServer.ackedOffset()),
                clientWindowRaw << clientScale, serverWindowRaw << serverScale,
                new TimestampClocks(clientTsVal, clientTsEcr, serverTsVal, serverTsEcr, serverTsValMicros),
                clientBytes, serverBytes, app.resumeState(), null, state == State.RESUMING);
    }

    /**
     * The checkpoint of this connection now: both directions up to the highest contiguous byte captured,
     * with the bytes a restore needs, and the application tracker's state.
     *
     * @throws CheckpointUnavailableException when it cannot be taken now (a handshake or a hole not yet
     *         filled), or ever (closed, half-closed, unrecoverable)
     */
    ConnectionCheckpoint checkpoint() throws CheckpointUnavailableException {
        switch (state) {
            case SYN_SENT -> throw new CheckpointUnavailableException("handshake not complete", false);
            case CLOSED -> throw new CheckpointUnavailableException("connection closed", true);
            case UNRECOVERABLE -> throw new CheckpointUnavailableException(unrecoverableReason, true);
            default -> { }
        }
        if (clientFin || serverFin) {
            throw new CheckpointUnavailableException("connection half-closed", true);
        }
        if (clientToServer.hasOutOfOrderData() || serverToClient.hasOutOfOrderData()) {
            throw new CheckpointUnavailableException("a hole in the captured stream, not yet filled", false);
        }
        ApplicationCheckpoint application = app.checkpoint();
        long consumed = Math.max(app.clientConsumedOffset(), clientToServer.retainedFrom());
        long unacked = Math.max(serverToClient.ackedOffset(), serverToClient.retainedFrom());
        return new ConnectionCheckpoint(new TcpCheckpoint(key, openedMicros, lastSeenMicros, options,
                direction(clientToServer, consumed), direction(serverToClient, unacked), clientWindowRaw,
                serverWindowRaw, new TimestampClocks(clientTsVal, clientTsEcr, serverTsVal, serverTsEcr,
                serverTsValMicros)), application);
    }

    private static TcpCheckpoint.Direction direction(StreamReassembler r, long retainFrom) {
        return new TcpCheckpoint.Direction(r.isn(), r.nextSeq(), r.nextOffset(), r.seqOf(r.ackedOffset()),
                r.copyFrom(retainFrom));
    }
}
