package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The acceptance test of issue 5: an unmodified OpenSSH client ({@code ssh -tt}, key or password login)
 * keeps its interactive session when the primary's host dies. It types {@code echo before-…} and sees the
 * output; the primary crashes (network cut, then SIGKILL); in the same ssh process it types
 * {@code echo after-…} and sees the output of the recovered shell. The ssh process never exits and never
 * prints a connection error ({@code Corrupted MAC}, {@code Bad packet length}, {@code Connection …}).
 */
class SshSurvivalIT {
    private static final List<String> CLIENT_ERRORS = List.of("Corrupted MAC", "Bad packet length", "Connection reset",
            "Connection closed", "Broken pipe", "message authentication code incorrect", "Disconnected");

    @TempDir
    Path work;

    static Stream<Arguments> sessions() {
        return Stream.of(
                Arguments.of("chacha20", null, new String[] {"-o", "Ciphers=chacha20-poly1305@openssh.com",
                        "-o", "KexAlgorithms=curve25519-sha256"}),
                Arguments.of("aes256-gcm", null, new String[] {"-o", "Ciphers=aes256-gcm@openssh.com",
                        "-o", "KexAlgorithms=sntrup761x25519-sha512@openssh.com"}),
                Arguments.of("aes128-ctr-etm", null, new String[] {"-o", "Ciphers=aes128-ctr",
                        "-o", "MACs=hmac-sha2-256-etm@openssh.com"}),
                Arguments.of("password", SshLab.PASSWORD, new String[] {}),
                Arguments.of("rekeyed", null, new String[] {"-o", "RekeyLimit=64K"}));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sessions")
    void anInteractiveShellSurvivesThePrimarysCrash(String name, String password, String[] options) throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String only = System.getenv("SJ_E2E_ONLY"); // debugging one case: SJ_E2E_ONLY=chacha20
        assumeTrue(only == null || only.equals(name), "SJ_E2E_ONLY=" + only);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        try (SshLab lab = SshLab.start(work, "")) {
            SshLab.Shell shell = lab.openShell(name, password, options);
            if (name.equals("rekeyed")) { // move enough data to rekey a few times before the crash
                shell.type("head -c 300000 /dev/zero | od | tail -1; echo rekeyed-" + tag + "\n");
                shell.awaitOutput("rekeyed-" + tag, 2, Duration.ofSeconds(30));
            }
            shell.type("echo before-" + tag + "\n");
            shell.awaitOutput("before-" + tag, 2, Duration.ofSeconds(30));
            Thread.sleep(300); // a quiet moment: everything acknowledged

            long crash = lab.crashPrimary();
            shell.type("echo after-" + tag + "\n");
            long seen;
            try {
                seen = shell.awaitOutput("after-" + tag, 2, Duration.ofSeconds(30));
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\nappliance log:\n" + LogFiles.tail(lab.applianceLog), e);
            }
            double crashToEcho = (seen - crash) / 1e6;
            System.out.printf(Locale.ROOT, "%s: crash to the echo of the recovered shell: %.0f ms%n", name, crashToEcho);

            Path report = lab.awaitFailoverReport(Duration.ofSeconds(10));
            assertNotNull(report, "no failover report; appliance log:\n" + LogFiles.tail(lab.applianceLog));
            JsonNode failover = new ObjectMapper().readTree(report.toFile());
            assertEquals(1, failover.get("recovered").asInt(), failover.toPrettyString());
            assertEquals(0, failover.get("failed").asInt(), failover.toPrettyString());

            String out = shell.output();
            assertTrue(out.contains("session recovered after a server failure"), "no recovery notice:\n" + out);
            assertTrue(shell.process.isAlive(), "the ssh process exited:\n" + out);
            for (String error : CLIENT_ERRORS) {
                assertFalse(out.contains(error), "ssh printed '" + error + "':\n" + out);
            }
            // the same process still works a while later
            shell.type("echo still-" + tag + "\n");
            shell.awaitOutput("still-" + tag, 2, Duration.ofSeconds(10));
            if (name.equals("chacha20")) { // and the recovery server takes new logins on the VIP
                String fresh = lab.lab.exec(Duration.ofSeconds(30), Lab.CLIENT, "ssh", "-F", "/dev/null",
                        "-i", lab.clientKey.toString(), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", lab.user + "@" + Lab.VIP, "echo new-login-$(id -un)");
                assertEquals("new-login-" + lab.user, fresh.strip());
            }
        }
    }
}
