package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plain TCP connection survives the primary's crash: the line-echo service runs on the VIP in
 * sj-primary, a client in sj-client streams numbered lines on 3 connections, the primary crashes with
 * unacknowledged data in flight both ways, and the appliance restores all 3 connections with
 * TCP_REPAIR. The client must see every line exactly once, in order, on the same sockets, and carry on.
 */
class TcpSurvivalIT {
    private static final int PORT = 7000;
    private static final int CONNECTIONS = 3;
    private static final Pattern PROGRESS = Pattern.compile("conn=(\\d+),sent=(\\d+),echoed=(\\d+),error=(\\S+)");

    @TempDir
    Path work;

    @Test
    void threeEchoConnectionsSurviveThePrimarysCrashByteForByte() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String launcher = Lab.launcher();
        String classpath = Lab.javaClasspath();
        Path state = work.resolve("state");
        Path config = work.resolve("appliance.conf");
        Files.writeString(config, """
                capture.interface = eth0
                service.vip = %s/24
                service.ports = %d
                service.protocol = line-echo
                primary.heartbeat = %s:%d
                heartbeat.interval = 100ms
                heartbeat.misses = 3
                state.dir = %s
                """.formatted(Lab.VIP, PORT, Lab.PRIMARY_ADDR, PORT, state));
        Path primaryLog = work.resolve("primary.log");
        Path applianceLog = work.resolve("appliance.log");
        Path clientLog = work.resolve("client.log");
        Path stopFile = work.resolve("stop-client");

