package io.securejeebs.recovery.status;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code securejeebs status} for a person: aligned tables of the primaries, the sessions and the last failover.
 * It reads the daemon's JSON ({@link ApplianceStatus}) as a tree, so a daemon of another version with fields
 * added or missing still prints; what is missing shows as "-".
 */
public final class StatusTable {
    private StatusTable() {}

    public static String render(JsonNode status) {
        StringBuilder out = new StringBuilder();
        Instant now = instant(status.path("generatedAt"));
        Instant started = instant(status.path("startedAt"));
        out.append("SecureJeebs appliance ").append(text(status.path("version")));
        if (started != null) {
            out.append(", up ").append(now == null ? "?" : age(Duration.between(started, now).toMillis()))
                    .append(" (since ").append(time(started)).append(')');
        }
        out.append('\n');
        out.append("config ").append(text(status.path("configFile"))).append(": ")
                .append(text(status.path("protocol"))).append(" on ").append(text(status.path("vip")))
                .append(" port(s) ").append(join(status.path("ports"))).append('\n');
        JsonNode capture = status.path("capture");
        JsonNode counters = capture.path("counters");
        out.append("capture on ").append(text(capture.path("interface"))).append(": ")
                .append(capture.path("running").asBoolean() ? "running" : "NOT RUNNING")
                .append(", ").append(counters.path("frames").asLong()).append(" frames, ")
                .append(bytes(counters.path("bytes").asLong())).append(", ")
                .append(counters.path("truncated-payloads").asLong()).append(" truncated payloads\n");

        out.append("\nPRIMARIES\n");
        Table primaries = new Table("HEARTBEAT", "STATE", "LAST SUCCESS", "MISSES", "LAST ERROR");
        for (JsonNode p : status.path("primaries")) {
            Instant last = instant(p.path("lastSuccessAt"));
            String lastText = last == null ? "never"
                    : time(last) + (now == null ? "" : " (" + age(Duration.between(last, now).toMillis()) + " ago)");
            primaries.row(text(p.path("heartbeat")), text(p.path("state")), lastText,
                    p.path("consecutiveMisses").asInt() + "/" + p.path("missesToDead").asInt(),
                    text(p.path("lastError")));
        }
        primaries.appendTo(out);

        JsonNode sessions = status.path("sessions");
        out.append("\nSESSIONS (").append(sessions.size()).append(")\n");
        if (sessions.isEmpty()) {
            out.append("none tracked\n");
        } else {
            Table t = new Table("USER", "CLIENT", "AGE", "CHANNELS", "SFTP HANDLES", "C->S", "S->C", "RECOVERABLE",
                    "REASON");
            for (JsonNode s : sessions) {
                t.row(text(s.path("user")), text(s.path("client")), age(s.path("ageMillis").asLong()),
                        text(s.path("openChannels")), sftpHandles(s.path("sftpChannels")), bytes(s.path("clientBytes").asLong()),
                        bytes(s.path("serverBytes").asLong()), (s.path("recoverable").asBoolean() ? "yes" : "no")
                                + (s.path("resuming").asBoolean() ? " (resuming)" : ""),
                        text(s.path("reason")));
            }
            t.appendTo(out);
        }

        JsonNode f = status.path("lastFailover");
        if (f.isObject()) {
            out.append("\nLAST FAILOVER\n");
            long detected = f.path("detectedEpochMillis").asLong();
            long lastAlive = f.path("lastAliveEpochMillis").asLong();
            out.append("detected ").append(detected == 0 ? "-" : time(Instant.ofEpochMilli(detected)));
            if (detected != 0 && lastAlive != 0) {
                out.append(", ").append(millis(detected - lastAlive)).append(" after the last heartbeat success");
            }
            out.append("; took ").append(millis(f.path("totalMillis").asDouble())).append(": ")
                    .append(f.path("recovered").asInt()).append(" recovered, ")
                    .append(f.path("unrecoverable").asInt()).append(" unrecoverable, ")
                    .append(f.path("failed").asInt()).append(" failed\n");
            out.append("evidence: ").append(text(f.path("evidence"))).append('\n');
            for (JsonNode claim : f.path("vipClaimedBy")) {
                out.append("WARNING: another host claims the VIP (split-brain): ").append(claim.asText()).append('\n');
            }
            Table steps = new Table("AT", "TOOK", "STEP", "DETAIL");
            for (JsonNode s : f.path("steps")) {
                steps.row("+" + millis(s.path("startMillis").asDouble()), millis(s.path("durationMillis").asDouble()),
                        text(s.path("name")), text(s.path("detail")));
            }
            steps.appendTo(out);
            if (!f.path("connections").isEmpty()) {
                Table c = new Table("CONNECTION", "OUTCOME", "AT", "RESTORE", "REASON");
                for (JsonNode s : f.path("connections")) {
                    c.row(text(s.path("connection")), text(s.path("outcome")), "+" + millis(s.path("atMillis").asDouble()),
                            millis(s.path("restoreMillis").asDouble()), text(s.path("reason")));
                }
                out.append('\n');
                c.appendTo(out);
                for (JsonNode s : f.path("connections")) {
                    if (!s.path("channels").isEmpty() || !s.path("reset").isMissingNode() && !s.path("reset").isNull()) {
                        out.append(text(s.path("connection"))).append(":\n");
                        for (JsonNode ch : s.path("channels")) {
                            out.append("  ").append(ch.asText()).append('\n');
                        }
                        if (!s.path("reset").isMissingNode() && !s.path("reset").isNull()) {
                            out.append("  client told: ").append(s.path("reset").asText()).append('\n');
                        }
                    }
                }
            }
        }
        return out.toString();
    }

