package io.securejeebs.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.TcpSegment;
import io.securejeebs.recovery.config.ApplianceConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's own status, without capture or heartbeat running: a line-echo connection fed to its table
 * shows up with its LineEchoTracker.Resume as the model, and the primary as waiting for first contact.
 */
class ApplianceDaemonStatusTest {
    private static final int CLIENT = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 10});
    private static final int VIP = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 100});

    @TempDir
    Path dir;

    private static TcpSegment segment(boolean fromClient, int seq, int ack, int flags, String payload) {
        TcpSegment s = new TcpSegment();
        s.srcAddress = fromClient ? CLIENT : VIP;
        s.dstAddress = fromClient ? VIP : CLIENT;
        s.srcPort = fromClient ? 40000 : 7000;
        s.dstPort = fromClient ? 7000 : 40000;
        s.seq = seq;
        s.ack = ack;
        s.flags = flags;
        s.window = 1000;
        boolean syn = (flags & TcpSegment.SYN) != 0;
        s.mss = syn ? 1460 : -1;
        s.windowScale = syn ? 7 : -1;
        s.sackPermitted = syn;
        s.frame = payload.getBytes(StandardCharsets.US_ASCII);
        s.payloadLength = s.frame.length;
        s.timestampMicros = System.currentTimeMillis() * 1000;
        return s;
    }

    @Test
    void aTrackedLineEchoConnectionAndAPrimaryNotYetSeen() throws Exception {
        ApplianceConfig config = ApplianceConfig.from(ConfigFile.parse("t.conf", """
                capture.interface = eth0
                service.vip = 10.213.0.100/24
                service.ports = 7000
                service.protocol = line-echo
                primary.heartbeat = 10.213.0.2:7000
                state.dir = %s
                """.formatted(dir.resolve("state"))));
        ApplianceDaemon daemon = new ApplianceDaemon(config);
        var table = daemon.connections();
        int c = 1000;
        int s = 5000;
        table.onSegment(segment(true, c, 0, TcpSegment.SYN, ""));
        table.onSegment(segment(false, s, c + 1, TcpSegment.SYN | TcpSegment.ACK, ""));
        table.onSegment(segment(true, c + 1, s + 1, TcpSegment.ACK, ""));
        table.onSegment(segment(true, c + 1, s + 1, TcpSegment.ACK | TcpSegment.PSH, "hello\nwor"));
        table.onSegment(segment(false, s + 1, c + 10, TcpSegment.ACK | TcpSegment.PSH, "hello\n"));

        JsonNode doc = new ObjectMapper().valueToTree(daemon.status());
        assertEquals("dev", doc.get("version").asText());
        assertEquals("t.conf", doc.get("configFile").asText());
        assertEquals(false, doc.get("capture").get("running").asBoolean());
        JsonNode primary = doc.get("primaries").get(0);
        assertEquals("10.213.0.2:7000", primary.get("heartbeat").asText());
        assertEquals("waiting-for-first-contact", primary.get("state").asText());
        assertEquals(true, primary.get("lastSuccessAt").isNull());
        assertEquals(1, doc.get("sessions").size());
        JsonNode session = doc.get("sessions").get(0);
        assertEquals("10.213.0.10:40000", session.get("client").asText());
        assertEquals("10.213.0.100:7000", session.get("server").asText());
        assertEquals(9, session.get("clientBytes").asLong());
        assertEquals(6, session.get("serverBytes").asLong());
        assertEquals(true, session.get("recoverable").asBoolean(), session.toString());
        assertEquals("{\"answeredLines\":1,\"partialAnswerBytes\":0}", session.get("model").toString());
        assertEquals(true, doc.get("lastFailover").isNull());
        assertEquals(config.stateDir().resolve("control.sock"), config.controlSocket());
        daemon.close();
    }
}
