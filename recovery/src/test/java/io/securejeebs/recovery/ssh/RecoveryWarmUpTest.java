package io.securejeebs.recovery.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.primary.PrimaryConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recovery warm-up completes: every start logged "recovery warm-up failed … Session is being closed" (its
 * loopback login used a JDK-made Ed25519 key, which MINA's publickey code cannot encode), and MINA's default
 * client read root's {@code ~/.ssh}, which the unit's privileges may not allow.
 */
class RecoveryWarmUpTest {
    @TempDir
    Path dir;

    @Test
    void completes() throws Exception {
        String done = RecoveryWarmUp.run(PrimaryConfig.load(primaryConf(dir)));

        assertTrue(done.contains("signature algorithm(s)"), done);
    }

    /** MINA resolves the home once per JVM: this runs in a JVM of its own whose home MINA cannot use. */
    @Test
    void readsNothingOfTheHostsSshFiles() throws Exception {
        Path home = dir.resolve("home");
        Path ssh = Files.createDirectories(home.resolve(".ssh"));
        Files.writeString(ssh.resolve("config"), "Host *\n  Port not-a-number\n"); // MINA cannot parse it
        Files.writeString(ssh.resolve("id_ed25519"), "not a key\n");
        Path out = dir.resolve("warm-up.out");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Duser.home=" + home, "-cp", System.getProperty("java.class.path"), InHostileHome.class.getName(),
                primaryConf(dir).toString())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the warm-up JVM did not end");
        String output = Files.readString(out);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("warmed:"), output);
    }

    static final class InHostileHome {
        public static void main(String[] args) throws Exception {
            System.out.println("warmed: " + RecoveryWarmUp.run(PrimaryConfig.load(Path.of(args[0]))));
        }
    }

    private static Path primaryConf(Path dir) throws java.io.IOException {
        Path conf = dir.resolve("primary.conf");
        Files.writeString(conf, "primary.id = warm-up-test\n");
        return conf;
    }
}
