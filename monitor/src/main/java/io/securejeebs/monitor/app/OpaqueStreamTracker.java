package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.StreamSink;

/**
 * For streams whose protocol is not followed: every client byte counts as consumed as soon as it is
 * captured. Nothing can be resumed from it, so no takeover exists for it; the capture benchmark uses it to
 * measure capture and reassembly alone, on arbitrary bulk traffic.
 */
public final class OpaqueStreamTracker implements ApplicationTracker {
    public static final String PROTOCOL = "opaque";

    private long clientEnd;
    private final StreamSink client = (offset, data, off, len) -> clientEnd = offset + len;

    @Override
    public String protocol() {
        return PROTOCOL;
    }

    @Override
    public StreamSink clientStream() {
        return client;
    }

    @Override
    public StreamSink serverStream() {
        return StreamSink.NONE;
    }

    @Override
    public long clientConsumedOffset() {
        return clientEnd;
    }

    @Override
    public Object resumeState() {
        return null;
    }
}
