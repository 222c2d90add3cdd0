package io.securejeebs.monitor.tcp;

/**
 * The TCP state of one connection at a checkpoint: what a restarted appliance needs to follow it on from
 * there, and to restore it at a failover if no segment comes before. Sequence numbers are 32-bit TCP
 * values; stream offsets are 64-bit (0 = the first byte after the SYN). Immutable; arrays are owned.
 *
 * @param clientWindowRaw the client's latest 16-bit window field (unscaled)
 * @param serverWindowRaw the server's latest 16-bit window field (unscaled)
 */
public record TcpCheckpoint(
        ConnectionKey key,
        long openedMicros,
        long lastSeenMicros,
        NegotiatedOptions options,
        Direction clientToServer,
        Direction serverToClient,
        int clientWindowRaw,
        int serverWindowRaw,
        TimestampClocks timestamps) {

    /**
     * One direction.
     *
     * @param isn the initial sequence number of its SYN
     * @param nextSeq the next byte expected: the highest contiguous point captured (isn + 1 + nextOffset)
     * @param nextOffset the same as a stream offset
     * @param ackedSeq the peer's latest acknowledgement of this direction
     * @param retained the bytes a restore needs, up to {@code nextOffset}: for the server's direction those
     *                 the client has not acknowledged, for the client's those the server has not consumed
     */
    public record Direction(int isn, int nextSeq, long nextOffset, int ackedSeq, byte[] retained) {
        public long retainedOffset() {
            return nextOffset - retained.length;
        }

        public long ackedOffset() {
            return nextOffset + SeqNum.diff(ackedSeq, nextSeq);
        }

        /** Why these numbers cannot describe a stream, or null if they can. */
        public String inconsistency(String name) {
            if (nextOffset < 0) {
                return name + ": negative stream offset " + nextOffset;
            }
            if (nextSeq != isn + 1 + (int) nextOffset) {
                return name + ": next seq " + SeqNum.toString(nextSeq) + " is not ISN " + SeqNum.toString(isn)
                        + " + 1 + offset " + nextOffset;
            }
            long acked = ackedOffset();
            if (acked < 0 || acked > nextOffset + 1) {
                return name + ": acknowledgement " + SeqNum.toString(ackedSeq) + " outside the stream";
            }
            if (retained.length > nextOffset) {
                return name + ": " + retained.length + " retained bytes before offset " + nextOffset;
            }
            return null;
        }
    }
}
