package io.securejeebs.recovery.status;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.app.SessionSummary;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.failover.FailoverReport;
import io.securejeebs.recovery.failover.Heartbeat;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The status document's JSON, field by field: what the CLI, scripts and tests read. */
class ApplianceStatusTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long NOW = Instant.parse("2026-11-21T10:00:00Z").toEpochMilli();

    /**
     * What an SSH tracker's model will look like to status: a Jackson-friendly record that knows user, channels
     * and SFTP channels.
     */
    record SshModel(String user, int openChannels, List<String> channelTypes, List<SftpChannel> sftpChannels)
            implements SessionSummary {}

    static ApplianceConfig config() throws Exception {
        return ApplianceConfig.from(ConfigFile.parse("/etc/securejeebs/securejeebs.conf", """
                capture.interface = eth0
                service.vip = 10.213.0.100/24
                service.ports = 7000
                service.protocol = line-echo
                primary.heartbeat = 10.213.0.2:7000
                state.dir = /var/lib/sj-test
                """));
    }

    static ConnectionSnapshot snapshot(int clientLastOctet, int clientPort, long openedAgoMillis, Object resume,
                                       String reason) {
        ConnectionKey key = new ConnectionKey(new Endpoint(Endpoint.ipv4(new byte[] {10, (byte) 213, 0, (byte) clientLastOctet}),
                clientPort), new Endpoint(Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 100}), 7000));
        long opened = (NOW - openedAgoMillis) * 1000;
        return new ConnectionSnapshot(key, "line-echo", opened, NOW * 1000 - 2_000, null, 0, new byte[0], 0,
                new byte[0], 0, 0, 0, null, 1234, 5678, resume, reason);
    }

    static ApplianceStatus sample() throws Exception {
        FailoverReport report = new FailoverReport();
        report.evidence = "3 consecutive heartbeat misses every 100 ms (last: Connection refused)";
        report.lastAliveEpochMillis = NOW - 400;
        report.detectedEpochMillis = NOW - 100;
        report.totalMillis = 88.25;
        report.recovered = 1;
        report.steps.add(new FailoverReport.Step("guard", 0.5, 1.25, "1 connection(s)"));
        report.connections.add(new FailoverReport.ConnectionOutcome("10.213.0.10:40000->10.213.0.100:7000",
                "recovered", null, 50.0, 5.0, 0, 0, 0, null, java.util.List.of("ch0 shell: fresh login shell started"), null));
        report.connections.add(new FailoverReport.ConnectionOutcome("10.213.0.13:40003->10.213.0.100:7000",
                "unrecoverable", "the initial key exchange has not completed", 51.0, 0, 0, 0, 0, null, java.util.List.of(),
                "RST seq 100 ack 200"));
        report.vipClaimedBy.add("aa:bb:cc:dd:ee:ff at 2026-11-21T10:00:00Z");
        Heartbeat.Status hb = new Heartbeat.Status(new InetSocketAddress("10.213.0.2", 7000), Heartbeat.State.ALIVE,
                NOW - 150, 0, 3, Duration.ofMillis(100), null);
        return ApplianceStatus.of("0.1.0", Instant.ofEpochMilli(NOW - 3_723_000), config(), true,
                Map.of("frames", 10L), List.of(hb), report, List.of(
                        snapshot(11, 40001, 65_000, new SshModel("alice", 3, List.of("session", "session", "session"),
                                List.of(new SessionSummary.SftpChannel(1, 3, null),
                                        new SessionSummary.SftpChannel(2, 0, "not SFTP: a client packet length of 0"))),
                                null),
                        snapshot(10, 40000, 5_000, new LineEchoTracker.Resume(3, 1), null),
                        snapshot(12, 40002, 500, null, "s->c: a hole in the captured server data")),
                NOW, JSON);
    }

    @Test
    void oneSessionOfEachKind() throws Exception {
        JsonNode doc = JSON.valueToTree(sample());
        assertEquals(List.of("version", "generatedAt", "startedAt", "configFile", "protocol", "vip", "ports", "capture",
                "primaries", "lastFailover", "sessions"), fieldNames(doc));
        assertEquals("2026-11-21T10:00:00Z", doc.get("generatedAt").asText());
        assertEquals("2026-11-21T08:57:57Z", doc.get("startedAt").asText());
        assertEquals("/etc/securejeebs/securejeebs.conf", doc.get("configFile").asText());
        assertEquals("10.213.0.100/24", doc.get("vip").asText());
        assertEquals("{\"interface\":\"eth0\",\"running\":true,\"counters\":{\"frames\":10}}", doc.get("capture").toString());
        assertEquals("[{\"heartbeat\":\"10.213.0.2:7000\",\"state\":\"alive\",\"lastSuccessAt\":\"2026-11-21T09:59:59.850Z\","
                + "\"consecutiveMisses\":0,\"missesToDead\":3,\"intervalMillis\":100,\"lastError\":null}]",
                doc.get("primaries").toString());

        JsonNode sessions = doc.get("sessions");
        assertEquals(3, sessions.size());
        assertEquals("{\"client\":\"10.213.0.10:40000\",\"server\":\"10.213.0.100:7000\",\"protocol\":\"line-echo\","
                + "\"ageMillis\":5000,\"idleMillis\":2,\"clientBytes\":1234,\"serverBytes\":5678,\"recoverable\":true,"
                + "\"reason\":null,\"user\":null,\"openChannels\":null,\"sftpChannels\":null,"
                + "\"model\":{\"answeredLines\":3,\"partialAnswerBytes\":1},\"resuming\":false}", sessions.get(0).toString(),
                "line-echo: no user, the Resume record as the model");
        assertEquals("{\"client\":\"10.213.0.11:40001\",\"server\":\"10.213.0.100:7000\",\"protocol\":\"line-echo\","
                + "\"ageMillis\":65000,\"idleMillis\":2,\"clientBytes\":1234,\"serverBytes\":5678,\"recoverable\":true,"
                + "\"reason\":null,\"user\":\"alice\",\"openChannels\":3,\"sftpChannels\":["
                + "{\"channel\":1,\"openHandles\":3,\"notFollowed\":null},"
                + "{\"channel\":2,\"openHandles\":0,\"notFollowed\":\"not SFTP: a client packet length of 0\"}],"
                + "\"model\":{\"user\":\"alice\",\"openChannels\":3,\"channelTypes\":[\"session\",\"session\",\"session\"],"
                + "\"sftpChannels\":[{\"channel\":1,\"openHandles\":3,\"notFollowed\":null},"
                + "{\"channel\":2,\"openHandles\":0,\"notFollowed\":\"not SFTP: a client packet length of 0\"}]},"
                + "\"resuming\":false}",
                sessions.get(1).toString(), "a SessionSummary gives user, channels and SFTP channels");
        assertEquals(false, sessions.get(2).get("recoverable").asBoolean());
        assertEquals("s->c: a hole in the captured server data", sessions.get(2).get("reason").asText());
        assertEquals(true, sessions.get(2).get("model").isNull());

        JsonNode f = doc.get("lastFailover");
        assertEquals(88.25, f.get("totalMillis").asDouble());
        assertEquals("guard", f.get("steps").get(0).get("name").asText());
        assertEquals("recovered", f.get("connections").get(0).get("outcome").asText());
    }

    @Test
    void aModelJacksonCannotSerialiseIsReportedNotFatal() {
        Object opaque = new Object() {
            @SuppressWarnings("unused")
            public Object getSelf() {
                return this; // a cycle
            }
        };
        JsonNode n = ApplianceStatus.model(opaque, JSON);
        assertEquals(true, n.has("unserialisable"), n.toString());
    }

    @Test
    void heartbeatStatesHaveKebabCaseNames() {
        assertEquals("waiting-for-first-contact", ApplianceStatus.stateName(Heartbeat.State.WAITING_FOR_FIRST_CONTACT));
        assertEquals("dead", ApplianceStatus.stateName(Heartbeat.State.DEAD));
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
