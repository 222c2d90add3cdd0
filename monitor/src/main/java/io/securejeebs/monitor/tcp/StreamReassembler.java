package io.securejeebs.monitor.tcp;

import java.util.Map;
import java.util.TreeMap;

/**
 * Reassembles one direction of a TCP connection from captured segments: 32-bit sequence wrap,
 * retransmissions, overlaps and out-of-order arrival. In-order bytes go to a {@link StreamSink} exactly
 * once, and are also retained from a movable release point, so the unacknowledged or unconsumed tail
 * can be handed to a restored socket.
 *
 * <p>Positions are kept as 64-bit stream offsets (0 = first byte after the SYN); a 32-bit sequence number
 * is mapped to an offset relative to the next expected byte, which is exact while segments stay within
 * 2^31 of it, as TCP guarantees.
 */
public final class StreamReassembler {
    private final String direction;
    private final int isn;
    private final StreamSink sink;
    private int nextSeq;
    private long nextOffset;
    private final RetainedBytes retained;
    private final TreeMap<Long, byte[]> outOfOrder = new TreeMap<>();
    private long outOfOrderBytes;
    private long finOffset = -1;
    private long ackedOffset;
    private long retransmittedBytes;

    /**
     * @param direction "c->s" or "s->c", used in reasons
     * @param isn the initial sequence number from this direction's SYN
     */
    public StreamReassembler(String direction, int isn, StreamSink sink) {
        this.direction = direction;
        this.isn = isn;
        this.sink = sink;
        this.nextSeq = isn + 1;
        this.retained = new RetainedBytes(0);
    }

    /** A direction continued from its checkpoint (see {@link TcpCheckpoint.Direction}). */
    static StreamReassembler resume(String direction, TcpCheckpoint.Direction d, StreamSink sink) {
        StreamReassembler r = new StreamReassembler(direction, d.isn(), sink, d.nextSeq(), d.nextOffset(),
                d.retainedOffset());
        r.retained.append(d.retained(), 0, d.retained().length);
        r.ackedOffset = Math.max(0, Math.min(d.ackedOffset(), d.nextOffset()));
        return r;
    }

    private StreamReassembler(String direction, int isn, StreamSink sink, int nextSeq, long nextOffset,
                              long retainedOffset) {
        this.direction = direction;
        this.isn = isn;
        this.sink = sink;
        this.nextSeq = nextSeq;
        this.nextOffset = nextOffset;
        this.retained = new RetainedBytes(retainedOffset);
    }

    public int isn() {
        return isn;
    }

    /** Sequence number of the next in-order byte: the highest contiguous point captured. */
    public int nextSeq() {
        return nextSeq;
    }

    public long nextOffset() {
        return nextOffset;
    }

    public long ackedOffset() {
        return ackedOffset;
    }

    public boolean finSeen() {
        return finOffset >= 0 && finOffset == nextOffset;
    }

    public long retransmittedBytes() {
        return retransmittedBytes;
    }

    public boolean hasOutOfOrderData() {
        return !outOfOrder.isEmpty();
    }

    /** Bytes held in memory by this direction: retained tail plus out-of-order segments. */
    public long bytesHeld() {
        return retained.length() + outOfOrderBytes;
    }

    public long capacityHeld() {
        return retained.capacity() + outOfOrderBytes;
    }

    public long retainedFrom() {
        return retained.startOffset();
    }

    public long offsetOf(int seq) {
        return nextOffset + SeqNum.diff(seq, nextSeq);
    }

    public int seqOf(long offset) {
        return nextSeq + (int) (offset - nextOffset);
    }

