package io.securejeebs.monitor.app;

import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TrackingException;

/**
 * Tracks the line-echo protocol: the server answers every newline-terminated client line with the same
 * line. The k-th newline the server sent proves it consumed the client's first k lines, so everything
 * after the k-th client line is still to be answered by whoever takes over. A partly sent answer is
 * remembered so that the taker-over sends only its rest.
 */
public final class LineEchoTracker implements ApplicationTracker {
    public static final String PROTOCOL = "line-echo";

    /** What a taking-over line-echo server needs: how many lines were answered, and how much of the next. */
    public record Resume(long answeredLines, int partialAnswerBytes) {}

    private long[] unansweredLineEnds = new long[8]; // client offsets just past each unanswered line's newline
    private int head;
    private int count;
    private long clientLines;
    private long answeredLines;
    private long consumedOffset;
    private int partialAnswerBytes;

    private final StreamSink client = (offset, data, off, len) -> {
        for (int i = 0; i < len; i++) {
            if (data[off + i] == '\n') {
                pushLineEnd(offset + i + 1);
                clientLines++;
            }
        }
    };

    private final StreamSink server = (offset, data, off, len) -> {
        for (int i = 0; i < len; i++) {
            if (data[off + i] == '\n') {
                if (count == 0) {
                    throw new TrackingException("line-echo: server answered line " + (answeredLines + 1)
                            + " but the client has sent only " + clientLines + " line(s)");
                }
                consumedOffset = popLineEnd();
                answeredLines++;
                partialAnswerBytes = 0;
            } else {
                partialAnswerBytes++;
            }
        }
    };

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
        return server;
    }

    @Override
    public long clientConsumedOffset() {
        return consumedOffset;
    }

    @Override
    public Resume resumeState() {
        return new Resume(answeredLines, partialAnswerBytes);
    }

    private void pushLineEnd(long end) {
        if (count == unansweredLineEnds.length) {
            long[] bigger = new long[count * 2];
            for (int i = 0; i < count; i++) {
                bigger[i] = unansweredLineEnds[(head + i) % count];
            }
            unansweredLineEnds = bigger;
            head = 0;
        }
        unansweredLineEnds[(head + count) % unansweredLineEnds.length] = end;
        count++;
    }

    private long popLineEnd() {
        long end = unansweredLineEnds[head];
        head = (head + 1) % unansweredLineEnds.length;
        count--;
        return end;
    }
}
