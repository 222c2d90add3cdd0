package io.securejeebs.recovery;

import io.securejeebs.config.ConfigException;
import io.securejeebs.cpr.RecoveryPreamble;
import io.securejeebs.keyexport.keys.KeyFileException;
import io.securejeebs.keyexport.keys.KeyFiles;
import io.securejeebs.keyexport.primary.PrimaryConfig;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.SealedRecordStores;
import io.securejeebs.keyexport.store.SessionCheckpointRepository;
import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.checkpoint.CheckpointLoader;
import io.securejeebs.monitor.checkpoint.CheckpointWriter;
import io.securejeebs.monitor.ssh.SealedKexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.recovery.failover.HostCommand;
import io.securejeebs.recovery.server.RecoveryServer;
import io.securejeebs.recovery.ssh.RecoveryWarmUp;
import io.securejeebs.recovery.ssh.SshTakeover;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.monitor.capture.LiveCapture;
import io.securejeebs.monitor.warmup.TrackingWarmUp;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.echo.LineEchoTakeover;
import io.securejeebs.recovery.failover.ConnectionTakeover;
import io.securejeebs.recovery.failover.FailoverReport;
import io.securejeebs.recovery.failover.FailoverSequence;
import io.securejeebs.recovery.failover.Heartbeat;
import io.securejeebs.recovery.failover.NftGuard;
import io.securejeebs.recovery.failover.VipClaimWatch;
import io.securejeebs.recovery.failover.VipTakeover;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonServer;
import io.securejeebs.recovery.status.ApplianceStatus;
import io.securejeebs.recovery.status.ControlServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appliance: captures and tracks the primary's connections, heartbeats the primary, and on its death
 * runs the failover sequence once. {@code securejeebs run --config FILE} runs it until SIGTERM. It answers
 * {@code securejeebs status} on its control socket ({@link ControlServer}).
 *
 * <p>SSH: the tracked connections are checkpointed to the records database ({@link CheckpointWriter}); at
 * start, before capture, the checkpoints of the previous run are loaded ({@link CheckpointLoader}), so that
 * sessions that stayed idle while the appliance was down are followed on (and recoverable) again.
 */
