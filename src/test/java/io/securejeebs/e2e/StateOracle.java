package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The oracle of issue 4: the primary's own state (its TEST-ONLY probe, read under MINA's transport locks) against
 * the appliance's model of the same session ({@code securejeebs status --json}), field by field, the open SFTP
 * handles included. Sessions are matched by the client's address and port.
 *
 * <p>They can only be equal at a quiet moment: the appliance follows the client's bytes once the primary has
 * acknowledged them, and the two documents are read one after the other. A comparison therefore waits until
 * the appliance has captured nothing of the session for {@link #QUIET} before the probe was read (the status
 * is read after the probe, and its {@code idleMillis} says how long the capture has been silent).
 */
final class StateOracle {
    /** Silence on the wire before the probe is read. Longer than a delayed ACK; not a measured threshold. */
    static final Duration QUIET = Duration.ofMillis(300);
    private static final Duration QUIET_WAIT = Duration.ofSeconds(30);

    private final SshLab lab;
    /** Client address:port by session name, in the order they were opened. */
    private final Map<String, String> sessions = new LinkedHashMap<>();

    StateOracle(SshLab lab) {
        this.lab = lab;
    }

    /** The primary's and the appliance's documents for one session, read at a quiet moment. */
    record Pair(JsonNode probe, JsonNode status) {}