        try (Lab lab = Lab.up()) {
            Process primary = lab.spawn(Lab.PRIMARY, primaryLog, launcher, "echo-server", "--listen", "0.0.0.0:" + PORT);
            LogFiles.awaitLine(primaryLog, l -> l.contains("line-echo service listening"), Duration.ofSeconds(30), primary);
            Process appliance = lab.spawnAppliance(applianceLog, "run", "--config", config.toString());
            LogFiles.awaitLine(applianceLog, l -> l.contains("capture started on eth0"), Duration.ofSeconds(30), appliance);
            LogFiles.awaitLine(applianceLog, l -> l.contains("is alive"), Duration.ofSeconds(30), appliance);

            Process client = lab.spawn(Lab.CLIENT, clientLog, "java", "-cp", classpath, LineEchoClient.class.getName(),
                    Lab.VIP + ":" + PORT, String.valueOf(CONNECTIONS), "2", stopFile.toString());
            String ready = LogFiles.awaitLine(clientLog, l -> l.startsWith("READY"), Duration.ofSeconds(30), client);
            String readyPorts = ready.substring("READY".length()).strip();
            Thread.sleep(1500); // streaming both ways

            // Unacknowledged data in flight both ways at the crash, arranged on purpose:
            // 1. the client stops receiving from the VIP: the primary's echoes reach the wire (and the
            //    appliance) but the client never acknowledges them;
            nft(lab, Lab.CLIENT, "add table inet sjtest; add chain inet sjtest in { type filter hook input priority 0; policy accept; }; "
                    + "add rule inet sjtest in ip saddr " + Lab.VIP + " tcp sport " + PORT + " drop");
            Thread.sleep(100);
            // 2. the primary stops receiving from the client: the client's new lines reach the wire but
            //    the primary never acknowledges them;
            nft(lab, Lab.PRIMARY, "add table inet sjtest; add chain inet sjtest in { type filter hook input priority 0; policy accept; }; "
                    + "add rule inet sjtest in ip saddr " + Lab.CLIENT_ADDR + " tcp dport " + PORT + " drop");
            Thread.sleep(150);
            Map<Integer, long[]> beforeCrash = progress(clientLog);
            // 3. the machine crash: network cut, then SIGKILL, then link down. Then the client's own
            //    network is healthy again.
            long crashNanos = System.nanoTime();
            lab.crashPrimary(primary.pid());
            lab.exec(Lab.CLIENT, "nft", "delete", "table", "inet", "sjtest");

            Path report = state.resolve("last-failover.json");
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!Files.exists(report) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(Files.exists(report), "no failover report; appliance log:\n" + LogFiles.tail(applianceLog));

            // every connection's echoes resume past what the client had before the crash
            long resumedNanos = 0;
            deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (System.nanoTime() < deadline) {
                Map<Integer, long[]> now = progress(clientLog);
                if (now.size() == CONNECTIONS && now.entrySet().stream()
                        .allMatch(e -> e.getValue()[1] > beforeCrash.get(e.getKey())[1] + 10)) {
                    resumedNanos = System.nanoTime();
                    break;
                }
                Thread.sleep(20);
            }
            assertTrue(resumedNanos > 0, "echoes did not resume on every connection; client log tail:\n"
                    + LogFiles.tail(clientLog) + "\nappliance log:\n" + LogFiles.tail(applianceLog));
            Thread.sleep(2500); // and the conversation goes on for more than 2 s on the restored sockets

            Files.writeString(stopFile, "stop\n");
            assertTrue(client.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "client did not finish");
            List<String> results = LogFiles.lines(clientLog).stream().filter(l -> l.startsWith("RESULT")).toList();
            assertEquals(CONNECTIONS, results.size(), "client log:\n" + LogFiles.tail(clientLog));
            List<String> ports = new ArrayList<>();
            for (String r : results) {
                Map<String, String> f = fields(r);
                assertEquals("none", f.get("error"), r);
                assertEquals("true", f.get("exact"), r);
                assertEquals(f.get("sent_bytes"), f.get("echoed_bytes"), r);
                assertTrue(Long.parseLong(f.get("sent_lines")) > 500, "too little traffic to prove anything: " + r);
                ports.add(f.get("port"));
            }
            assertEquals(readyPorts, String.join(" ", ports), "the same sockets carried on");
            assertEquals(0, client.exitValue(), "client reported a non-exact stream:\n" + LogFiles.tail(clientLog));

            JsonNode failover = new ObjectMapper().readTree(report.toFile());
            assertEquals(CONNECTIONS, failover.get("recovered").asInt(), failover.toPrettyString());
            assertEquals(0, failover.get("failed").asInt(), failover.toPrettyString());
            for (JsonNode c : failover.get("connections")) {
                assertEquals("recovered", c.get("outcome").asText(), c.toString());
                assertTrue(c.get("sendQueueBytes").asInt() > 0,
                        "no server data was in flight unacknowledged at the crash: " + c);
                assertTrue(c.get("bytesAwaitingAck").asInt() > 0,
                        "no client data was in flight unacknowledged at the crash: " + c);
            }
            assertFalse(LogFiles.lines(applianceLog).stream().anyMatch(l -> l.contains(" ERROR ")), LogFiles.tail(applianceLog));
            System.out.printf("crash -> echoes resumed on all %d connections: %d ms; failover total %.1f ms%n",
                    CONNECTIONS, (resumedNanos - crashNanos) / 1_000_000, failover.get("totalMillis").asDouble());
            System.out.println(failover.toPrettyString());
        } catch (AssertionError | Exception e) {
            System.out.println("--- appliance log\n" + LogFiles.tail(applianceLog) + "\n--- client log\n" + LogFiles.tail(clientLog)
                    + "\n--- primary log\n" + LogFiles.tail(primaryLog));
            throw e;
        }
    }

    private static void nft(Lab lab, String netns, String script) throws IOException {
        Path f = Files.createTempFile("sjtest", ".nft");
        try {
            Files.writeString(f, script.replace("; ", "\n") + "\n");
            lab.exec(netns, "nft", "-f", f.toString());
        } finally {
            Files.deleteIfExists(f);
        }
    }

    /** Latest PROGRESS per connection: {sent lines, echoed lines}. */
    private static Map<Integer, long[]> progress(Path log) throws IOException {
        List<String> all = LogFiles.lines(log);
        for (int i = all.size() - 1; i >= 0; i--) {
            if (all.get(i).startsWith("PROGRESS")) {
                Map<Integer, long[]> m = new HashMap<>();
                Matcher mm = PROGRESS.matcher(all.get(i));
                while (mm.find()) {
                    if (!mm.group(4).equals("none")) {
                        fail("client reported an error: " + all.get(i) + "\n" + String.join("\n", all.subList(Math.max(0, all.size() - 5), all.size())));
                    }
                    m.put(Integer.parseInt(mm.group(1)), new long[] {Long.parseLong(mm.group(2)), Long.parseLong(mm.group(3))});
                }
                return m;
            }
        }
        return Map.of();
    }

    private static Map<String, String> fields(String line) {
        Map<String, String> m = new HashMap<>();
        for (String kv : line.split(" ")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                m.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return m;
    }
}
