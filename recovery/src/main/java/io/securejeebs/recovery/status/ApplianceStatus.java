package io.securejeebs.recovery.status;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.securejeebs.monitor.app.SessionSummary;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.failover.FailoverReport;
import io.securejeebs.recovery.failover.Heartbeat;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code securejeebs status} gets from the daemon: one JSON document (field names = JSON names).
 *
 * @param version the appliance's version (its jar's Implementation-Version; "dev" when not packaged)
 * @param generatedAt when this document was made (ISO-8601, UTC)
 * @param startedAt when the daemon started
 * @param configFile the config file the daemon runs with
 * @param protocol the protected service's protocol (service.protocol)
 * @param vip the virtual IP with its prefix length
 * @param ports the watched service ports
 * @param capture the capture interface, whether capture runs, and its frame counters
 * @param primaries each primary's heartbeat
 * @param lastFailover the last failover's report, or null if there was none since the daemon started
 * @param sessions every tracked connection that is not closed, by client address
 */
public record ApplianceStatus(String version, String generatedAt, String startedAt, String configFile, String protocol,
                              String vip, List<Integer> ports, Capture capture, List<Primary> primaries,
                              FailoverReport lastFailover, List<Session> sessions) {

    /** @param counters {@code FrameCounters.asMap()} */
    public record Capture(@JsonProperty("interface") String interfaceName, boolean running,
                          Map<String, Long> counters) {}

    /**
     * @param heartbeat the address the heartbeat probes
     * @param state waiting-for-first-contact, alive, missing (alive, but the last probes failed), dead, stopped
     * @param lastSuccessAt the last successful probe (ISO-8601), null if none yet
     * @param consecutiveMisses failed probes since the last success
     * @param missesToDead consecutive misses that declare the primary dead (heartbeat.misses)
     * @param intervalMillis heartbeat.interval
     * @param lastError what the last failed probe said, null if none failed yet
     */
    public record Primary(String heartbeat, String state, String lastSuccessAt, int consecutiveMisses,
                          int missesToDead, long intervalMillis, String lastError) {}

    /**
     * One tracked connection.
     *
     * @param client client address:port
     * @param server server address:port (the VIP)
     * @param protocol the application protocol tracked on it
     * @param ageMillis since its SYN (or first segment) was captured, on the capture clock
     * @param idleMillis since its last captured segment
     * @param clientBytes client-to-server stream bytes seen
     * @param serverBytes server-to-client stream bytes seen
     * @param recoverable whether a failover now would restore it
     * @param reason why it would not, null if it would
     * @param user the session's user, when the tracker knows users ({@link SessionSummary}); else null
     * @param openChannels the session's open channels, when the tracker knows them; else null
     * @param sftpChannels its SFTP channels with the number of handles open on each (or why they are not
     *                     followed), when the tracker knows channels; else null
     * @param model the tracker's whole resume state as Jackson serialises it; null when the connection is
     *              not recoverable (the tracker's state is not kept then)
     * @param resuming whether it is followed from its checkpoint (this appliance restarted) and has shown no
     *                 traffic since
     */
    public record Session(String client, String server, String protocol, long ageMillis, long idleMillis,
                          long clientBytes, long serverBytes, boolean recoverable, String reason, String user,
                          Integer openChannels, List<SessionSummary.SftpChannel> sftpChannels, JsonNode model,
                          boolean resuming) {}

    /** The JSON name of a heartbeat state: {@code WAITING_FOR_FIRST_CONTACT} is {@code waiting-for-first-contact}. */
    public static String stateName(Heartbeat.State state) {
        return state.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * Puts the document together.
     *
     * @param nowEpochMillis the wall clock; the capture clock is the same clock in microseconds
     */
    public static ApplianceStatus of(String version, Instant started, ApplianceConfig config, boolean captureRunning,
                                     Map<String, Long> counters, List<Heartbeat.Status> heartbeats,
                                     FailoverReport lastFailover, List<ConnectionSnapshot> connections,
                                     long nowEpochMillis, ObjectMapper json) {
        List<Primary> primaries = new ArrayList<>();
        for (Heartbeat.Status h : heartbeats) {
            primaries.add(new Primary(h.target().getAddress().getHostAddress() + ":" + h.target().getPort(),
                    stateName(h.state()),
                    h.lastAliveEpochMillis() == 0 ? null : Instant.ofEpochMilli(h.lastAliveEpochMillis()).toString(),
                    h.consecutiveMisses(), h.missesToDead(), h.interval().toMillis(), h.lastError()));
        }
        long nowMicros = nowEpochMillis * 1000;
        List<ConnectionSnapshot> sorted = new ArrayList<>(connections);
        sorted.sort(Comparator.comparingLong((ConnectionSnapshot s) -> s.key().client().address() & 0xffffffffL)
                .thenComparingInt(s -> s.key().client().port()));
        List<Session> sessions = new ArrayList<>();
        for (ConnectionSnapshot s : sorted) {
            Object resume = s.resume();
            String user = null;
            Integer channels = null;
            List<SessionSummary.SftpChannel> sftp = null;
            if (resume instanceof SessionSummary summary) {
                user = summary.user();
                channels = summary.openChannels();
                sftp = summary.sftpChannels();
            }
            sessions.add(new Session(s.key().client().toString(), s.key().server().toString(), s.protocol(),
                    Math.max(0, (nowMicros - s.openedMicros()) / 1000), Math.max(0, (nowMicros - s.lastSeenMicros()) / 1000),
                    s.clientBytes(), s.serverBytes(), s.recoverable(), s.unrecoverableReason(), user, channels,
                    sftp, model(resume, json), s.resuming()));
        }
        return new ApplianceStatus(version, Instant.ofEpochMilli(nowEpochMillis).toString(), started.toString(),
                config.sourceName(), config.protocol(), config.vip().toString(), config.servicePorts(),
                new Capture(config.capture().interfaceName(), captureRunning, counters), primaries, lastFailover,
                sessions);
    }

    /** The tracker's resume state as JSON; a state Jackson cannot serialise is reported, never fatal. */
    static JsonNode model(Object resume, ObjectMapper json) {
        if (resume == null) {
            return null;
        }
        try {
            return json.valueToTree(resume);
        } catch (IllegalArgumentException e) {
            ObjectNode n = json.createObjectNode();
            n.put("unserialisable", resume.getClass().getName());
            n.put("error", String.valueOf(e.getMessage()));
            return n;
        }
    }
}