    /** Columns two spaces apart, each as wide as its widest cell; the last column is not padded. */
    static final class Table {
        private final List<String[]> rows = new ArrayList<>();

        Table(String... header) {
            rows.add(header);
        }

        void row(String... cells) {
            rows.add(cells);
        }

        void appendTo(StringBuilder out) {
            int columns = rows.get(0).length;
            int[] width = new int[columns];
            for (String[] r : rows) {
                for (int i = 0; i < columns; i++) {
                    width[i] = Math.max(width[i], r[i].length());
                }
            }
            for (String[] r : rows) {
                StringBuilder line = new StringBuilder();
                for (int i = 0; i < columns; i++) {
                    line.append(r[i]);
                    if (i < columns - 1) {
                        line.append(" ".repeat(width[i] - r[i].length() + 2));
                    }
                }
                out.append(line.toString().stripTrailing()).append('\n');
            }
        }
    }

    private static String text(JsonNode n) {
        if (n == null || n.isMissingNode() || n.isNull()) {
            return "-";
        }
        String s = n.asText();
        return s.isEmpty() ? "-" : s.replaceAll("\\p{Cntrl}", " ");
    }

    /** Per SFTP channel, its id and open handles: "ch0:3 ch2:off" ("off": no longer followed); "-" if none. */
    static String sftpHandles(JsonNode channels) {
        List<String> parts = new ArrayList<>();
        for (JsonNode c : channels) {
            JsonNode notFollowed = c.path("notFollowed");
            parts.add("ch" + c.path("channel").asInt() + ":"
                    + (notFollowed.isTextual() ? "off" : String.valueOf(c.path("openHandles").asInt())));
        }
        return parts.isEmpty() ? "-" : String.join(" ", parts);
    }

    private static String join(JsonNode array) {
        List<String> parts = new ArrayList<>();
        array.forEach(n -> parts.add(n.asText()));
        return parts.isEmpty() ? "-" : String.join(",", parts);
    }

    private static Instant instant(JsonNode n) {
        if (!n.isTextual()) {
            return null;
        }
        try {
            return Instant.parse(n.asText());
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /** 2026-11-21 06:43:00Z (UTC, to the second) */
    static String time(Instant t) {
        String s = t.truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString(); // 2026-11-21T06:43:00Z
        return s.replace('T', ' ');
    }

    /** 850ms, 59s, 1m02s, 2h03m, 3d04h */
    static String age(long millis) {
        if (millis < 0) {
            return "-";
        }
        if (millis < 1000) {
            return millis + "ms";
        }
        long s = millis / 1000;
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        }
        if (s < 86400) {
            return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
        }
        return String.format(Locale.ROOT, "%dd%02dh", s / 86400, (s % 86400) / 3600);
    }

    /** 300B, 1.2KiB, 4.0MiB, 1.5GiB */
    static String bytes(long n) {
        if (n < 1024) {
            return n + "B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f%s", v, units[u]);
    }

    private static String millis(double ms) {
        return String.format(Locale.ROOT, "%.1f ms", ms);
    }
}
