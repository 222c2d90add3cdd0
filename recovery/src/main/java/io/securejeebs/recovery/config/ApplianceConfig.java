package io.securejeebs.recovery.config;

import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.capture.CaptureSettings;
import io.securejeebs.config.ConfigException;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.config.Ipv4Prefix;
import io.securejeebs.keyexport.store.SealedRecordStores;
import io.securejeebs.localsocket.PrivateSocketPath;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * The appliance's settings, read from the file a sysadmin edits ({@code conf/securejeebs.conf} is the
 * commented sample). Every value is validated at start-up; a bad line stops the daemon with the file,
 * the line and the reason.
 *
 * @param stateDir where failover reports go, and by default the control socket; the daemon keeps it 0700
 * @param controlSocket the root-only UNIX socket {@code securejeebs status} asks ({@code control.socket},
 *                      default {@code state.dir/control.sock})
 * @param shellHistoryLines command lines kept per recovered shell ({@code recovery.shell-history}; 0: none)
 * @param sftpHandles whether the monitor follows SFTP channels' requests and keeps their open handles
 *                    ({@code recovery.sftp-handles}, default yes; SSH only)
 * @param checkpointInterval how often the tracked connections that changed are checkpointed to the database
 *                           ({@code monitor.checkpoint-interval}; SSH only)
 * @param checkpointRetention checkpoints not written for this long are dropped when the appliance starts, and a
 *                            connection resumed from one that shows no traffic for this long is forgotten
 *                            ({@code monitor.checkpoint-retention}; SSH only)
 * @param fence the fence hook run before a takeover ({@code failover.fence-command}, {@code failover.fence-timeout})
 * @param trackingWarmUp whether the daemon runs the SSH tracking path over recorded loopback sessions at start,
 *                       so that it follows bulk traffic at compiled speed from the first session
 *                       ({@code monitor.warm-up}; SSH only)
 */