    /**
     * Waits for the primary's next authenticated session from a client not seen before, and names it.
     *
     * @param client the client process (its early exit fails the wait with its log)
     * @return the client's address:port
     */
    String awaitNewSession(String name, Process client) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        JsonNode probe = null;
        while (System.nanoTime() < deadline) {
            probe = lab.probe();
            for (JsonNode s : probe.path("sessions")) {
                String id = s.path("clientIp").asText() + ":" + s.path("clientPort").asInt();
                if (!s.path("user").isNull() && !sessions.containsValue(id)) {
                    sessions.put(name, id);
                    return id;
                }
            }
            if (client != null && !client.isAlive()) {
                fail(name + ": the client exited with " + client.exitValue() + " before its session was up");
            }
            Thread.sleep(50);
        }
        fail(name + ": no new authenticated session on the primary within 30 s; probe:\n"
                + (probe == null ? "(none)" : probe.toPrettyString()));
        return null;
    }

    String client(String name) {
        String id = sessions.get(name);
        if (id == null) {
            throw new IllegalArgumentException("no session named " + name + " (" + sessions.keySet() + ")");
        }
        return id;
    }

    Set<String> names() {
        return sessions.keySet();
    }

    /** Forgets a session that has ended. */
    void forget(String name) {
        sessions.remove(name);
    }

    /** Both documents for one session at a quiet moment (waits for one). */
    Pair quiet(String name) throws Exception {
        String client = client(name);
        long deadline = System.nanoTime() + QUIET_WAIT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            long t0 = System.nanoTime();
            JsonNode probe = lab.probe();
            JsonNode status = lab.status();
            long elapsedMillis = (System.nanoTime() - t0) / 1_000_000;
            JsonNode p = probeSession(probe, client);
            JsonNode s = statusSession(status, client);
            if (p == null || s == null) {
                fail(name + " (" + client + "): " + (p == null ? "the primary" : "the appliance")
                        + " has no such session\nprimary probe:\n" + probe.toPrettyString()
                        + "\nappliance status:\n" + status.toPrettyString());
            }
            long idle = s.path("idleMillis").asLong();
            long missing = QUIET.toMillis() + elapsedMillis - idle;
            if (missing <= 0) {
                return new Pair(p, s);
            }
            last = "idle " + idle + " ms, documents read in " + elapsedMillis + " ms";
            Thread.sleep(Math.max(10, missing));
        }
        fail(name + " (" + client + "): never quiet for " + QUIET.toMillis() + " ms within " + QUIET_WAIT.toSeconds()
                + " s (" + last + ")");
        return null;
    }

    /**
     * Asserts that the appliance's model of the session is exactly the primary's state, at a quiet moment.
     *
     * @return the pair compared
     */
    Pair assertExact(String name, String when) throws Exception {
        Pair q = quiet(name);
        List<String> diffs = differences(q.probe(), q.status());
        if (!diffs.isEmpty()) {
            fail(name + " (" + client(name) + ") " + when + ": the appliance's model is not the primary's state:\n  "
                    + String.join("\n  ", diffs) + "\nprimary probe:\n" + q.probe().toPrettyString()
                    + "\nappliance status:\n" + q.status().toPrettyString());
        }
        System.out.println("oracle: " + name + " " + when + ": equal: " + summary(q.probe()));
        return q;
    }

    /** {@link #assertExact} for every named session. */
    void assertAllExact(String when) throws Exception {
        for (String name : List.copyOf(sessions.keySet())) {
            assertExact(name, when);
        }
    }

    /** The compared values, for the test's output. */
    static String summary(JsonNode p) {
        StringBuilder b = new StringBuilder();
        b.append("kex ").append(p.path("kexCount").asInt()).append(", seqi ").append(p.path("seqi").asLong())
                .append(", seqo ").append(p.path("seqo").asLong())
                .append(", c2s ").append(p.path("c2s").path("cipher").asText()).append(" blocks ")
                .append(p.path("c2s").path("blocks").asLong())
                .append(", s2c blocks ").append(p.path("s2c").path("blocks").asLong());
        for (JsonNode c : p.path("channels")) {
            b.append(", channel ").append(c.path("localId").asLong()).append('/').append(c.path("remoteId").asLong())
                    .append(' ').append(c.path("type").asText()).append(" windows ").append(c.path("localWindow").asLong())
                    .append('/').append(c.path("remoteWindow").asLong());
        }
        return b.toString();
    }

    /** Every field the primary and the appliance must agree on, as "field: primary X, appliance Y" lines. */
    static List<String> differences(JsonNode p, JsonNode s) {
        List<String> d = new ArrayList<>();
        JsonNode m = s.path("model");
        if (!s.path("recoverable").asBoolean() || m.isNull() || m.isMissingNode()) {
            d.add("the appliance says the session is not recoverable: " + s.path("reason").asText());
            return d;
        }
        same(d, "probe error", null, p.get("error"));
        same(d, "inboundPacketInProgress", p.get("inboundPacketInProgress"), jsonFalse());
        same(d, "user", p.get("user"), m.get("user"));
        same(d, "user (status)", p.get("user"), s.get("user"));
        same(d, "sessionId", p.get("sessionId"), m.get("sessionIdFingerprint"));
        same(d, "kexCount / keyExchanges", p.get("kexCount"), m.get("keyExchanges"));
        same(d, "seqi / clientToServer.sequence", p.get("seqi"), m.path("clientToServer").get("sequence"));
        same(d, "seqo / serverToClient.sequence", p.get("seqo"), m.path("serverToClient").get("sequence"));
        direction(d, "c2s / clientToServer", p.path("c2s"), m.path("clientToServer"));
        direction(d, "s2c / serverToClient", p.path("s2c"), m.path("serverToClient"));

        Map<Long, JsonNode> primary = new TreeMap<>();
        for (JsonNode c : p.path("channels")) {
            primary.put(c.path("localId").asLong(), c);
        }
        Map<Long, JsonNode> appliance = new TreeMap<>();
        for (JsonNode c : m.path("channels")) {
            appliance.put(c.path("serverId").asLong(), c);
        }
        same(d, "open channels (status)", jsonNumber(primary.size()), s.get("openChannels"));
        Set<Long> ids = new TreeSet<>(primary.keySet());
        ids.addAll(appliance.keySet());
        for (long id : ids) {
            JsonNode pc = primary.get(id);
            JsonNode ac = appliance.get(id);
            if (pc == null || ac == null) {
                d.add("channel " + id + ": only " + (pc == null ? "the appliance" : "the primary") + " has it");
                continue;
            }
            String c = "channel " + id + " ";
            same(d, c + "remoteId / clientId", pc.get("remoteId"), ac.get("clientId"));
            same(d, c + "type", pc.get("type"), ac.get("type"));
            same(d, c + "localWindow / serverWindow", pc.get("localWindow"), ac.get("serverWindow"));
            same(d, c + "localMaxPacket / serverMaxPacket", pc.get("localMaxPacket"), ac.get("serverMaxPacket"));
            same(d, c + "remoteWindow / clientWindow", pc.get("remoteWindow"), ac.get("clientWindow"));
            same(d, c + "remoteMaxPacket / clientMaxPacket", pc.get("remoteMaxPacket"), ac.get("clientMaxPacket"));
            same(d, c + "eofReceived / eofFromClient", pc.get("eofReceived"), ac.get("eofFromClient"));
            same(d, c + "eofSent / eofFromServer", pc.get("eofSent"), ac.get("eofFromServer"));
            same(d, c + "closeReceived / closeFromClient", pc.get("closeReceived"), ac.get("closeFromClient"));
            same(d, c + "closeSent / closeFromServer", pc.get("closeSent"), ac.get("closeFromServer"));
        }
        sftp(d, p.path("sftpHandles"), m.path("channels"));
        return d;
    }

    /**
     * The SFTP handles the primary's subsystems hold open (per session: MINA's SFTP events do not know the channel)
     * against those of the appliance's SFTP channels, matched by handle: kind, offset past the latest read or
     * write, and path (the primary has the path it resolved, the appliance the one the client asked:
     * {@link #samePath}). An SFTP channel the appliance no longer follows is a difference.
     */
    private static void sftp(List<String> d, JsonNode primaryHandles, JsonNode applianceChannels) {
        Map<String, JsonNode> primary = new TreeMap<>();
        for (JsonNode h : primaryHandles) {
            primary.put(h.path("handle").asText(), h);
        }
        Map<String, JsonNode> appliance = new TreeMap<>();
        for (JsonNode c : applianceChannels) {
            JsonNode sftp = c.path("sftp");
            if (!sftp.isObject()) {
                continue;
            }
            if (sftp.hasNonNull("stoppedReason")) {
                d.add("channel " + c.path("serverId").asLong() + " sftp: the appliance no longer follows it: "
                        + sftp.path("stoppedReason").asText());
            }
            for (JsonNode h : sftp.path("handles")) {
                appliance.put(h.path("handle").asText(), h);
            }
        }
        Set<String> handles = new TreeSet<>(primary.keySet());
        handles.addAll(appliance.keySet());
        for (String handle : handles) {
            JsonNode ph = primary.get(handle);
            JsonNode ah = appliance.get(handle);
            if (ph == null || ah == null) {
                JsonNode one = ph == null ? ah : ph;
                d.add("sftp handle " + handle + " (" + one.path("path").asText() + "): only "
                        + (ph == null ? "the appliance" : "the primary") + " has it");
                continue;
            }
            String h = "sftp handle " + handle + " ";
            same(d, h + "kind", ph.path("kind"), TextNode.valueOf(ah.path("kind").asText().toLowerCase(Locale.ROOT)));
            same(d, h + "offset", ph.get("offset"), ah.get("offset"));
            String resolved = ph.path("path").asText();
            String asked = ah.path("path").asText();
            if (!samePath(resolved, asked)) {
                d.add(h + "path: primary " + resolved + ", appliance " + asked);
            }
        }
    }

    /**
     * Whether the path the primary resolved is the one the client asked: the same absolute path, or a relative
     * one that ends it ("." and "" are the working directory, which only the primary knows).
     */
    static boolean samePath(String resolved, String asked) {
        Path r = Path.of(resolved).normalize();
        Path a = Path.of(asked).normalize();
        return a.isAbsolute() ? r.equals(a) : a.toString().isEmpty() || r.endsWith(a);
    }

    private static void direction(List<String> d, String name, JsonNode p, JsonNode m) {
        same(d, name + " cipher", p.get("cipher"), m.get("cipher"));
        same(d, name + " mac", p.get("mac"), m.get("mac"));
        same(d, name + " sequence", p.get("sequence"), m.get("sequence"));
        same(d, name + " blocks", p.get("blocks"), m.get("blocks"));
        same(d, name + " partialPacketBytes", jsonNumber(0), m.get("partialPacketBytes"));
    }

    /** Null, missing and JSON null are one; numbers compare by value (an int and a long node are equal). */
    private static void same(List<String> d, String field, JsonNode primary, JsonNode appliance) {
        boolean pn = primary == null || primary.isNull() || primary.isMissingNode();
        boolean an = appliance == null || appliance.isNull() || appliance.isMissingNode();
        boolean equal;
        if (pn || an) {
            equal = pn && an;
        } else if (primary.isNumber() && appliance.isNumber()) {
            equal = primary.asLong() == appliance.asLong();
        } else {
            equal = primary.equals(appliance);
        }
        if (!equal) {
            d.add(field + ": primary " + (pn ? "null" : primary) + ", appliance " + (an ? "null" : appliance));
        }
    }

    private static JsonNode jsonNumber(long n) {
        return LongNode.valueOf(n);
    }

    private static JsonNode jsonFalse() {
        return BooleanNode.FALSE;
    }

    static JsonNode probeSession(JsonNode probe, String client) {
        for (JsonNode s : probe.path("sessions")) {
            if ((s.path("clientIp").asText() + ":" + s.path("clientPort").asInt()).equals(client)) {
                return s;
            }
        }
        return null;
    }

    static JsonNode statusSession(JsonNode status, String client) {
        for (JsonNode s : status.path("sessions")) {
            if (s.path("client").asText().equals(client)) {
                return s;
            }
        }
        return null;
    }
}
