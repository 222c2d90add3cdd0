package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile traffic from another host of the lab's subnet (sj-client2, on the same flooding bridge), aimed at a
 * real OpenSSH session's 4-tuple or at the VIP (issue 13, items 1 and 2). The tool is plain Python raw sockets
 * ({@code src/test/resources/lab/tcp-spoof.py}), and only ever sends inside 10.213.0.0/16.
 * <ul>
 * <li>Segments the primary's and the client's kernels ignore (RSTs and FINs out of the window or not at
 *     rcv_nxt, a SYN and a SYN-ACK with new ISNs, ACKs of data never sent) must leave the session tracked and
 *     recoverable: the primary then crashes, and the session is recovered.</li>
 * <li>A bounded SYN flood, more SYNs than the table holds, with the appliance under a small heap: afterwards
 *     the same appliance process (never out of memory) tracks a new session, which is recovered at a crash.</li>
 * </ul>
 */
class HostileTrafficIT {
    private static final int ATTACKER = 2; // sj-client2
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path work;

    private static String tool() {
        return Lab.home().resolve("src/test/resources/lab/tcp-spoof.py").toString();
    }

    @Test
    void spoofedSegmentsFromAnotherHostLeaveTheSessionRecoverable() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        try (SshLab lab = SshLab.start(work, SshLab.probeConfig(work), ATTACKER)) {
            SshLab.Shell shell = lab.openShell("victim");
            StateOracle oracle = new StateOracle(lab);
            String client = oracle.awaitNewSession("victim", shell.process);
            try {
                shell.type("echo before-" + tag + "\n");
                shell.awaitOutput("before-" + tag, 2, Duration.ofSeconds(30));
                assertTrue(awaitSession(lab, client).path("recoverable").asBoolean(), "recoverable before the spoofs");

                Path toolLog = work.resolve("tcp-spoof.log");
                Process spoofer = lab.lab.spawn(Lab.clientNamespace(ATTACKER), toolLog, "/usr/bin/python3", tool(),
                        "segments", "eth0", client, Lab.VIP + ":22");
                // the tool learns the sequence numbers from one segment each way, then sends its spoofs
                for (int i = 0; !spoofer.waitFor(300, TimeUnit.MILLISECONDS); i++) {
                    if (i > 100) {
                        fail("the spoofing tool did not finish:\n" + Files.readString(toolLog));
                    }
                    if (!Files.readString(toolLog).contains("sniffed:")) {
                        shell.type("echo spoof-bait-" + i + "\n");
                    }
                }
                String sent = Files.readString(toolLog, StandardCharsets.UTF_8);
                System.out.println("--- tcp-spoof\n" + sent);
                assertEquals(0, spoofer.exitValue(), sent);
                assertEquals(11, SshLab.Shell.count(sent, "sent: "), sent);

                // the kernels ignored them: the session works; the appliance ignored them too
                shell.type("echo after-spoofs-" + tag + "\n");
                shell.awaitOutput("after-spoofs-" + tag, 2, Duration.ofSeconds(30));
                JsonNode status = lab.status();
                JsonNode session = StateOracle.statusSession(status, client);
                assertNotNull(session, "the session is no longer tracked:\n" + status.toPrettyString());
                assertTrue(session.path("recoverable").asBoolean(), session.toPrettyString());
                long ignored = status.path("capture").path("counters").path("ignored-unacceptable").asLong();
                assertTrue(ignored >= 11, "the appliance ignored " + ignored + " segment(s):\n" + status.toPrettyString());
                oracle.assertAllExact("after the spoofed segments");

                Thread.sleep(300); // a quiet moment: everything acknowledged
                lab.crashPrimary();
                shell.type("echo after-crash-" + tag + "\n");
                shell.awaitOutput("after-crash-" + tag, 2, Duration.ofSeconds(30));
                assertRecovered(lab, 1);
            } catch (AssertionError | Exception e) {
                System.out.println("--- appliance log\n" + LogFiles.tail(lab.applianceLog));
                throw e;
            }
        }
    }

    @Test
    void aSynFloodLargerThanTheTableLeavesNewSessionsTrackedAndRecoverable() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        int table = 20_000;
        int syns = 30_000;
        try (SshLab lab = SshLab.start(work, "", ATTACKER)) {
            // a small table and a small heap: before, 30,000 half-open SSH trackers needed about 330 MB
            Files.writeString(lab.applianceConf, "monitor.max-connections = " + table + "\n",
                    java.nio.file.StandardOpenOption.APPEND);
            lab.applianceEnvironment = List.of("SJ_HEAP=256m");
            lab.restartAppliance();
            long pid = lab.appliance.pid();
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("-Xmx256m") && cmdline.contains("ExitOnOutOfMemoryError"), cmdline);
            try {
                // made-up sources in the lab subnet that no host owns: the primary's SYN-ACKs go nowhere
                String out = lab.lab.exec(Duration.ofSeconds(120), Lab.clientNamespace(ATTACKER), "/usr/bin/python3",
                        tool(), "syn-flood", Lab.VIP + ":22", Integer.toString(syns), "10.213.0.200", "10");
                System.out.println("syn flood: " + out.strip());
                JsonNode counters = awaitCounter(lab, "handshakes-evicted", 1); // the table was overrun
                System.out.println("syn flood: appliance counters " + counters);
                assertTrue(lab.appliance.isAlive(), "the appliance died:\n" + LogFiles.tail(lab.applianceLog));
                assertTrue(lab.status().path("capture").path("running").asBoolean(), "capture stopped");
                System.out.println("syn flood: appliance peak RSS " + peakRss(pid) + " (heap limit 256m)");

                SshLab.Shell shell = lab.openShell("after-flood");
                shell.type("echo before-" + tag + "\n");
                shell.awaitOutput("before-" + tag, 2, Duration.ofSeconds(30));
                JsonNode sessions = lab.status().path("sessions");
                assertEquals(1, sessions.size(), sessions.toPrettyString());
                assertTrue(sessions.get(0).path("recoverable").asBoolean(), sessions.toPrettyString());

                Thread.sleep(300);
                lab.crashPrimary();
                shell.type("echo after-crash-" + tag + "\n");
                shell.awaitOutput("after-crash-" + tag, 2, Duration.ofSeconds(30));
                assertRecovered(lab, 1);
                assertEquals(pid, lab.appliance.pid());
                assertTrue(lab.appliance.isAlive(), "the appliance restarted or died during the test");
            } catch (AssertionError | Exception e) {
                System.out.println("--- appliance log\n" + LogFiles.tail(lab.applianceLog));
                throw e;
            }
        }
    }

    /** Waits until the appliance tracks {@code client}; returns its status entry. */
    private static JsonNode awaitSession(SshLab lab, String client) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        JsonNode status = null;
        while (System.nanoTime() < deadline) {
            status = lab.status();
            JsonNode s = StateOracle.statusSession(status, client);
            if (s != null) {
                return s;
            }
            Thread.sleep(50);
        }
        fail(client + " is not tracked:\n" + status.toPrettyString());
        return null;
    }

    /** Waits until a capture counter reaches {@code atLeast} (the capture hands frames over in blocks). */
    private static JsonNode awaitCounter(SshLab lab, String name, long atLeast) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        JsonNode counters = null;
        while (System.nanoTime() < deadline) {
            counters = lab.status().path("capture").path("counters");
            if (counters.path(name).asLong() >= atLeast) {
                return counters;
            }
            Thread.sleep(100);
        }
        fail(name + " stayed below " + atLeast + ": " + counters);
        return null;
    }

    private static String peakRss(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmHWM:")) {
                return line.substring(6).strip();
            }
        }
        return "?";
    }

    private static void assertRecovered(SshLab lab, int sessions) throws Exception {
        Path reportFile = lab.awaitFailoverReport(Duration.ofSeconds(30));
        assertNotNull(reportFile, "no failover report");
        JsonNode report = JSON.readTree(reportFile.toFile());
        assertEquals(sessions, report.path("recovered").asInt(), report.toPrettyString());
        assertEquals(0, report.path("failed").asInt(), report.toPrettyString());
        assertEquals(0, report.path("unrecoverable").asInt(), report.toPrettyString());
    }
}
