package io.securejeebs.recovery.server;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** TEST ONLY: every log event while it is open, as "LEVEL logger message". */
final class LogCapture implements AutoCloseable {
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);

    LogCapture() {
        appender.start();
        root.addAppender(appender);
    }

    List<String> lines() {
        List<ILoggingEvent> events;
        synchronized (appender) {
            events = List.copyOf(appender.list);
        }
        return events.stream().map(e -> e.getLevel() + " " + e.getLoggerName() + " " + e.getFormattedMessage()).toList();
    }

    /** Waits (up to 30 s) for a line containing every one of {@code parts}; returns it, or null. */
    String await(String... parts) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            for (String l : lines()) {
                boolean all = true;
                for (String p : parts) {
                    all &= l.contains(p);
                }
                if (all) {
                    return l;
                }
            }
            Thread.sleep(20);
        }
        return null;
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }
}