public record ApplianceConfig(
        String sourceName,
        CaptureSettings capture,
        Ipv4Prefix vip,
        List<Integer> servicePorts,
        String serviceInterface,
        String protocol,
        InetSocketAddress heartbeatTarget,
        Duration heartbeatInterval,
        int heartbeatMisses,
        long maxBufferPerConnection,
        int maxConnections,
        String guardTable,
        int garpCount,
        Path stateDir,
        KexRecords records,
        Path recoveryPrimaryConfig,
        int shellHistoryLines,
        boolean sftpHandles,
        FenceCommand fence,
        Duration arpProbeWait,
        Path controlSocket,
        Duration checkpointInterval,
        Duration checkpointRetention,
        boolean trackingWarmUp) {

    public static final Set<String> PROTOCOLS = Set.of(LineEchoTracker.PROTOCOL, SshSessionTracker.PROTOCOL);
    /** The control socket's name in state.dir, unless control.socket says otherwise. */
    public static final String CONTROL_SOCKET_NAME = "control.sock";
    public static final Path DEFAULT_STATE_DIR = Path.of("/var/lib/securejeebs");
    public static final Path DEFAULT_CONFIG = Path.of("/etc/securejeebs/securejeebs.conf");
    public static final Duration DEFAULT_CHECKPOINT_INTERVAL = Duration.ofSeconds(5);
    public static final Duration DEFAULT_CHECKPOINT_RETENTION = Duration.ofDays(7);

    /**
     * Where the primary's sealed KEX records are read ({@code records.*}); SSH only.
     *
     * @param applianceKey the appliance's X25519 private key (opens the records)
     * @param exportKey the primary's pinned Ed25519 export public key (only records it signed open)
     * @param retention records older than this are deleted ({@code records.retention}); a closed session's at once
     */
    public record KexRecords(String databaseUrl, String databaseUser, Path databasePasswordFile, Path applianceKey,
                             Path exportKey, String primaryId, Duration timeout, Duration retention) {}

    public static final Duration DEFAULT_RECORD_RETENTION = Duration.ofDays(7);

    /** The settings as written; no file they name is looked at (as {@code status} needs). */
    public static ApplianceConfig load(Path file) throws ConfigException {
        return from(ConfigFile.load(file));
    }

    /**
     * What {@code run} and {@code check-config} read: {@link #load} and then the files the settings name, so that
     * a missing or too open password file, or a fence command that cannot run, stops start-up at its line rather
     * than a failover later.
     */
    public static ApplianceConfig loadChecked(Path file) throws ConfigException {
        ConfigFile f = ConfigFile.load(file);
        ApplianceConfig c = from(f);
        c.checkFiles(f);
        return c;
    }

    /** The named files exist with safe modes; {@code f} is the file {@code this} was read from (for line numbers). */
    void checkFiles(ConfigFile f) throws ConfigException {
        if (records != null) {
            String problem = SealedRecordStores.passwordFileProblem(records.databasePasswordFile());
            if (problem != null) {
                throw f.error("records.database.password-file", problem);
            }
        }
        String problem = fence.problem();
        if (problem != null) {
            throw f.error("failover.fence-command", problem);
        }
    }

    /** What is allowed but unsafe: logged at start, printed by check-config. */
    public List<String> warnings() {
        return fence.configured() ? List.of() : List.of(FenceCommand.NOT_SET_WARNING);
    }

    public static ApplianceConfig from(ConfigFile f) throws ConfigException {
        String iface = f.requiredString("capture.interface");
        int snaplen = f.integer("capture.snaplen", 262_144, 1514, 262_144);
        long buffer = f.bytes("capture.buffer", 64L << 20, 1L << 20, 2L << 30);
        boolean promiscuous = f.bool("capture.promiscuous", true);
        Duration blockTimeout = f.duration("capture.block-timeout", CaptureSettings.DEFAULT_BLOCK_TIMEOUT,
                Duration.ofMillis(1), Duration.ofSeconds(1));
        Ipv4Prefix vip = f.ipv4Prefix("service.vip");
        List<Integer> ports = f.ports("service.ports", List.of(22));
        String serviceInterface = f.string("service.interface", iface);
        String protocol = f.choice("service.protocol", SshSessionTracker.PROTOCOL, PROTOCOLS);
        InetSocketAddress heartbeat = f.ipv4SocketAddress("primary.heartbeat");
        Duration interval = f.duration("heartbeat.interval", Duration.ofMillis(100),
                Duration.ofMillis(10), Duration.ofSeconds(60));
        int misses = f.integer("heartbeat.misses", 3, 1, 100);
        long maxBuffer = f.bytes("monitor.max-buffer-per-connection", 4L << 20, 64L << 10, 1L << 30);
        int maxConnections = f.integer("monitor.max-connections", 100_000, 1, 10_000_000);
        String guardTable = f.string("failover.guard-table", "securejeebs_guard");
        if (!guardTable.matches("[a-z][a-z0-9_]{0,31}")) {
            throw f.error("failover.guard-table", "must be a lower-case nftables table name, got '" + guardTable + "'");
        }
        int garp = f.integer("failover.gratuitous-arp-count", 3, 1, 20);
        Path stateDir = Path.of(f.string("state.dir", DEFAULT_STATE_DIR.toString()));
        if (!stateDir.isAbsolute()) {
            throw f.error("state.dir", "must be an absolute path, got '" + stateDir + "'");
        }
        Path controlSocket = Path.of(f.string("control.socket", stateDir.resolve(CONTROL_SOCKET_NAME).toString()));
        String socketProblem = PrivateSocketPath.problem(controlSocket);
        if (socketProblem != null) {
            throw f.error(f.has("control.socket") ? "control.socket" : "state.dir", socketProblem);
        }
        if (vip.address().equals(heartbeat.getAddress())) {
            throw f.error("primary.heartbeat", "must be the primary's own address, not the VIP: "
                    + "the VIP moves to this appliance on failover");
        }
        CaptureSettings capture;
        try {
            capture = new CaptureSettings(iface, snaplen, (int) Math.min(buffer, Integer.MAX_VALUE), promiscuous,
                    blockTimeout);
        } catch (IllegalArgumentException e) {
            throw f.error("capture.interface", e.getMessage());
        }
        KexRecords records = null;
        Path recoveryPrimaryConfig = null;
        int shellHistory = 0;
        boolean sftpHandles = false;
        Duration checkpointInterval = null;
        Duration checkpointRetention = null;
        boolean trackingWarmUp = false;
        if (SshSessionTracker.PROTOCOL.equals(protocol)) {
            String url = f.requiredString("records.database.url");
            if (!url.startsWith("jdbc:mysql://") && !url.startsWith("jdbc:mariadb://")) {
                throw f.error("records.database.url", "must be a jdbc:mysql:// URL, got '" + url + "'");
            }
            records = new KexRecords(url, f.string("records.database.user", "sj_appliance"),
                    absolutePath(f, "records.database.password-file", null),
                    absolutePath(f, "records.appliance-key", null),
                    absolutePath(f, "records.export-key", null),
                    f.requiredString("records.primary-id"),
                    f.duration("records.timeout", Duration.ofSeconds(5), Duration.ofMillis(250), Duration.ofMinutes(5)),
                    f.duration("records.retention", DEFAULT_RECORD_RETENTION, Duration.ofMinutes(10),
                            Duration.ofDays(365)));
            recoveryPrimaryConfig = absolutePath(f, "recovery.primary-config", null);
            shellHistory = f.integer("recovery.shell-history", 0, 0, 100);
            sftpHandles = f.bool("recovery.sftp-handles", true);
            checkpointInterval = f.duration("monitor.checkpoint-interval", DEFAULT_CHECKPOINT_INTERVAL,
                    Duration.ofMillis(100), Duration.ofHours(1));
            checkpointRetention = f.duration("monitor.checkpoint-retention", DEFAULT_CHECKPOINT_RETENTION,
                    Duration.ofMinutes(1), Duration.ofDays(365));
            trackingWarmUp = f.bool("monitor.warm-up", true);
        }
        FenceCommand fence = new FenceCommand(f.string("failover.fence-command", ""),
                f.duration("failover.fence-timeout", FenceCommand.DEFAULT_TIMEOUT, Duration.ofSeconds(1),
                        Duration.ofMinutes(10)));
        Duration arpProbeWait = f.duration("failover.arp-probe-wait", Duration.ofMillis(50), Duration.ofMillis(5),
                Duration.ofSeconds(5));
        f.rejectUnknownKeys();
        return new ApplianceConfig(f.name(), capture, vip, ports, serviceInterface, protocol, heartbeat,
                interval, misses, maxBuffer, maxConnections, guardTable, garp, stateDir, records,
                recoveryPrimaryConfig, shellHistory, sftpHandles, fence, arpProbeWait, controlSocket,
                checkpointInterval, checkpointRetention, trackingWarmUp);
    }

    private static Path absolutePath(ConfigFile f, String key, String defaultValue) throws ConfigException {
        String text = defaultValue == null ? f.requiredString(key) : f.string(key, defaultValue);
        Path p = Path.of(text);
        if (!p.isAbsolute()) {
            throw f.error(key, "must be an absolute path, got '" + text + "'");
        }
        return p;
    }

    public WatchedServices watchedServices() {
        return new WatchedServices(List.of(Endpoint.ipv4(vip.address().getAddress())), servicePorts);
    }
}
