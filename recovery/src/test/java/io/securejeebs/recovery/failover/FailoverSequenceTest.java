package io.securejeebs.recovery.failover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.config.Ipv4Prefix;
import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The failover sequence with a fence command that hangs (IPMI to a dead BMC): it is killed at its timeout with its
 * whole process group, the failover is aborted before anything is taken over, and the report says why. Nothing
 * here needs root: the abort comes before the guard, the VIP and the network.
 */
class FailoverSequenceTest {
    @TempDir
    Path state;

    @Test
    void aHangingFenceCommandIsKilledAtItsTimeoutAndTheFailoverIsAborted() throws Exception {
        Path started = state.resolve("child-started");
        // the fence command forks a child that would outlive it, then hangs itself
        String fence = "sleep 300 & echo $! > " + started + "; sleep 300";
        ConnectionTable table = new ConnectionTable(new WatchedServices(List.of(0x0ad5_0064), List.of(7000)),
                (key, updates) -> new LineEchoTracker(), 1 << 20, 10, new FrameCounters());
        FailoverSequence failover = new FailoverSequence(table, new NftGuard("sj_test_never_used"),
                new VipTakeover(new Ipv4Prefix(java.net.InetAddress.getByName("10.213.0.100"), 24), "sj-none0"), null, 1, 1, state)
                .withHooks(new FailoverSequence.Hooks() {
                    @Override
                    public String fence() throws IOException {
                        HostCommand.run("fence command", List.of("/bin/sh", "-c", fence), null, 1000);
                        return "fenced";
                    }
                });
        FailoverReport report = failover.run("test", System.currentTimeMillis(), System.currentTimeMillis());
        assertNotNull(report.aborted, "the failover is aborted");
        assertTrue(report.aborted.contains("fence command timed out after 1 s, killed process group"), report.aborted);
        assertEquals(0, report.recovered);
        assertTrue(report.steps.stream().anyMatch(s -> s.name().equals("aborted")));
        long pid = Long.parseLong(Files.readString(started).trim());
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true), "the fence command's child is gone too");
        assertTrue(Files.exists(state.resolve("last-failover.json")), "the report is written");
    }
}