public final class ApplianceDaemon implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ApplianceDaemon.class);

    private final ApplianceConfig config;
    private final FrameCounters counters = new FrameCounters();
    private final ConnectionTable table;
    private final NftGuard guard;
    private final VipTakeover vip;
    private final FailoverSequence failover;
    private final AtomicBoolean failoverStarted = new AtomicBoolean();
    private volatile VipClaimWatch vipWatch;
    private final java.util.concurrent.atomic.AtomicInteger abortedInARow = new java.util.concurrent.atomic.AtomicInteger();
    /** After an aborted failover, misses count again after this (doubling with each abort in a row, up to the max). */
    private static final Duration ABORT_BACKOFF_FIRST = Duration.ofSeconds(1);
    private static final Duration ABORT_BACKOFF_MAX = Duration.ofSeconds(30);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final SealedKexRecordSource records;
    private final SessionCheckpointRepository checkpoints;
    private volatile CheckpointWriter checkpointWriter;
    private final RecoveryServer recoveryServer;
    private volatile LiveCapture capture;
    /** The primary's ciphers, whose tracking is warmed up at start (none: no warm-up). */
    private List<String> warmUpCiphers = List.of();
    /** How long a failover waits for the capture to have followed every frame taken before it. */
    private static final Duration CAPTURE_CATCH_UP_LIMIT = Duration.ofMillis(500);
    /** How often KEX records older than records.retention are deleted (more often for a short retention). */
    private static final Duration RECORD_PURGE_EVERY = Duration.ofMinutes(10);
    private final Heartbeat heartbeat;
    private volatile FailoverReport lastFailover;
    private final ObjectMapper json = new ObjectMapper();
    private volatile Instant started;
    private ControlServer control;

    /**
     * Reads everything the daemon needs (keys, the primary's config, host keys) so that a bad file stops
     * start-up with its name, rather than a failover later.
     */
    public ApplianceDaemon(ApplianceConfig config) throws IOException {
        this.config = config;
        this.guard = new NftGuard(config.guardTable());
        this.vip = new VipTakeover(config.vip(), config.serviceInterface());
        ApplicationTrackerFactory trackers;
        ConnectionTakeover takeover;
        FailoverSequence.Hooks hooks;
        if (SshSessionTracker.PROTOCOL.equals(config.protocol())) {
            ApplianceConfig.KexRecords r = config.records();
            RecordOpener opener;
            try {
                opener = new RecordOpener(KeyFiles.readAppliancePrivateKey(r.applianceKey()),
                        KeyFiles.readExportPublicKey(r.exportKey()));
            } catch (KeyFileException e) {
                throw new IOException(e.getMessage(), e);
            }
            KexRecordRepository repository = SealedRecordStores.openRepository(r.databaseUrl(), r.databaseUser(),
                    r.databasePasswordFile(), Duration.ofSeconds(2));
            this.records = new SealedKexRecordSource(repository, opener, r.primaryId(), r.timeout(),
                    SealedKexRecordSource.Polling.DEFAULT, 4);
            this.checkpoints = SealedRecordStores.openCheckpoints(r.databaseUrl(), r.databaseUser(),
                    r.databasePasswordFile(), Duration.ofSeconds(2));
            SshSessionTracker.Limits limits = new SshSessionTracker.Limits(
                    // While a rekey's record is fetched, a bulk session's bytes wait for its keys: up to the same
                    // per-connection budget as the TCP layer's buffers (1 MiB was overrun at a few hundred Mbit/s).
                    SshSessionTracker.Limits.DEFAULT.maxPrefixBytes(), (int) Math.min(Integer.MAX_VALUE, config.maxBufferPerConnection()),
                    SshSessionTracker.Limits.DEFAULT.maxChannels(), SshSessionTracker.Limits.DEFAULT.maxRequestsPerChannel(),
                    config.shellHistoryLines(), 0, 0)
                    .withSftp(config.sftpHandles()); // recovery.sftp-handles: 256 open handles per SFTP channel, or off
            trackers = SshSessionTracker.factory(records, limits, true);
            PrimaryConfig primary;
            try {
                primary = PrimaryConfig.load(config.recoveryPrimaryConfig());
            } catch (ConfigException e) {
                throw new IOException("recovery.primary-config: " + e.getMessage(), e);
            }
            this.recoveryServer = new RecoveryServer(new RecoveryServer.Settings(primary,
                    new InetSocketAddress(config.vip().address(), config.servicePorts().get(0)),
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), RecoveryPreamble.newKey()));
            takeover = new SshTakeover(recoveryServer, Duration.ofSeconds(10), config.shellHistoryLines() > 0);
            RecoveryWarmUp.startInBackground(primary);
            warmUpCiphers = config.trackingWarmUp() ? primary.ciphers() : List.of();
            hooks = new FailoverSequence.Hooks() {
                @Override
                public String fence() throws IOException {
                    return runFence();
                }

                @Override
                public boolean vipStillAnswers() throws IOException {
                    return vip.vipAnswers(config.arpProbeWait());
                }

                @Override
                public String startServices() throws IOException {
                    recoveryServer.start();
                    return "recovery server: logins on " + recoveryServer.loginAddress() + ", CPR on "
                            + recoveryServer.recoveryAddress();
                }
            };
        } else {
            this.records = null;
            this.checkpoints = null;
            this.recoveryServer = null;
            trackers = (key, updates) -> new LineEchoTracker();
            takeover = new LineEchoTakeover();
            hooks = new FailoverSequence.Hooks() {
                @Override
                public String fence() throws IOException {
                    return runFence();
                }
            };
        }
        this.table = new ConnectionTable(config.watchedServices(), trackers, config.maxBufferPerConnection(),
                config.maxConnections(), counters);
        if (records != null) {
            table.onConnectionEnded(records::connectionEnded); // a closed session's KEX records are deleted
        }
        this.failover = new FailoverSequence(table, guard, vip,
                takeover, config.garpCount(), Runtime.getRuntime().availableProcessors() * 2, config.stateDir())
                .withHooks(hooks)
                .withCaptureBarrier(this::awaitCaptureCaughtUp);
        this.heartbeat = new Heartbeat(config.heartbeatTarget(), config.heartbeatInterval(), config.heartbeatMisses(),
                this::onPrimaryDead);
    }

    /**
     * The capture hands frames over a block at a time: before the connections' state is read for their
     * recovery, every frame captured so far must have been followed. Never fails the failover: traffic that
     * does not pause (clients retransmitting to the dead primary pause between tries) only makes it wait longer.
     */
    private String awaitCaptureCaughtUp() throws IOException {
        LiveCapture c = capture;
        if (c == null) {
            return "no live capture";
        }
        try {
            if (c.awaitCaughtUp(CAPTURE_CATCH_UP_LIMIT)) {
                return "every captured frame followed";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the capture to catch up", e);
        }
        log.warn("the capture did not catch up within {} ms: the sessions' state may miss their last frames",
                CAPTURE_CATCH_UP_LIMIT.toMillis());
        return "not caught up within " + CAPTURE_CATCH_UP_LIMIT.toMillis() + " ms";
    }

    private String runFence() throws IOException {
        if (!config.fence().configured()) {
            return "no fence command configured";
        }
        String out = HostCommand.run("fence command", List.of("/bin/sh", "-c", config.fence().commandLine()), null,
                config.fence().timeout().toMillis());
        return "fence command exited 0" + (out.isBlank() ? "" : ": " + out.strip().lines().findFirst().orElse(""));
    }

    public void start() throws IOException, CaptureException {
        long t0 = System.nanoTime();
        started = Instant.now();
        for (String warning : config.warnings()) {
            log.warn("{}", warning);
        }
        // Before anything is armed: a privilege or path the failover needs must not be found missing at the
        // failover, after the VIP is taken.
        FailoverPrivileges.require(config);
        if (!Files.exists(config.stateDir())) {
            Files.createDirectories(config.stateDir(),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        // Everything a failover needs is made ready now, so the failover path only updates it.
        guard.prepare();
        vip.prepare();
        if (checkpoints != null) {
            try {
                CheckpointLoader.load(checkpoints, table, config.checkpointRetention());
            } catch (RecordStoreException e) {
                log.warn("the checkpoints of the previous run were not loaded (no session is resumed): {}",
                        e.getMessage());
            }
            checkpointWriter = new CheckpointWriter(table, checkpoints, config.checkpointInterval(),
                    CheckpointWriter.DEFAULT_COALESCE).start();
        }
        if (records != null) {
            Duration retention = config.records().retention();
            records.startPurging(retention, retention.dividedBy(10).compareTo(RECORD_PURGE_EVERY) < 0
                    ? retention.dividedBy(10) : RECORD_PURGE_EVERY);
        }
        capture = LiveCapture.start(config.capture(), table, counters);
        if (!warmUpCiphers.isEmpty()) {
            TrackingWarmUp.standard().startInBackground(warmUpCiphers);
        }
        heartbeat.start();
        control = ControlServer.start(config.controlSocket(),
                config.stateDir().equals(config.controlSocket().getParent()), LocalJsonServer.Limits.DEFAULT,
                this::status);
        log.info("appliance started in {} ms: watching {} port(s) {} on VIP {}, protocol {}, state dir {},"
                        + " control socket {}", (System.nanoTime() - t0) / 1_000_000, config.servicePorts().size(),
                config.servicePorts(), config.vip(), config.protocol(), config.stateDir(), config.controlSocket());
    }

    private void onPrimaryDead(String evidence, long lastAliveMillis, long deadAfterMillis) {
        if (!failoverStarted.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            FailoverReport report = failover.run(evidence, lastAliveMillis, deadAfterMillis);
            lastFailover = report;
            if (report.aborted != null) {
                // Nothing was taken over: this host still guards the primary, capture and checkpoints go on.
                int n = abortedInARow.incrementAndGet();
                Duration backoff = ABORT_BACKOFF_FIRST.multipliedBy(1L << Math.min(n - 1, 10));
                backoff = backoff.compareTo(ABORT_BACKOFF_MAX) > 0 ? ABORT_BACKOFF_MAX : backoff;
                log.warn("failover aborted ({} in a row): still armed; the heartbeat counts misses again in {} ms",
                        n, backoff.toMillis());
                failoverStarted.set(false);
                heartbeat.rearm(backoff);
                return;
            }
            abortedInARow.set(0);
            // This host now serves the connections; the primary's traffic is gone, so stop sniffing.
            heartbeat.close();
            capture.close();
            CheckpointWriter w = checkpointWriter;
            if (w != null) {
                w.close(); // nothing is followed any more: the checkpoints stay as they were at the failover
            }
            // The VIP is ours now: the old primary's host coming back with it must not go unnoticed.
            try {
                vipWatch = new VipClaimWatch(config.vip(), config.serviceInterface(), report.vipClaimedBy::add).start();
            } catch (IOException e) {
                log.error("cannot watch for another host claiming the VIP: {}", e.getMessage());
            }
        }, "sj-failover");
        t.start();
    }

    public ConnectionTable connections() {
        return table;
    }

    public FailoverReport lastFailover() {
        return lastFailover;
    }

    /** What {@code securejeebs status} shows; answered on the control socket's thread. */
    public ApplianceStatus status() {
        LiveCapture c = capture;
        return ApplianceStatus.of(version(), started == null ? Instant.now() : started, config,
                c != null && c.isRunning(), counters.asMap(), List.of(heartbeat.status()),
                lastFailover, table.snapshotOpenConnections(), System.currentTimeMillis(), json);
    }

    /** The version packaged in the jar's manifest ("dev" when run from classes). */
    public static String version() {
        String v = ApplianceDaemon.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    @Override
    public void close() {
        if (control != null) {
            control.close();
        }
        heartbeat.close();
        if (capture != null && capture.isRunning()) {
            capture.close();
        }
        guard.close();
        VipClaimWatch watch = vipWatch;
        if (watch != null) {
            watch.close();
        }
        vip.close();
        CheckpointWriter w = checkpointWriter;
        if (w != null) {
            w.close(); // writes what changed since the last round, so a restart resumes from the latest state
        }
        if (checkpoints != null) {
            checkpoints.close();
        }
        if (records != null) {
            records.close();
        }
        if (recoveryServer != null) {
            try {
                recoveryServer.close();
            } catch (IOException e) {
                log.warn("stopping the recovery server: {}", e.getMessage());
            }
        }
        log.info("appliance stopped; frames: {}", counters);
        stopped.countDown();
    }
}
