package io.securejeebs.monitor.tcp;

/**
 * When the client bytes that the server has not acknowledged yet were captured: a short list of (stream end
 * offset, capture time), oldest first. At a failover it tells which of those bytes the dead server may have
 * read before it died: the bytes captured before the last moment it could have been alive
 * ({@link #capturedBy}).
 *
 * <p>Bounded: past {@link #MAX} entries the newest entry is extended instead of a new one added, which dates
 * the newest bytes earlier than they came. That errs on the side of "may have been read", never the other way.
 */
final class ClientArrivals {
    static final int MAX = 32;

    private final long[] end = new long[MAX];
    private final long[] micros = new long[MAX];
    private int size;

    /** The client stream now reaches {@code endOffset}, captured at {@code atMicros}. */
    void arrived(long endOffset, long atMicros) {
        if (size > 0 && end[size - 1] >= endOffset) {
            return; // a retransmission: the bytes were here already, at the earlier time
        }
        if (size == MAX) {
            end[size - 1] = endOffset;
            return;
        }
        end[size] = endOffset;
        micros[size] = atMicros;
        size++;
    }

    /** The server has acknowledged the stream up to {@code offset}: those bytes are no longer in doubt. */
    void acknowledged(long offset) {
        int drop = 0;
        while (drop < size && end[drop] <= offset) {
            drop++;
        }
        if (drop > 0) {
            System.arraycopy(end, drop, end, 0, size - drop);
            System.arraycopy(micros, drop, micros, 0, size - drop);
            size -= drop;
        }
    }

    /** The end of the bytes captured at or before {@code atMicros}, or -1 if none of those wait for an ACK. */
    long capturedBy(long atMicros) {
        long last = -1;
        for (int i = 0; i < size && micros[i] <= atMicros; i++) {
            last = end[i];
        }
        return last;
    }

    void clear() {
        size = 0;
    }
}
