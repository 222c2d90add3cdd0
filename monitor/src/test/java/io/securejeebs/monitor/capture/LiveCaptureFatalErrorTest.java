package io.securejeebs.monitor.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An OutOfMemoryError on the capture thread ends the process with a non-zero status, logged, so that systemd
 * restarts it: before, the thread caught only RuntimeException, and the process lived on without capturing.
 * The capture runs in a JVM of its own with a small heap ({@link FatalErrorChild}), on {@code lo}: needs root,
 * as the other live-capture test.
 */
class LiveCaptureFatalErrorTest {
    @TempDir
    Path work;

    @Test
    void anOutOfMemoryErrorOnTheCaptureThreadEndsTheProcess() throws Exception {
        Path log = work.resolve("child.log");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx48m", "-cp", System.getProperty("java.class.path"), FatalErrorChild.class.getName())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            if (!child.waitFor(60, TimeUnit.SECONDS)) {
                fail("the process lived on after its capture thread ran out of memory:\n" + Files.readString(log));
            }
            String out = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(FatalErrorExit.STATUS, child.exitValue(), out);
            assertTrue(out.contains("child: sent"), out);
            assertTrue(out.contains("capture on lo stopped by java.lang.OutOfMemoryError"), out);
        } finally {
            child.destroyForcibly();
        }
    }
}