    /**
     * Feeds one segment of this direction.
     *
     * @param seq the segment's sequence number; if {@code syn}, the data starts at seq + 1
     */
    public void onSegment(int seq, boolean syn, boolean fin, byte[] data, int off, int len) throws TrackingException {
        if (syn) {
            if (seq != isn) {
                throw new TrackingException(direction + ": SYN with a different ISN " + SeqNum.toString(seq)
                        + " inside an established connection (ISN " + SeqNum.toString(isn) + ")");
            }
            seq = seq + 1;
        }
        long start = offsetOf(seq);
        if (start < 0) {
            // Only a SYN retransmission can reach back before offset 0.
            int skip = (int) -start;
            if (skip >= len) {
                return;
            }
            off += skip;
            len -= skip;
            start = 0;
        }
        if (fin) {
            long at = start + len;
            if (finOffset >= 0 && finOffset != at) {
                throw new TrackingException(direction + ": FIN at offset " + at + " contradicts earlier FIN at " + finOffset);
            }
            finOffset = at;
        }
        if (len > 0) {
            insert(start, data, off, len);
        }
    }

    private void insert(long start, byte[] data, int off, int len) throws TrackingException {
        long end = start + len;
        if (end <= nextOffset) {
            retransmittedBytes += len;
            return;
        }
        if (start < nextOffset) { // overlap with what is already delivered: keep only the new part
            int skip = (int) (nextOffset - start);
            retransmittedBytes += skip;
            off += skip;
            len -= skip;
            start = nextOffset;
        }
        if (start == nextOffset) {
            deliver(data, off, len);
            drainOutOfOrder();
        } else {
            holdOutOfOrder(start, data, off, len);
        }
    }

    private void deliver(byte[] data, int off, int len) throws TrackingException {
        sink.onData(nextOffset, data, off, len);
        retained.append(data, off, len);
        nextOffset += len;
        nextSeq += len;
    }

    private void holdOutOfOrder(long start, byte[] data, int off, int len) {
        Map.Entry<Long, byte[]> same = outOfOrder.floorEntry(start);
        if (same != null && same.getKey() + same.getValue().length >= start + len) {
            retransmittedBytes += len; // fully covered by a segment already held
            return;
        }
        byte[] copy = new byte[len];
        System.arraycopy(data, off, copy, 0, len);
        byte[] previous = outOfOrder.put(start, copy);
        outOfOrderBytes += len - (previous == null ? 0 : previous.length);
    }

    private void drainOutOfOrder() throws TrackingException {
        Map.Entry<Long, byte[]> e;
        while ((e = outOfOrder.firstEntry()) != null && e.getKey() <= nextOffset) {
            outOfOrder.pollFirstEntry();
            byte[] b = e.getValue();
            outOfOrderBytes -= b.length;
            long end = e.getKey() + b.length;
            if (end > nextOffset) {
                int skip = (int) (nextOffset - e.getKey());
                deliver(b, skip, b.length - skip);
            }
        }
    }

    /**
     * The peer acknowledged up to {@code ackSeq}. An acknowledgement beyond what was captured proves that
     * the sniffer missed bytes the peer did receive: the stream has a hole.
     */
    public void onAcknowledgement(int ackSeq) throws TrackingException {
        long ack = offsetOf(ackSeq);
        long end = nextOffset + (finOffset == nextOffset ? 1 : 0);
        if (ack > end) {
            throw new TrackingException(direction + ": capture missed " + (ack - end)
                    + " byte(s): the peer acknowledged " + SeqNum.toString(ackSeq)
                    + " but only up to " + SeqNum.toString(seqOf(end)) + " was captured");
        }
        if (ack > ackedOffset) {
            ackedOffset = ack;
        }
    }

    /** Forgets retained bytes before {@code offset}: they are no longer needed for a restore. */
    public void releaseBefore(long offset) {
        retained.discardBefore(Math.min(offset, nextOffset));
    }

    /** Copies the retained bytes in [from, nextOffset). */
    public byte[] copyFrom(long from) {
        return retained.copy(from, nextOffset);
    }

    /** Drops every buffered byte, after the connection became unrecoverable. */
    public void discardAll() {
        retained.discardBefore(nextOffset);
        outOfOrder.clear();
        outOfOrderBytes = 0;
    }
}
