package io.securejeebs.monitor.warmup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The warm-up really follows a recorded bulk session per cipher, and skips what it cannot warm. */
class TrackingWarmUpTest {
    @Test
    void followsOneRecordedBulkSessionPerCipher() {
        List<TrackingWarmUp.Result> results = new TrackingWarmUp(0.1, 2).run(
                List.of("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "no-such-cipher"));
        assertEquals(List.of("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"),
                results.stream().map(TrackingWarmUp.Result::cipher).toList(), "each real cipher warmed, the unknown one skipped");
        for (TrackingWarmUp.Result r : results) {
            // More than a login (a few kB): stream data. How much depends on the machine's speed (it was over
            // 1 MB on an idle machine, 0.6 MB on a loaded one), so no more is asked.
            assertTrue(r.sessionBytes() > 32 * 1024, r + ": a bulk session was recorded");
            assertEquals(2, r.passes(), r.toString());
            assertTrue(r.lastPassMbitPerSecond() > 0, r.toString());
        }
        assertTrue(TrackingWarmUp.describe(results).contains("chacha20-poly1305@openssh.com"));
    }

    /**
     * The appliance runs as root with a bounded capability set and perhaps no readable home: the warm-up must
     * not read the host's {@code ~/.ssh} (it failed reading root's {@code ~/.ssh/config}). MINA resolves the
     * home once per JVM, so the warm-up runs in a JVM of its own whose home holds files MINA cannot use.
     */
    @Test
    void readsNothingOfTheHostsSshFiles(@TempDir Path home) throws Exception {
        hostileHome(home);
        Path out = home.resolve("warm-up.out");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Duser.home=" + home, "-cp", System.getProperty("java.class.path"), InHostileHome.class.getName())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the warm-up JVM did not end");
        String output = Files.readString(out);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("warmed aes128-ctr"), output);
    }

    /** Runs one cipher's warm-up; exits 1 unless it was warmed. */
    static final class InHostileHome {
        public static void main(String[] args) {
            List<TrackingWarmUp.Result> results = new TrackingWarmUp(0.05, 1).run(List.of("aes128-ctr"));
            System.out.println(results.isEmpty() ? "nothing warmed" : "warmed " + results.get(0).cipher());
            System.exit(results.isEmpty() ? 1 : 0);
        }
    }

    /**
     * A home whose SSH files MINA's default client cannot use: a {@code ~/.ssh/config} it fails to parse (as
     * an unreadable home fails it under the unit's capability set) and a key file that is no key.
     */
    static void hostileHome(Path home) throws java.io.IOException {
        Path ssh = Files.createDirectories(home.resolve(".ssh"));
        Files.writeString(ssh.resolve("config"), "Host *\n  Port not-a-number\n");
        Files.writeString(ssh.resolve("id_ed25519"), "not a key\n");
    }
}
