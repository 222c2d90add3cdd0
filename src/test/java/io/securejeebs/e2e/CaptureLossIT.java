package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Capture loss on the mirror path only (DESIGN §3.2: a hole in a stream makes that session unrecoverable, with the
 * reason, and never disturbs the others). Three interactive shells run; for a while, the lab's bridge drops the
 * copies of one session's frames that it floods to the appliance's port (an nftables rule in sj-lan's bridge
 * forward hook, on {@code oifname lan-appliance}): the client and the primary never notice. Once that session
 * has moved on, the appliance must call it unrecoverable, naming the missed bytes, while the other two stay
 * recoverable and exactly the primary's state. Then the primary crashes: the failover report recovers the two
 * and reports the third unrecoverable with the same reason, and the two recovered shells still answer.
 */
class CaptureLossIT {
    private static final String TABLE = "sj_capture_loss";
    /** The appliance's port on the lab's bridge (scripts/lab). */
    private static final String APPLIANCE_PORT = "lan-appliance";
    private static final Pattern LOSS = Pattern.compile("capture missed|hole", Pattern.CASE_INSENSITIVE);

    @TempDir
    Path work;

    @Test
    void aHoleInOneSessionsCaptureMakesItAloneUnrecoverable() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff)).substring(2);
        try (SshLab lab = SshLab.start(work, SshLab.probeConfig(work))) {
            StateOracle oracle = new StateOracle(lab);
            Map<String, SshLab.Shell> shells = new LinkedHashMap<>();
            shells.put("chacha", lab.openShell("chacha", null, new String[] {"-o", "Ciphers=chacha20-poly1305@openssh.com"}));
            oracle.awaitNewSession("chacha", shells.get("chacha").process);
            shells.put("gcm", lab.openShell("gcm", null, new String[] {"-o", "Ciphers=aes256-gcm@openssh.com"}));
            oracle.awaitNewSession("gcm", shells.get("gcm").process);
            shells.put("lossy", lab.openShell("lossy", null, new String[] {"-o", "Ciphers=aes128-ctr", "-o",
                    "MACs=hmac-sha2-256-etm@openssh.com"}));
            oracle.awaitNewSession("lossy", shells.get("lossy").process);
            try {
                oracle.assertAllExact("before any loss");
                String lossy = oracle.client("lossy");
                int port = Integer.parseInt(lossy.substring(lossy.lastIndexOf(':') + 1));

                Path rules = work.resolve("capture-loss.nft");
                Files.writeString(rules, """
                        table bridge %1$s {
                          chain mirror {
                            type filter hook forward priority 0; policy accept;
                            oifname "%2$s" ip saddr %3$s tcp sport %4$d counter drop
                            oifname "%2$s" ip daddr %3$s tcp dport %4$d counter drop
                          }
                        }
                        """.formatted(TABLE, APPLIANCE_PORT, Lab.CLIENT_ADDR, port));
                lab.lab.exec(Lab.LAN, "nft", "-f", rules.toString());
                long dropped;
                try {
                    // every session works on; the lossy one too: its client and the primary lose nothing
                    for (Map.Entry<String, SshLab.Shell> e : shells.entrySet()) {
                        e.getValue().type("echo during-$((3*5))-" + e.getKey() + "-" + tag + "\n");
                        e.getValue().awaitOutput("during-15-" + e.getKey() + "-" + tag, 1, Duration.ofSeconds(30));
                    }
                } finally {
                    dropped = droppedPackets(lab.lab.exec(Lab.LAN, "nft", "list", "table", "bridge", TABLE));
                    lab.lab.exec(Lab.LAN, "nft", "delete", "table", "bridge", TABLE);
                }
                assertTrue(dropped > 0, "the bridge dropped none of the lossy session's frames to the appliance");
                System.out.println("capture loss: the bridge dropped " + dropped + " frame(s) of " + lossy
                        + " on their way to the appliance");

                // the lossy session goes on: its acknowledgements now cover bytes the appliance never saw
                SshLab.Shell shell = shells.get("lossy");
                shell.type("echo after-hole-$((4*5))-" + tag + "\n");
                shell.awaitOutput("after-hole-20-" + tag, 1, Duration.ofSeconds(30));
                String reason = awaitUnrecoverable(lab, lossy);
                assertTrue(LOSS.matcher(reason).find(), "the reason does not name the hole: " + reason);
                System.out.println("capture loss: " + lossy + " is unrecoverable: " + reason);
                oracle.forget("lossy");
                oracle.assertAllExact("after another session's capture loss");
                assertNotNull(StateOracle.probeSession(lab.probe(), lossy), "the primary lost the lossy session");

                lab.crashPrimary();
                for (String name : oracle.names()) {
                    shells.get(name).type("echo after-crash-$((6*7))-" + name + "-" + tag + "\n");
                    shells.get(name).awaitOutput("after-crash-42-" + name + "-" + tag, 1, Duration.ofSeconds(30));
                }
                Path reportFile = lab.awaitFailoverReport(Duration.ofSeconds(30));
                assertNotNull(reportFile, "no failover report");
                JsonNode report = new ObjectMapper().readTree(reportFile.toFile());
                assertEquals(2, report.path("recovered").asInt(), report.toPrettyString());
                assertEquals(1, report.path("unrecoverable").asInt(), report.toPrettyString());
                assertEquals(0, report.path("failed").asInt(), report.toPrettyString());
                Map<String, JsonNode> outcomes = new LinkedHashMap<>();
                for (JsonNode c : report.path("connections")) {
                    outcomes.put(c.path("connection").asText(), c);
                }
                JsonNode lost = outcomes.get(lossy + "->" + Lab.VIP + ":22");
                assertNotNull(lost, lossy + " is not in the report:\n" + report.toPrettyString());
                assertEquals("unrecoverable", lost.path("outcome").asText(), report.toPrettyString());
                assertEquals(reason, lost.path("reason").asText(), report.toPrettyString());
                for (String name : oracle.names()) {
                    JsonNode c = outcomes.get(oracle.client(name) + "->" + Lab.VIP + ":22");
                    assertNotNull(c, name + " is not in the report:\n" + report.toPrettyString());
                    assertEquals("recovered", c.path("outcome").asText(), name + ":\n" + report.toPrettyString());
                }
            } catch (AssertionError | Exception e) {
                System.out.println("--- appliance log\n" + LogFiles.tail(lab.applianceLog));
                throw e;
            }
        }
    }

    /** Waits until the appliance calls the session unrecoverable; returns the reason. */
    private static String awaitUnrecoverable(SshLab lab, String client) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        JsonNode status = null;
        while (System.nanoTime() < deadline) {
            status = lab.status();
            JsonNode s = StateOracle.statusSession(status, client);
            assertNotNull(s, client + " is no longer tracked:\n" + status.toPrettyString());
            if (!s.path("recoverable").asBoolean()) {
                return s.path("reason").asText();
            }
            Thread.sleep(50);
        }
        fail(client + " lost frames on the mirror path, yet the appliance still calls it recoverable:\n"
                + status.toPrettyString());
        return null;
    }

    private static long droppedPackets(String table) {
        long n = 0;
        for (Matcher m = Pattern.compile("counter packets (\\d+)").matcher(table); m.find(); ) {
            n += Long.parseLong(m.group(1));
        }
        return n;
    }
}
