package io.securejeebs.recovery.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.config.ConfigException;
import io.securejeebs.config.ConfigFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ApplianceConfigTest {
    /** Nine lines: a setting appended to it is on line 10. */
    private static final String MINIMAL = """
            capture.interface = eth0
            service.vip = 10.213.0.100/24
            primary.heartbeat = 10.213.0.2:22
            records.database.url = jdbc:mysql://10.213.0.3:3306/securejeebs
            records.database.password-file = /etc/securejeebs/db-appliance-password
            records.appliance-key = /etc/securejeebs/appliance.key
            records.export-key = /etc/securejeebs/export.pub
            records.primary-id = primary-1
            recovery.primary-config = /etc/securejeebs/primary.conf
            """;

    @Test
    void theShippedSampleConfigIsValid() throws Exception {
        Path sample = Path.of(System.getProperty("user.dir")).resolveSibling("conf").resolve("securejeebs.conf");
        ApplianceConfig c = ApplianceConfig.load(sample);
        assertEquals("eth0", c.capture().interfaceName());
        assertEquals(List.of(22), c.servicePorts());
        assertEquals("ssh", c.protocol());
        assertEquals("primary-1", c.records().primaryId());
        assertEquals(Duration.ofMillis(100), c.heartbeatInterval());
        assertEquals(3, c.heartbeatMisses());
    }

    @Test
    void defaultsAreTheDocumentedOnes() throws Exception {
        ApplianceConfig c = ApplianceConfig.from(ConfigFile.parse("min.conf", MINIMAL));
        assertEquals(List.of(22), c.servicePorts());
        assertEquals(Duration.ofMillis(100), c.heartbeatInterval());
        assertEquals(3, c.heartbeatMisses());
        assertEquals(4L << 20, c.maxBufferPerConnection());
        assertEquals(262_144, c.capture().snaplen());
        assertTrue(c.capture().promiscuous());
        assertEquals("eth0", c.serviceInterface());
        assertEquals(Path.of("/var/lib/securejeebs"), c.stateDir());
        assertEquals(Path.of("/var/lib/securejeebs/control.sock"), c.controlSocket());
        assertEquals(Duration.ofSeconds(5), c.checkpointInterval());
        assertEquals(Duration.ofHours(168), c.checkpointRetention());
        assertEquals(0, c.shellHistoryLines());
        assertTrue(c.sftpHandles(), "SFTP handles are followed unless switched off");
    }

    @Test
    void sftpHandlesCanBeSwitchedOff() throws Exception {
        assertFalse(ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL + "recovery.sftp-handles = no\n"))
                .sftpHandles());
        ConfigException e = bad(MINIMAL + "recovery.sftp-handles = 256\n");
        assertEquals("bad.conf:10: 'recovery.sftp-handles': '256' is not yes or no", e.getMessage());
    }

    @Test
    void checkpointKeys() throws Exception {
        ApplianceConfig c = ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL
                + "monitor.checkpoint-interval = 500ms\nmonitor.checkpoint-retention = 24h\n"));
        assertEquals(Duration.ofMillis(500), c.checkpointInterval());
        assertEquals(Duration.ofHours(24), c.checkpointRetention());
        ConfigException e = bad(MINIMAL + "monitor.checkpoint-interval = 10ms\n");
        assertTrue(e.getMessage().startsWith("bad.conf:10: 'monitor.checkpoint-interval': must be between 100 ms"),
                e.getMessage());
    }

    @Test
    void theControlSocketFollowsTheStateDirOrIsItsOwnAbsolutePath() throws Exception {
        assertEquals(Path.of("/srv/sj/control.sock"),
                ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL + "state.dir = /srv/sj\n")).controlSocket());
        assertEquals(Path.of("/run/sj/ctl.sock"),
                ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL + "control.socket = /run/sj/ctl.sock\n"))
                        .controlSocket());
        ConfigException e = bad(MINIMAL + "control.socket = ctl.sock\n");
        assertEquals("bad.conf:10: 'control.socket': 'ctl.sock' must be an absolute path", e.getMessage());
        e = bad(MINIMAL + "state.dir = /" + "d".repeat(100) + "\n");
        assertTrue(e.getMessage().startsWith("bad.conf:10: 'state.dir': '/ddd"), e.getMessage());
        assertTrue(e.getMessage().contains("at most 107"), e.getMessage());
    }

    private static ConfigException bad(String text) {
        return assertThrows(ConfigException.class, () -> ApplianceConfig.from(ConfigFile.parse("bad.conf", text)));
    }

    @Test
    void aBadLineStopsStartUpWithFileLineAndReason() {
        ConfigException e = bad(MINIMAL + "heartbeat.misses = three\n");
        assertEquals("bad.conf:10: 'heartbeat.misses': 'three' is not a whole number", e.getMessage());

        e = bad(MINIMAL + "# fine\nservice.protocol = smtp\n");
        assertEquals(11, e.line());
        assertTrue(e.reason().contains("'smtp' is not one of"), e.getMessage());

        e = bad(MINIMAL + "heartbeat.interval = 5ms\n");
        assertTrue(e.getMessage().startsWith("bad.conf:10: 'heartbeat.interval': must be between 10 ms"), e.getMessage());

        e = bad(MINIMAL + "capture.snaplen = 96\n");
        assertEquals(10, e.line());

        e = bad(MINIMAL + "state.dir = relative/dir\n");
        assertTrue(e.getMessage().contains("absolute path"), e.getMessage());

        e = bad(MINIMAL + "failover.guard-table = Bad Name\n");
        assertEquals(10, e.line());

        e = bad(MINIMAL + "hearbeat.misses = 3\n");
        assertEquals("bad.conf:10: unknown setting 'hearbeat.misses' (did you mean 'heartbeat.misses'?)", e.getMessage());

        e = bad("capture.interface = eth0\nservice.vip = 10.213.0.100/24\nprimary.heartbeat = 10.213.0.100:22\n");
        assertEquals(3, e.line());
        assertTrue(e.reason().contains("not the VIP"), e.getMessage());

        e = bad("service.vip = 10.213.0.100/24\nprimary.heartbeat = 10.213.0.2:22\n");
        assertEquals("bad.conf: missing required setting 'capture.interface'", e.getMessage());
    }

    @Test
    void hugeOrNonAsciiNumbersAreRefusedAtTheirLine() {
        ConfigException e = bad(MINIMAL + "capture.buffer = 17179869185g\n");
        assertEquals("bad.conf:10: 'capture.buffer': must be between 1048576 and 2147483648 bytes, got "
                + "18446744074783293440", e.getMessage());
        e = bad(MINIMAL + "records.timeout = 99999999999999999999h\n");
        assertTrue(e.getMessage().startsWith("bad.conf:10: 'records.timeout': must be between 250 ms"),
                e.getMessage());
        e = bad(MINIMAL + "heartbeat.misses = \u0663\n");
        assertEquals("bad.conf:10: 'heartbeat.misses': '\u0663' is not a whole number", e.getMessage());
        e = bad(MINIMAL + "failover.fence-timeout = 0s\n");
        assertTrue(e.getMessage().startsWith("bad.conf:10: 'failover.fence-timeout': must be between 1000 ms"),
                e.getMessage());
    }

    @Test
    void noFenceCommandIsAWarningAndAFenceCommandIsNeverShownWhole() throws Exception {
        ApplianceConfig c = ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL));
        assertEquals(List.of(FenceCommand.NOT_SET_WARNING), c.warnings());
        assertTrue(c.warnings().get(0).contains("split-brain"));
        c = ApplianceConfig.from(ConfigFile.parse("c.conf", MINIMAL
                + "failover.fence-command = ipmitool -H 10.0.0.9 -P hunter2 power off\nfailover.fence-timeout = 30s\n"));
        assertEquals(List.of(), c.warnings());
        assertEquals("ipmitool", c.fence().program());
        assertEquals(Duration.ofSeconds(30), c.fence().timeout());
        assertFalse(c.toString().contains("hunter2"), c.toString());
    }
}
