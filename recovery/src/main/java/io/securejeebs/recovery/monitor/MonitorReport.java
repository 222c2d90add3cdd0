package io.securejeebs.recovery.monitor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.DirectionModel;
import io.securejeebs.monitor.ssh.SftpHandle;
import io.securejeebs.monitor.ssh.SftpModel;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.util.List;
import java.util.Map;

/**
 * What {@code securejeebs monitor --pcap} found: per connection, its 4-tuple, whether it could be
 * recovered at the end of the capture (and if not, why), and the SSH model the tracker built. Printed as
 * a readable block per session, or as one JSON document. Neither form ever holds a secret: keys, the
 * replay prefix, the KEX record, passwords, channel data and request payloads are {@code @JsonIgnore}d in
 * the model and never rendered. Of an SFTP channel it shows the version and the open handles (path, flags,
 * offset, handle in hex), never file data.
 *
 * @param frameCount frames read from the file
 * @param truncation how the file broke off, or null if it ended cleanly
 * @param records where the KEX records came from (database URL redacted, no password)
 * @param servers the watched server endpoints
 * @param frames the frame decoder's counters
 */
public record MonitorReport(String file, String linkType, long frameCount, String truncation, String records,
                            List<String> servers, Map<String, Long> frames, List<Session> sessions) {

    /** The mapper for the JSON form (records with their {@code @JsonIgnore}d secrets left out). */
    public static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * One connection.
     *
     * @param reason why it could not be recovered at the end of the capture, or null if it could
     * @param opened the first captured segment (ISO-8601, UTC)
     * @param clientBytes client-to-server stream bytes captured
     * @param ssh the tracker's model at the end of the capture (or where tracking stopped)
     */
    public record Session(String client, String server, String protocol, boolean recoverable, String reason,
                          String opened, String lastSeen, long clientBytes, long serverBytes, SshSessionModel ssh) {
        static Session of(OfflineMonitor.Tracked t) {
            ConnectionSnapshot s = t.snapshot();
            return new Session(t.key().client().toString(), t.key().server().toString(), "ssh", t.reason() == null,
                    t.reason(), s == null ? null : OfflineMonitor.instant(s.openedMicros()),
                    s == null ? null : OfflineMonitor.instant(s.lastSeenMicros()),
                    s == null ? 0 : s.clientBytes(), s == null ? 0 : s.serverBytes(), t.model());
        }
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("the report does not serialise", e);
        }
    }

    public String toText() {
        StringBuilder o = new StringBuilder();
        o.append(file).append(": ").append(linkType).append(", ").append(frameCount).append(" frames, ")
                .append(frames.getOrDefault("tcp-segments", 0L)).append(" TCP segments");
        if (truncation != null) {
            o.append("\n  WARNING: ").append(truncation).append("; what came before it is reported");
        }
        o.append("\nwatched servers: ").append(servers.isEmpty() ? "none (no TCP to port 22 in the file)"
                : String.join(", ", servers));
        o.append("\nKEX records: ").append(records);
        o.append("\n").append(sessions.size()).append(sessions.size() == 1 ? " connection" : " connections")
                .append(", ").append(sessions.stream().filter(Session::recoverable).count()).append(" recoverable\n");
        for (Session s : sessions) {
            o.append('\n');
            session(o, s);
        }
        return o.toString();
    }

    private static void session(StringBuilder o, Session s) {
        o.append(s.client()).append(" -> ").append(s.server()).append("  ").append(s.protocol()).append("  ")
                .append(s.recoverable() ? "RECOVERABLE" : "NOT RECOVERABLE: " + s.reason()).append('\n');
        if (s.opened() != null) {
            line(o, "tcp", "c->s " + s.clientBytes() + " B, s->c " + s.serverBytes() + " B, first segment "
                    + s.opened() + ", last " + s.lastSeen());
        }
        SshSessionModel m = s.ssh();
        if (m == null) {
            return;
        }
        line(o, "versions", "client " + orNone(m.clientVersion()) + ", server " + orNone(m.serverVersion()));
        line(o, "session", m.sessionIdFingerprint() == null ? "no KEX record applied"
                : "sid " + m.sessionIdFingerprint() + ", strict KEX " + yesNo(m.strictKex()) + ", "
                    + m.keyExchanges() + (m.keyExchanges() == 1 ? " key exchange" : " key exchanges"));
        line(o, "user", m.user() == null ? "not authenticated (" + m.authAttempts() + " attempt(s))"
                : m.user() + " (" + m.authMethod() + ", " + m.authAttempts() + " attempt(s))");
        line(o, "c->s", direction(m.clientToServer()));
        line(o, "s->c", direction(m.serverToClient()));
        for (ChannelModel ch : m.channels()) {
            channel(o, ch);
        }
        line(o, "next", "server channel id " + m.nextServerChannelId() + "; global requests after the prefix: "
                + (m.globalRequests() == null ? 0 : m.globalRequests().size()));
        line(o, "prefix", m.prefixLength() + " B, " + m.prefixPackets() + " packets, "
                + (m.prefixComplete() ? "complete" : "open (nothing but setup so far)")
                + (m.prefixMaxChannelId() < 0 ? ", no channel opened in it"
                    : ", channels opened in it up to id " + m.prefixMaxChannelId()));
    }

    private static String direction(DirectionModel d) {
        String cipher = d.cipher() + (d.mac() == null ? "" : " + " + d.mac());
        return cipher + ", key epoch " + d.keyEpoch() + ", next seq " + d.sequence() + ", cipher position "
                + d.blocks() + " blocks, " + d.packets() + " packets" + (d.partialPacketBytes() == 0 ? ""
                : ", " + d.partialPacketBytes() + " B of an incomplete packet");
    }

    private static void channel(StringBuilder o, ChannelModel ch) {
        StringBuilder what = new StringBuilder();
        what.append(ch.serverId()).append(" (client id ").append(ch.clientId()).append(") ").append(ch.type());
        if (ch.command() != null) {
            what.append(": ").append(ch.command());
            if (ch.commandArgument() != null) {
                what.append(' ').append(ch.commandArgument());
            }
        }
        if (ch.pty() != null) {
            what.append(", pty ").append(ch.pty().term()).append(' ').append(ch.pty().columns()).append('x')
                    .append(ch.pty().rows());
        }
        if (!ch.env().isEmpty()) {
            what.append(", env ").append(String.join(" ", ch.env().keySet()));
        }
        if (ch.openedInPrefix()) {
            what.append(", opened in the prefix");
        }
        line(o, "channel", what.toString());
        line(o, "", "client may send " + ch.serverWindow() + " B (server max packet " + ch.serverMaxPacket()
                + "), server may send " + ch.clientWindow() + " B (client max packet " + ch.clientMaxPacket() + ")");
        if (ch.eofFromClient() || ch.eofFromServer() || ch.closeFromClient() || ch.closeFromServer()) {
            line(o, "", "EOF from client " + yesNo(ch.eofFromClient()) + ", from server " + yesNo(ch.eofFromServer())
                    + "; CLOSE from client " + yesNo(ch.closeFromClient()) + ", from server " + yesNo(ch.closeFromServer()));
        }
        SftpModel sftp = ch.sftp();
        if (sftp != null) {
            sftp(o, sftp);
        }
    }

    /** The SFTP channel's version and open handles: paths, flags and offsets (never file data). */
    private static void sftp(StringBuilder o, SftpModel sftp) {
        if (sftp.stoppedReason() != null) {
            line(o, "sftp", "requests not followed: " + sftp.stoppedReason());
            return;
        }
        String version = sftp.version() < 0 ? "no VERSION yet" : "version " + sftp.version();
        if (sftp.clientVersion() >= 0 && sftp.clientVersion() != sftp.version()) {
            version += " (client's INIT " + sftp.clientVersion() + ")";
        }
        line(o, "sftp", version + ", " + sftp.handles().size() + (sftp.handles().size() == 1 ? " open handle" : " open handles")
                + (sftp.pendingRequests().isEmpty() ? "" : ", " + sftp.pendingRequests().size() + " awaiting a reply"));
        for (SftpHandle h : sftp.handles()) {
            StringBuilder what = new StringBuilder();
            what.append(h.kind() == SftpHandle.Kind.FILE ? "file " : "dir  ").append(printable(h.path()));
            if (h.kind() == SftpHandle.Kind.FILE) {
                what.append(", flags 0x").append(Integer.toHexString(h.openFlags()));
                if (h.desiredAccess() != null) {
                    what.append(", access 0x").append(Integer.toHexString(h.desiredAccess()));
                }
                what.append(", offset ").append(h.offset());
            }
            what.append(", handle ").append(h.handleHex());
            line(o, "", what.toString());
        }
    }

    /** A path as one line of text: control characters shown as '?'. */
    private static String printable(String s) {
        return s.replaceAll("\\p{Cntrl}", "?");
    }

    private static void line(StringBuilder o, String label, String text) {
        o.append("  ").append(String.format("%-9s", label)).append(' ').append(text).append('\n');
    }

    private static String yesNo(boolean b) {
        return b ? "yes" : "no";
    }

    private static String orNone(String s) {
        return s == null ? "(not seen)" : s;
    }
}
