package io.securejeebs.recovery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SecureJeebsCliTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return SecureJeebsCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void runWithABadConfigLineExitsTwoNamingFileAndLine() throws Exception {
        Path conf = dir.resolve("appliance.conf");
        Files.writeString(conf, "capture.interface = eth0\nservice.vip = 10.213.0.100\n");
        assertEquals(2, run("run", "--config", conf.toString()));
        assertEquals("securejeebs: bad config: " + conf + ":2: 'service.vip': '10.213.0.100' needs a prefix length, "
                + "as in 10.213.0.100/24\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aMissingConfigFileIsAClearError() {
        assertEquals(2, run("run", "--config", dir.resolve("nope.conf").toString()));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("nope.conf: cannot read"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void checkConfigAcceptsTheSample() {
        Path sample = Path.of(System.getProperty("user.dir")).resolveSibling("conf").resolve("securejeebs.conf");
        assertEquals(0, run("check-config", "--config", sample.toString()), err.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith(sample + ": OK"));
    }

    @Test
    void keysInitCreatesBothPairsThroughTheCli() throws Exception {
        Path keys = dir.resolve("keys");
        assertEquals(0, run("keys", "init", "--dir", keys.toString()), err.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("SHA256:"), out.toString(StandardCharsets.UTF_8));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(keys.resolve("appliance.key"))));
        assertEquals(1, run("keys", "init", "--dir", keys.toString()), "existing keys are never overwritten");
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, run());
        assertEquals(2, run("frobnicate"));
        assertEquals(2, run("run"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("missing --config"));
        assertEquals(0, run("help"));
    }
}
