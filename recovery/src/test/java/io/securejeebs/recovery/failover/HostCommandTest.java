package io.securejeebs.recovery.failover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real child processes: a hanging command and everything it forked are killed at the timeout. */
class HostCommandTest {
    @TempDir
    Path dir;

    @Test
    void aHangingCommandIsKilledWithItsWholeProcessGroupAtItsTimeout() throws Exception {
        Path childPid = dir.resolve("child.pid");
        Path leaderPid = dir.resolve("leader.pid");
        // Ignores SIGTERM (and so does the child it forks: ignored signals stay ignored across fork and exec),
        // so only the group SIGKILL ends them; the child sleeps in the background, holding stdout open.
        String script = "trap '' TERM; echo $$ > " + leaderPid + "; sleep 300 & echo $! > " + childPid
                + "; sleep 300";
        IOException e = assertThrows(IOException.class,
                () -> HostCommand.run("fence command", List.of("/bin/sh", "-c", script), null, 1000));
        long leader = Long.parseLong(Files.readString(leaderPid).strip());
        long child = Long.parseLong(Files.readString(childPid).strip());
        assertEquals("fence command timed out after 1 s, killed process group " + leader, e.getMessage());
        assertGone(leader);
        assertGone(child);
    }

    @Test
    void whatACommandLeavesRunningInItsGroupDoesNotOutliveIt() throws Exception {
        Path childPid = dir.resolve("child.pid");
        assertEquals("done\n", HostCommand.run("fence command",
                List.of("/bin/sh", "-c", "sleep 300 & echo $! > " + childPid + "; echo done"), null, 10_000));
        assertGone(Long.parseLong(Files.readString(childPid).strip()));
    }

    @Test
    void outputAndExitStatusAreReportedAndStdinIsFed() throws Exception {
        assertEquals("hello\n", HostCommand.run("cat", List.of("cat"), "hello\n", 10_000));
        IOException e = assertThrows(IOException.class, () -> HostCommand.run("fence command",
                List.of("/bin/sh", "-c", "echo secret-free reason >&2; exit 3"), null, 10_000));
        assertEquals("fence command exited with 3: secret-free reason", e.getMessage());
    }

    @Test
    void outputIsBounded() throws Exception {
        String out = HostCommand.run("head", List.of("head", "-c", "1000000", "/dev/zero"), null, 10_000);
        assertEquals(HostCommand.MAX_OUTPUT_BYTES, out.length());
    }

    @Test
    void errorsNeverShowTheCommandLine() {
        IOException e = assertThrows(IOException.class, () -> HostCommand.run("fence command",
                List.of("/bin/sh", "-c", "ipmitool -P hunter2 power off; exit 1"), null, 10_000));
        assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
    }

    /** Dead: no such process, or a zombie waiting for its new parent to reap it. */
    private static void assertGone(long pid) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (alive(pid) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(alive(pid), "process " + pid + " still runs");
    }

    private static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException gone) {
            return false;
        }
    }
}
