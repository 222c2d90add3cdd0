package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;

/** Reading the log files of processes the end-to-end tests start in the lab. */
final class LogFiles {
    private LogFiles() {}

    /** Waits for a line matching {@code match}; fails early, with the log, if {@code owner} exits. */
    static String awaitLine(Path log, Predicate<String> match, Duration timeout, Process owner) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (String l : lines(log)) {
                if (match.test(l)) {
                    return l;
                }
            }
            if (!owner.isAlive()) {
                fail("process exited with " + owner.exitValue() + " before the expected line; log:\n" + tail(log));
            }
            Thread.sleep(50);
        }
        fail("timed out waiting in " + log + "; log:\n" + tail(log));
        return null;
    }

    static List<String> lines(Path log) throws IOException {
        return Files.exists(log) ? Files.readAllLines(log, StandardCharsets.UTF_8) : List.of();
    }

    static String tail(Path log) {
        try {
            List<String> l = lines(log);
            return String.join("\n", l.subList(Math.max(0, l.size() - 60), l.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }
}
