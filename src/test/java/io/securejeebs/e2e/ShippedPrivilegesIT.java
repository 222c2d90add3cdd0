package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.securejeebs.recovery.config.ApplianceConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The appliance under the shipped unit's privileges passes its start-up self-test (every SshLab appliance runs
 * under conf/securejeebs.service); under the same unit with one capability dropped, it refuses to start, names
 * the capability and the unit setting, and arms nothing (no guard table). Before the self-test such a daemon
 * started fine and failed at the failover, after taking the VIP.
 */
class ShippedPrivilegesIT {
    @TempDir
    Path work;

    @Test
    void aUnitWithoutCapSetuidIsRefusedAtStartNotAtTheFailover() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        try (SshLab lab = SshLab.start(work, "")) {
            assertTrue(Files.readString(lab.applianceLog).contains("start-up self-test passed"),
                    "the shipped unit passes:\n" + LogFiles.tail(lab.applianceLog));
            lab.appliance.destroy(); // SIGTERM, as systemd: the daemon removes its guard table
            assertTrue(lab.appliance.waitFor(30, TimeUnit.SECONDS), "the appliance did not stop on SIGTERM");

            Path shipped = Lab.applianceUnit();
            String unit = Files.readString(shipped);
            String dropped = unit.replaceFirst("(?m)^(CapabilityBoundingSet=.*) CAP_SETUID\\b", "$1");
            assertNotEquals(unit, dropped, "the shipped unit grants CAP_SETUID");
            Path variant = work.resolve("without-setuid.service");
            Files.writeString(variant, dropped);
            Path log = work.resolve("appliance-without-setuid.log");
            Process refused = lab.lab.spawnAppliance(variant, log, "run", "--config", lab.applianceConf.toString());
            assertTrue(refused.waitFor(60, TimeUnit.SECONDS), "the appliance did not stop:\n" + LogFiles.tail(log));

            String output = Files.readString(log);
            assertNotEquals(0, refused.exitValue(), output);
            assertTrue(output.contains("refusing to start: a failover would fail here:\n  - CAP_SETUID is missing: needed"
                    + " for runuser starting the users' shells"), output);
            assertTrue(output.contains("(add it to CapabilityBoundingSet= in securejeebs.service)"), output);
            assertTrue(!output.contains("appliance started"), output);
            String guard = ApplianceConfig.load(lab.applianceConf).guardTable();
            Lab.Result tables = lab.lab.run(Duration.ofSeconds(10), Lab.APPLIANCE, "nft", "list", "tables");
            assertEquals(0, tables.exitCode(), tables.toString());
            assertTrue(!tables.stdout().contains(guard), "nothing armed: " + tables.stdout());
        }
    }
}
