package io.securejeebs.monitor.tcp;

/** Receives the in-order bytes of one direction of a connection, each exactly once. */
@FunctionalInterface
public interface StreamSink {
    /**
     * @param offset stream offset of {@code data[off]} (0 = the first byte after the SYN)
     */
    void onData(long offset, byte[] data, int off, int len) throws TrackingException;

    StreamSink NONE = (offset, data, off, len) -> { };
}
