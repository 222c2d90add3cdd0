package io.securejeebs.recovery;

import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.monitor.capture.LiveCapture;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.recovery.echo.LineEchoTakeover;
import io.securejeebs.recovery.failover.ConnectionTakeover;
import io.securejeebs.recovery.failover.FailoverReport;
import io.securejeebs.recovery.failover.FailoverSequence;
import io.securejeebs.recovery.failover.Heartbeat;
import io.securejeebs.recovery.failover.NftGuard;
import io.securejeebs.recovery.failover.VipTakeover;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonServer;
import io.securejeebs.recovery.status.ApplianceStatus;
import io.securejeebs.recovery.status.ControlServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appliance: captures and tracks the primary's connections, heartbeats the primary, and on its death
 * runs the failover sequence once. {@code securejeebs run --config FILE} runs it until SIGTERM. It answers
 * {@code securejeebs status} on its control socket ({@link ControlServer}).
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
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile LiveCapture capture;
    private final Heartbeat heartbeat;
    private volatile FailoverReport lastFailover;
    private final ObjectMapper json = new ObjectMapper();
    private volatile Instant started;
    private ControlServer control;

    public ApplianceDaemon(ApplianceConfig config) {
        this.config = config;
        ApplicationTrackerFactory trackers = switch (config.protocol()) {
            case LineEchoTracker.PROTOCOL -> key -> new LineEchoTracker();
            default -> throw new IllegalArgumentException("no tracker for protocol " + config.protocol());
        };
        ConnectionTakeover takeover = switch (config.protocol()) {
            case LineEchoTracker.PROTOCOL -> new LineEchoTakeover();
            default -> throw new IllegalArgumentException("no takeover for protocol " + config.protocol());
        };
        this.table = new ConnectionTable(config.watchedServices(), trackers, config.maxBufferPerConnection(),
                config.maxConnections(), counters);
        this.guard = new NftGuard(config.guardTable());
        this.vip = new VipTakeover(config.vip(), config.serviceInterface());
        this.failover = new FailoverSequence(table, guard, vip,
                takeover, config.garpCount(), Runtime.getRuntime().availableProcessors() * 2, config.stateDir());
        this.heartbeat = new Heartbeat(config.heartbeatTarget(), config.heartbeatInterval(), config.heartbeatMisses(),
                this::onPrimaryDead);
    }

    public void start() throws IOException, CaptureException {
        long t0 = System.nanoTime();
        started = Instant.now();
        if (!Files.exists(config.stateDir())) {
            Files.createDirectories(config.stateDir(),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        // Everything a failover needs is made ready now, so the failover path only updates it.
        guard.prepare();
        vip.prepare();
        capture = LiveCapture.start(config.capture(), table, counters);
        heartbeat.start();
        control = ControlServer.start(config.controlSocket(),
                config.stateDir().equals(config.controlSocket().getParent()), LocalJsonServer.Limits.DEFAULT,
                this::status);
        log.info("appliance started in {} ms: watching {} port(s) {} on VIP {}, protocol {}, state dir {},"
                        + " control socket {}", (System.nanoTime() - t0) / 1_000_000, config.servicePorts().size(),
                config.servicePorts(), config.vip(), config.protocol(), config.stateDir(), config.controlSocket());
    }

    private void onPrimaryDead(String evidence, long lastAliveMillis) {
        if (!failoverStarted.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            lastFailover = failover.run(evidence, lastAliveMillis);
            // This host now serves the connections; the primary's traffic is gone, so stop sniffing.
            capture.close();
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
        vip.close();
        log.info("appliance stopped; frames: {}", counters);
        stopped.countDown();
    }
}
