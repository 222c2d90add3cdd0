package io.securejeebs.recovery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
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

    /** The shipped sample, with its password file here (mode 0600) and {@code extra} appended. */
    private Path sampleWith(String extra) throws Exception {
        Path sample = Path.of(System.getProperty("user.dir")).resolveSibling("conf").resolve("securejeebs.conf");
        Path password = dir.resolve("db-password");
        Files.writeString(password, "s3cret\n");
        Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("rw-------"));
        Path conf = dir.resolve("securejeebs.conf");
        Files.writeString(conf, Files.readString(sample).replace("/etc/securejeebs/db-appliance-password",
                password.toString()) + extra);
        return conf;
    }

    @Test
    void checkConfigAcceptsTheSampleAndWarnsThatFencingIsOff() throws Exception {
        Path conf = sampleWith("");
        assertEquals(0, run("check-config", "--config", conf.toString()), err.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith(conf + ": OK"));
        String warning = err.toString(StandardCharsets.UTF_8);
        assertTrue(warning.startsWith("securejeebs: WARNING: " + conf + ": failover.fence-command is not set"),
                warning);
        assertTrue(warning.contains("split-brain"), warning);
    }

    @Test
    void checkConfigPrintsTheFenceCommandRedacted() throws Exception {
        Path conf = sampleWith("failover.fence-command = IPMI_PASSWORD=hunter2 /bin/true -P hunter2\n");
        assertEquals(0, run("check-config", "--config", conf.toString()), err.toString(StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("FenceCommand[program=/bin/true, arguments redacted, timeout=PT10S]"), printed);
        assertFalse(printed.contains("hunter2"), printed);
        assertEquals("", err.toString(StandardCharsets.UTF_8), "no warning once fencing is on");
    }

    @Test
    void checkConfigRefusesAMissingOrTooOpenPasswordFileAndAFenceCommandThatCannotRun() throws Exception {
        Path conf = sampleWith("");
        int line = lineOf(conf, "records.database.password-file");
        Path password = dir.resolve("db-password");
        Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(2, run("check-config", "--config", conf.toString()));
        assertEquals("securejeebs: bad config: " + conf + ":" + line + ": 'records.database.password-file': '"
                + password + "': " + password + " is readable by group or others: chmod 600 it\n",
                err.toString(StandardCharsets.UTF_8));
        Files.delete(password);
        err.reset();
        assertEquals(2, run("check-config", "--config", conf.toString()));
        assertEquals("securejeebs: bad config: " + conf + ":" + line + ": 'records.database.password-file': '"
                + password + "' does not exist\n", err.toString(StandardCharsets.UTF_8));

        conf = sampleWith("failover.fence-command = /usr/local/sbin/no-such-fence -P hunter2\n");
        line = lineOf(conf, "failover.fence-command");
        err.reset();
        assertEquals(2, run("check-config", "--config", conf.toString()));
        assertEquals("securejeebs: bad config: " + conf + ":" + line + ": 'failover.fence-command': program "
                + "'/usr/local/sbin/no-such-fence' does not exist\n", err.toString(StandardCharsets.UTF_8));

        Path notExecutable = dir.resolve("fence");
        Files.writeString(notExecutable, "#!/bin/sh\n");
        conf = sampleWith("failover.fence-command = " + notExecutable + "\n");
        err.reset();
        assertEquals(2, run("run", "--config", conf.toString()), "run checks the same");
        assertEquals("securejeebs: bad config: " + conf + ":" + line + ": 'failover.fence-command': program '"
                + notExecutable + "' is not executable\n", err.toString(StandardCharsets.UTF_8));

        conf = sampleWith("failover.fence-command = no-such-fence-program --power off\n");
        err.reset();
        assertEquals(2, run("check-config", "--config", conf.toString()));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains(":" + line + ": 'failover.fence-command': program "
                + "'no-such-fence-program' is not found on PATH"), err.toString(StandardCharsets.UTF_8));
    }

    private static int lineOf(Path conf, String key) throws Exception {
        List<String> lines = Files.readAllLines(conf);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(key + " ")) {
                return i + 1;
            }
        }
        throw new AssertionError(key + " not in " + conf);
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
