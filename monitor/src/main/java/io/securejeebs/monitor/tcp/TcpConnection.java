package io.securejeebs.monitor.tcp;

import io.securejeebs.monitor.app.ApplicationTracker;

/**
 * The TCP state of one connection to a watched service, learnt only from captured segments: both
 * reassembled directions, the handshake's options, both windows, the latest timestamps each way, the
 * server bytes the client has not acknowledged, and the client bytes the server application has not
 * consumed. A connection whose stream cannot be followed exactly becomes unrecoverable, with the reason;
 * it never throws into the capture loop.
 */
public final class TcpConnection {
    public enum State { SYN_SENT, ESTABLISHED, CLOSED, UNRECOVERABLE }

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
    private long lastSeenMicros;
    private int clientWindowRaw;
    private int serverWindowRaw;
    private int clientTsVal;
    private int clientTsEcr;
    private int serverTsVal;
    private int serverTsEcr;
    private long serverTsValMicros;
    private boolean clientFin;
    private boolean serverFin;

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
        }
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
        if (state != State.ESTABLISHED && state != State.SYN_SENT) {
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

    public void onClientSegment(TcpSegment s) {
        lastSeenMicros = s.timestampMicros;
        if (s.has(TcpSegment.RST)) {
            close();
            return;
        }
        if (state == State.UNRECOVERABLE || state == State.CLOSED) {
            return;
        }
        try {
            if (s.payloadTruncated) {
                throw new TrackingException("c->s: a captured segment was cut short by the snaplen");
            }
            clientToServer.onSegment(s.seq, s.has(TcpSegment.SYN), s.has(TcpSegment.FIN),
                    s.frame, s.payloadOffset, s.payloadLength);
            clientFin |= s.has(TcpSegment.FIN);
            if (s.has(TcpSegment.ACK) && serverToClient != null) {
                serverToClient.onAcknowledgement(s.ack);
                serverToClient.releaseBefore(serverToClient.ackedOffset());
            }
            if (!s.has(TcpSegment.SYN)) {
                clientWindowRaw = s.window;
            }
            if (s.hasTimestamp) {
                clientTsVal = s.tsVal;
                clientTsEcr = s.tsEcr;
            }
            afterSegment();
        } catch (TrackingException e) {
            markUnrecoverable(e.getMessage());
        }
    }

    public void onServerSegment(TcpSegment s) {
        lastSeenMicros = s.timestampMicros;
        if (s.has(TcpSegment.RST)) {
            close();
            return;
        }
        if (state == State.UNRECOVERABLE || state == State.CLOSED) {
            return;
        }
        try {
            if (s.payloadTruncated) {
                throw new TrackingException("s->c: a captured segment was cut short by the snaplen");
            }
            if (s.has(TcpSegment.SYN)) {
                if (!s.has(TcpSegment.ACK) || s.ack != clientIsn + 1) {
                    throw new TrackingException("s->c: SYN-ACK does not acknowledge the client's SYN");
                }
                if (serverToClient == null) {
                    serverToClient = new StreamReassembler("s->c", s.seq, app.serverStream());
                    options = NegotiatedOptions.of(synOptionsAsSegment(), s);
                    state = State.ESTABLISHED;
                }
            } else if (serverToClient == null) {
                throw new TrackingException("s->c: data before the SYN-ACK was captured");
            }
            // The acknowledgement first: the server received those client bytes before it wrote this payload,
            // and a tracker that follows the server's view must see them before the server's answer.
            if (s.has(TcpSegment.ACK)) {
                clientToServer.onAcknowledgement(s.ack);
                app.onClientBytesAcknowledged(clientToServer.ackedOffset());
            }
            serverToClient.onSegment(s.seq, s.has(TcpSegment.SYN), s.has(TcpSegment.FIN),
                    s.frame, s.payloadOffset, s.payloadLength);
            serverFin |= s.has(TcpSegment.FIN);
            if (!s.has(TcpSegment.SYN)) {
                serverWindowRaw = s.window;
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

    /** The restorable state now. A snapshot of a connection that cannot be restored carries the reason. */
    public ConnectionSnapshot snapshot() {
        String reason = switch (state) {
            case UNRECOVERABLE -> unrecoverableReason;
            case CLOSED -> "connection closed";
            case SYN_SENT -> "handshake not complete";
            case ESTABLISHED -> {
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
            return new ConnectionSnapshot(key, app.protocol(), openedMicros, lastSeenMicros, options,
                    0, null, 0, null, 0, 0, 0, new TimestampClocks(clientTsVal, clientTsEcr, serverTsVal, serverTsEcr,
                    serverTsValMicros), clientBytes, serverBytes, null, reason);
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
                clientBytes, serverBytes, app.resumeState(), null);
    }
}
