package io.securejeebs.monitor.tcp;

/**
 * The bytes of one stream direction between two stream offsets, [{@link #startOffset()}, {@link #endOffset()}).
 * A growable ring: appends at the end, discards from the front. It starts empty and unallocated, so an
 * idle connection costs nothing, and it shrinks back when it empties.
 */
public final class RetainedBytes {
    private static final byte[] EMPTY = new byte[0];
    private static final int INITIAL_CAPACITY = 2048;

    private byte[] ring = EMPTY;
    private int head;
    private int length;
    private long startOffset;

    public RetainedBytes(long startOffset) {
        this.startOffset = startOffset;
    }

    public long startOffset() {
        return startOffset;
    }

    public long endOffset() {
        return startOffset + length;
    }

    public int length() {
        return length;
    }

    public int capacity() {
        return ring.length;
    }

    /** Appends bytes that start exactly at {@link #endOffset()}. */
    public void append(byte[] src, int off, int len) {
        if (len == 0) {
            return;
        }
        ensureCapacity(length + len);
        int tail = (head + length) % ring.length;
        int first = Math.min(len, ring.length - tail);
        System.arraycopy(src, off, ring, tail, first);
        System.arraycopy(src, off + first, ring, 0, len - first);
        length += len;
    }

    /** Forgets everything before {@code offset}; an offset past the end empties the buffer and moves it there. */
    public void discardBefore(long offset) {
        if (offset <= startOffset) {
            return;
        }
        long drop = offset - startOffset;
        if (drop >= length) {
            startOffset = offset;
            head = 0;
            length = 0;
            ring = EMPTY; // an idle connection holds no buffer
            return;
        }
        head = (int) ((head + drop) % ring.length);
        length -= (int) drop;
        startOffset = offset;
    }

    /** Copies [from, to) out; both must lie within the retained range. */
    public byte[] copy(long from, long to) {
        if (from < startOffset || to > endOffset() || from > to) {
            throw new IllegalArgumentException("range [" + from + "," + to + ") outside retained ["
                    + startOffset + "," + endOffset() + ")");
        }
        int n = (int) (to - from);
        byte[] out = new byte[n];
        if (n == 0) {
            return out;
        }
        int pos = (int) ((head + (from - startOffset)) % ring.length);
        int first = Math.min(n, ring.length - pos);
        System.arraycopy(ring, pos, out, 0, first);
        System.arraycopy(ring, 0, out, first, n - first);
        return out;
    }

    /** Compares retained bytes at {@code offset} with {@code len} bytes of {@code src}, over the overlap only. */
    public boolean matches(long offset, byte[] src, int off, int len) {
        long from = Math.max(offset, startOffset);
        long to = Math.min(offset + len, endOffset());
        for (long o = from; o < to; o++) {
            int pos = (int) ((head + (o - startOffset)) % ring.length);
            if (ring[pos] != src[off + (int) (o - offset)]) {
                return false;
            }
        }
        return true;
    }

    private void ensureCapacity(int needed) {
        if (needed <= ring.length) {
            return;
        }
        int cap = Math.max(INITIAL_CAPACITY, ring.length);
        while (cap < needed) {
            cap = cap > (1 << 29) ? Integer.MAX_VALUE - 8 : cap * 2;
        }
        byte[] bigger = new byte[cap];
        if (length > 0) {
            int first = Math.min(length, ring.length - head);
            System.arraycopy(ring, head, bigger, 0, first);
            System.arraycopy(ring, 0, bigger, first, length - first);
        }
        ring = bigger;
        head = 0;
    }
}
