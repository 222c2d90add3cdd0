package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The oracle's comparison itself, on documents shaped as the probe and {@code status --json} write them. */
class StateOracleTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String PROBE = """
            {"clientIp": "10.213.0.10", "clientPort": 40000, "serverIp": "10.213.0.100", "serverPort": 22,
             "sessionId": "064c09fc", "user": "alice", "kexCount": 4, "seqi": 17, "seqo": 19,
             "inboundPacketInProgress": false,
             "c2s": {"cipher": "aes128-ctr", "mac": "hmac-sha2-256-etm@openssh.com", "sequence": 17, "blocks": 26375},
             "s2c": {"cipher": "aes128-ctr", "mac": "hmac-sha2-256-etm@openssh.com", "sequence": 19, "blocks": 32538},
             "channels": [{"localId": 0, "remoteId": 3, "type": "session", "localWindow": 2000989,
                           "localWindowMax": 2097152, "localMaxPacket": 32768, "remoteWindow": 2097152,
                           "remoteMaxPacket": 32768, "eofSent": false, "eofReceived": true, "closeSent": false,
                           "closeReceived": false}],
             "sftpHandles": [{"handle": "0a0b0c0d", "kind": "file", "path": "/home/alice/up.bin", "offset": 32768},
                             {"handle": "0e0f", "kind": "directory", "path": "/home/alice", "offset": 0}],
             "error": null}
            """;
    private static final String STATUS = """
            {"client": "10.213.0.10:40000", "server": "10.213.0.100:22", "protocol": "ssh", "idleMillis": 900,
             "recoverable": true, "reason": null, "user": "alice", "openChannels": 1,
             "model": {"sessionIdFingerprint": "064c09fc", "keyExchanges": 4, "user": "alice",
               "clientToServer": {"cipher": "aes128-ctr", "mac": "hmac-sha2-256-etm@openssh.com", "keyEpoch": 3,
                                  "sequence": 17, "blocks": 26375, "packets": 900, "partialPacketBytes": 0},
               "serverToClient": {"cipher": "aes128-ctr", "mac": "hmac-sha2-256-etm@openssh.com", "keyEpoch": 3,
                                  "sequence": 19, "blocks": 32538, "packets": 950, "partialPacketBytes": 0},
               "channels": [{"serverId": 0, "clientId": 3, "type": "session", "serverWindow": 2000989,
                             "serverMaxPacket": 32768, "clientWindow": 2097152, "clientMaxPacket": 32768,
                             "eofFromClient": true, "eofFromServer": false, "closeFromClient": false,
                             "closeFromServer": false,
                             "sftp": {"clientVersion": 3, "version": 3, "stoppedReason": null, "handles": [
                               {"kind": "FILE", "openFlags": 1, "desiredAccess": null, "offset": 32768,
                                "handle": "0a0b0c0d", "path": "up.bin"},
                               {"kind": "DIRECTORY", "openFlags": 0, "desiredAccess": null, "offset": 0,
                                "handle": "0e0f", "path": "/home/alice"}]}}]}}
            """;

    @Test
    void theSameStateHasNoDifference() throws Exception {
        assertEquals(List.of(), StateOracle.differences(JSON.readTree(PROBE), JSON.readTree(STATUS)));
    }

    @ParameterizedTest
    @CsvSource({
            "seqi, 18, seqi / clientToServer.sequence",
            "seqo, 20, seqo / serverToClient.sequence",
            "user, bob, user",
            "kexCount, 5, kexCount / keyExchanges",
            "sessionId, 00000000, sessionId",
            "c2s.blocks, 26376, c2s / clientToServer blocks",
            "s2c.blocks, 32539, s2c / serverToClient blocks",
            "s2c.cipher, aes256-ctr, s2c / serverToClient cipher",
            "channels.0.remoteId, 4, channel 0 remoteId / clientId",
            "channels.0.localWindow, 2000988, channel 0 localWindow / serverWindow",
            "channels.0.remoteWindow, 1, channel 0 remoteWindow / clientWindow",
            "channels.0.localMaxPacket, 16384, channel 0 localMaxPacket / serverMaxPacket",
            "channels.0.remoteMaxPacket, 16384, channel 0 remoteMaxPacket / clientMaxPacket",
            "channels.0.localId, 1, channel 0: only the appliance has it",
            "sftpHandles.0.offset, 32769, sftp handle 0a0b0c0d offset",
            "sftpHandles.0.kind, directory, sftp handle 0a0b0c0d kind",
            "sftpHandles.0.path, /home/alice/other/up.bin.1, sftp handle 0a0b0c0d path",
            "sftpHandles.1.path, /home, sftp handle 0e0f path",
            "sftpHandles.1.handle, 0e0e, sftp handle 0e0e (/home/alice): only the primary has it",
    })
    void everyComparedFieldIsCaught(String field, String value, String expected) throws Exception {
        JsonNode probe = JSON.readTree(PROBE);
        String[] path = field.split("\\.");
        JsonNode node = probe;
        for (int i = 0; i < path.length - 1; i++) {
            node = path[i].matches("\\d+") ? node.get(Integer.parseInt(path[i])) : node.get(path[i]);
        }
        ObjectNode parent = (ObjectNode) node;
        String name = path[path.length - 1];
        if (value.matches("\\d+")) {
            parent.put(name, Long.parseLong(value));
        } else {
            parent.put(name, value);
        }
        List<String> d = StateOracle.differences(probe, JSON.readTree(STATUS));
        assertTrue(d.stream().anyMatch(l -> l.startsWith(expected)), field + " changed, yet: " + d);
    }

    @Test
    void anSftpPathIsTheOneAskedAsThePrimaryResolvedIt() {
        assertTrue(StateOracle.samePath("/home/alice/up.bin", "/home/alice/up.bin"));
        assertTrue(StateOracle.samePath("/home/alice/up.bin", "up.bin"));
        assertTrue(StateOracle.samePath("/home/alice/d/up.bin", "./d/up.bin"));
        assertTrue(StateOracle.samePath("/home/alice", "."), "the working directory");
        assertTrue(!StateOracle.samePath("/home/alice/up.bin", "/up.bin"));
        assertTrue(!StateOracle.samePath("/home/alice/xup.bin", "up.bin"));
        assertTrue(!StateOracle.samePath("/home/alice", "bob"));
    }

    @Test
    void anSftpChannelTheApplianceNoLongerFollowsIsADifference() throws Exception {
        ObjectNode status = (ObjectNode) JSON.readTree(STATUS);
        ObjectNode sftp = (ObjectNode) status.path("model").path("channels").path(0).path("sftp");
        sftp.put("stoppedReason", "more than 256 open SFTP handles").putArray("handles");
        List<String> d = StateOracle.differences(JSON.readTree(PROBE), status);
        assertTrue(d.contains("channel 0 sftp: the appliance no longer follows it: more than 256 open SFTP handles"),
                d.toString());
        assertTrue(d.stream().anyMatch(l -> l.startsWith("sftp handle 0a0b0c0d (/home/alice/up.bin): only the primary")),
                d.toString());
    }

    @Test
    void anUnrecoverableSessionIsADifference() throws Exception {
        ObjectNode status = (ObjectNode) JSON.readTree(STATUS);
        status.put("recoverable", false).put("reason", "s->c: capture missed 148 byte(s)").putNull("model");
        List<String> d = StateOracle.differences(JSON.readTree(PROBE), status);
        assertEquals(1, d.size(), d.toString());
        assertTrue(d.get(0).contains("capture missed 148 byte(s)"), d.toString());
    }

    @Test
    void aPartialPacketOrAnInboundPacketInProgressIsADifference() throws Exception {
        ObjectNode probe = (ObjectNode) JSON.readTree(PROBE);
        probe.put("inboundPacketInProgress", true);
        ObjectNode status = (ObjectNode) JSON.readTree(STATUS);
        ((ObjectNode) status.path("model").path("clientToServer")).put("partialPacketBytes", 16);
        List<String> d = StateOracle.differences(probe, status);
        assertTrue(d.stream().anyMatch(l -> l.startsWith("inboundPacketInProgress")), d.toString());
        assertTrue(d.stream().anyMatch(l -> l.startsWith("c2s / clientToServer partialPacketBytes")), d.toString());
    }
}
