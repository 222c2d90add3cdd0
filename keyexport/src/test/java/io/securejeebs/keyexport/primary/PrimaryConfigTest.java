package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.config.ConfigException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrimaryConfigTest {
    @Test
    void theShippedSampleIsValidAndMeansTheDefaults() throws Exception {
        PrimaryConfig c = PrimaryConfig.load(Path.of("..", "conf", "primary.conf"));
        assertEquals(22, c.listen().getPort());
        assertEquals("0.0.0.0", c.listen().getAddress().getHostAddress());
        assertEquals("primary-1", c.primaryId());
        assertEquals(PrimaryConfig.DEFAULT_KEX, c.kexAlgorithms());
        assertEquals("mlkem768x25519-sha256", c.kexAlgorithms().get(0), "ML-KEM is supported (Bouncy Castle >= 1.86)");
        assertEquals(PrimaryConfig.DEFAULT_CIPHERS, c.ciphers());
        assertEquals(PrimaryConfig.DEFAULT_MACS, c.macs());
        assertTrue(c.macs().get(0).contains("-etm@"), "etm MACs first");
        assertFalse(c.directTcpip());
        assertFalse(c.exportFailClosed());
        assertEquals(Duration.ofSeconds(2), c.exportTimeout());
        assertEquals("securejeebs", c.pamService());
        assertEquals(PrimaryConfig.RootLogin.PROHIBIT_PASSWORD, c.rootLogin());
        assertEquals("SSH-2.0-SecureJeebs_0.1", c.identificationLine());
        assertEquals(List.of("LANG", "LC_*", "COLORTERM", "NO_COLOR"), c.acceptEnv());
        assertEquals(null, c.probeSocket(), "the test-only state probe is off unless asked for");
    }

    @Test
    void theStateProbeSocketMustBeAnAbsoluteShortPath() throws Exception {
        PrimaryConfig c = PrimaryConfig.parse("p.conf", "primary.id = p\nprobe.socket = /run/sj/probe.sock\n");
        assertEquals(Path.of("/run/sj/probe.sock"), c.probeSocket());
        ConfigException relative = assertThrows(ConfigException.class,
                () -> PrimaryConfig.parse("p.conf", "primary.id = p\nprobe.socket = probe.sock\n"));
        assertEquals("p.conf:2: 'probe.socket': 'probe.sock' must be an absolute path", relative.getMessage());
        ConfigException tooLong = assertThrows(ConfigException.class,
                () -> PrimaryConfig.parse("p.conf", "primary.id = p\nprobe.socket = /" + "x".repeat(120) + "\n"));
        assertTrue(tooLong.getMessage().contains("at most 107"), tooLong.getMessage());
    }

    @Test
    void settingsAreReadAndChecked() throws Exception {
        PrimaryConfig c = PrimaryConfig.parse("p.conf", """
                primary.id = p2
                listen = 10.213.0.100:2222
                ssh.identification = SSH-2.0-Example_1.0 comment here
                algorithms.kex = curve25519-sha256, ecdh-sha2-nistp256
                algorithms.ciphers = aes256-ctr
                forwarding.direct-tcpip = yes
                export.fail-closed = yes
                export.timeout = 500ms
                auth.password = no
                auth.root-login = no
                session.accept-env = LANG, TZ
                """);
        assertEquals(2222, c.listen().getPort());
        assertEquals("Example_1.0 comment here", c.identification());
        assertEquals(List.of("curve25519-sha256", "ecdh-sha2-nistp256"), c.kexAlgorithms());
        assertEquals(List.of("aes256-ctr"), c.ciphers());
        assertTrue(c.directTcpip());
        assertTrue(c.exportFailClosed());
        assertEquals(Duration.ofMillis(500), c.exportTimeout());
        assertFalse(c.passwordAuth());
        assertTrue(c.keyboardInteractiveAuth());
        assertEquals(PrimaryConfig.RootLogin.NO, c.rootLogin());
        assertEquals(List.of("LANG", "TZ"), c.acceptEnv());
    }

    private static String error(String text) {
        return assertThrows(ConfigException.class, () -> PrimaryConfig.parse("p.conf", text)).getMessage();
    }

    @Test
    void mistakesAreReportedWithFileLineAndReason() {
        assertEquals("p.conf: missing required setting 'primary.id'", error("listen = 0.0.0.0:22\n"));
        assertEquals("p.conf:2: 'algorithms.kex': 'curve25519-sha999' is not an algorithm MINA SSHD 2.20 offers here",
                error("primary.id = x\nalgorithms.kex = curve25519-sha256, curve25519-sha999\n"));
        assertEquals("p.conf:2: 'algorithms.ciphers': 'none' is not an algorithm MINA SSHD 2.20 offers here",
                error("primary.id = x\nalgorithms.ciphers = none\n"));
        assertTrue(error("primary.id = x\nalgorithms.macs = umac-64-etm@openssh.com\n").startsWith("p.conf:2: 'algorithms.macs'"));
        assertEquals("p.conf:2: unknown setting 'export.timeuot' (did you mean 'export.timeout'?)",
                error("primary.id = x\nexport.timeuot = 2s\n"));
        assertTrue(error("primary.id = x\nhostkey.rsa = keys/rsa\n").contains("must be an absolute path"));
        assertTrue(error("primary.id = x\nssh.identification = bad-dash\n").startsWith("p.conf:2: 'ssh.identification'"));
        assertTrue(error("primary.id = x\nauth.pam-service = ../etc/shadow\n").startsWith("p.conf:2: 'auth.pam-service'"));
        assertTrue(error("primary.id = x\nauth.publickey = no\nauth.password = no\nauth.keyboard-interactive = no\n")
                .contains("nobody could log in"));
        assertTrue(error("primary.id = x\nauth.root-login = sometimes\n").startsWith("p.conf:2: 'auth.root-login'"));
        assertTrue(error("primary.id = x\nexport.timeout = 5min\n").startsWith("p.conf:2: 'export.timeout': must be between"));
        assertTrue(error("primary.id = x\nsession.accept-env = LANG, BAD-NAME\n").startsWith("p.conf:2: 'session.accept-env'"));
    }

    @Test
    void hugeNonAsciiOrRelativeValuesAreReportedWithFileLineAndReason() {
        assertTrue(error("primary.id = x\nexport.timeout = 9999999999999999999999h\n")
                .startsWith("p.conf:2: 'export.timeout': must be between"));
        assertEquals("p.conf:2: 'listen': '\u0662\u0662' is not a port number",
                error("primary.id = x\nlisten = 0.0.0.0:\u0662\u0662\n"));
        assertEquals("p.conf:3: 'export.database.password-file': 'db-password' must be an absolute path",
                error("primary.id = x\nexport.database.url = jdbc:mysql://10.0.0.1/sj\n"
                        + "export.database.password-file = db-password\nexport.appliance-key = /k\n"
                        + "export.signing-key = /s\n"));
    }

    @Test
    void theCommandExitsWithTwoAndFileLineOnABadConfig(@TempDir Path dir) throws Exception {
        Path conf = dir.resolve("primary.conf");
        Files.writeString(conf, "primary.id = x\nlisten = 0.0.0.0:99999\n");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = PrimaryCommand.run(List.of("--config", conf.toString()), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, status);
        assertEquals(conf + ":2: 'listen': port must be between 1 and 65535, got 99999\n", err.toString(StandardCharsets.UTF_8));

        err.reset();
        assertEquals(2, PrimaryCommand.run(List.of(), new PrintStream(out), new PrintStream(err, true, StandardCharsets.UTF_8)));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage: securejeebs primary --config FILE"));

        err.reset();
        Files.writeString(conf, "primary.id = x\nexport.fail-closed = yes\n");
        assertEquals(2, PrimaryCommand.run(List.of("--config", conf.toString()), new PrintStream(out),
                new PrintStream(err, true, StandardCharsets.UTF_8)));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("export.database.url is not set"), err.toString());
    }
}
