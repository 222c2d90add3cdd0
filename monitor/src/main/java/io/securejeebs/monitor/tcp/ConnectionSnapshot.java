package io.securejeebs.monitor.tcp;

/**
 * Everything needed to rebuild the server's end of one tracked connection, at one instant.
 * Sequence numbers are 32-bit TCP values; the byte arrays are copies owned by the snapshot.
 *
 * @param serverUnackedSeq sequence number of the first server byte the client has not acknowledged (snd_una)
 * @param serverUnacked the server bytes the client has not acknowledged, up to the highest captured (snd_nxt)
 * @param clientUnconsumedSeq sequence number of the first client byte the server application has not consumed
 * @param clientUnconsumed the client bytes from there up to the highest contiguous captured byte (rcv_nxt)
 * @param serverAckSeq the server's latest acknowledgement: client bytes past it still wait for an ACK
 * @param clientWindow the client's receive window in bytes (scaled)
 * @param serverWindow the server's receive window in bytes (scaled)
 * @param timestamps the latest TCP timestamp option values each way (zeros without timestamps)
 * @param resume the application tracker's resume state
 * @param unrecoverableReason null if the connection can be restored from this snapshot
 * @param resuming whether the connection is followed from a checkpoint and has shown no traffic since
 *
 * <p>A snapshot of a connection that cannot be restored still carries both next sequence numbers (with empty
 * queues) when they are known, so that it can be reset ({@link #resettable()}); otherwise its arrays are null.
 */
public record ConnectionSnapshot(
        ConnectionKey key,
        String protocol,
        long openedMicros,
        long lastSeenMicros,
        NegotiatedOptions options,
        int serverUnackedSeq,
        byte[] serverUnacked,
        int clientUnconsumedSeq,
        byte[] clientUnconsumed,
        int serverAckSeq,
        int clientWindow,
        int serverWindow,
        TimestampClocks timestamps,
        long clientBytes,
        long serverBytes,
        Object resume,
        String unrecoverableReason,
        boolean resuming) {

    /** A snapshot of a connection followed since its handshake. */
    public ConnectionSnapshot(ConnectionKey key, String protocol, long openedMicros, long lastSeenMicros,
                              NegotiatedOptions options, int serverUnackedSeq, byte[] serverUnacked,
                              int clientUnconsumedSeq, byte[] clientUnconsumed, int serverAckSeq, int clientWindow,
                              int serverWindow, TimestampClocks timestamps, long clientBytes, long serverBytes,
                              Object resume, String unrecoverableReason) {
        this(key, protocol, openedMicros, lastSeenMicros, options, serverUnackedSeq, serverUnacked,
                clientUnconsumedSeq, clientUnconsumed, serverAckSeq, clientWindow, serverWindow, timestamps,
                clientBytes, serverBytes, resume, unrecoverableReason, false);
    }

    public boolean recoverable() {
        return unrecoverableReason == null;
    }

    /** Whether both sequence numbers are known, so that a socket can be built to reset the connection. */
    public boolean resettable() {
        return serverUnacked != null && clientUnconsumed != null && options != null;
    }

    /** Client bytes the server never acknowledged: the client is still waiting to hear about them. */
    public int clientBytesAwaitingAck() {
        if (clientUnconsumed == null) {
            return 0;
        }
        int end = clientUnconsumedSeq + clientUnconsumed.length;
        return Math.max(0, SeqNum.diff(end, serverAckSeq));
    }

    @Override
    public String toString() { // never the payload
        return "ConnectionSnapshot[" + key + " " + protocol + (resuming ? " resuming" : "")
                + (recoverable()
                    ? " server-unacked=" + serverUnacked.length + "B client-unconsumed=" + clientUnconsumed.length
                        + "B (" + clientBytesAwaitingAck() + "B awaiting ACK)"
                    : " unrecoverable: " + unrecoverableReason)
                + "]";
    }
}
