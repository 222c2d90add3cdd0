package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.securejeebs.recovery.FailoverPrivileges;
import io.securejeebs.recovery.config.ApplianceConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

    /**
     * scripts/lab unit-exec, which every lab appliance starts through: the process gets exactly the unit's
     * bounding set, NoNewPrivileges and core limit, and a unit setting it cannot apply stops it rather than
     * letting the lab run with more than the unit allows.
     */
    @Test
    void unitExecAppliesTheUnitsPrivilegesAndRefusesWhatItCannotApply() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        try (Lab lab = Lab.up()) {
            String shipped = Lab.applianceUnit().toString();
            Lab.Result r = lab.run(Duration.ofSeconds(10), Lab.NO_NETNS, Lab.script().toString(), "unit-exec",
                    Lab.APPLIANCE, shipped, "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs):", "/proc/self/status");
            assertEquals(0, r.exitCode(), r.toString());
            String bnd = r.stdout().lines().filter(l -> l.startsWith("CapBnd:")).findFirst().orElseThrow();
            long bounding = FailoverPrivileges.effectiveCapabilities("CapEff:" + bnd.substring("CapBnd:".length()));
            assertEquals(FailoverPrivileges.effectiveCapabilities(r.stdout()), bounding, r.stdout());
            List<String> granted = new ArrayList<>();
            for (FailoverPrivileges.Capability c : FailoverPrivileges.Capability.values()) {
                if ((bounding & (1L << c.bit())) != 0) {
                    granted.add(c.capName());
                }
            }
            String line = Files.readString(Lab.applianceUnit()).lines()
                    .filter(l -> l.startsWith("CapabilityBoundingSet=")).findFirst().orElseThrow();
            assertEquals(List.of(line.substring(line.indexOf('=') + 1).split(" ")).stream().sorted().toList(),
                    granted.stream().sorted().toList(), "the process has the unit's set: " + r.stdout());
            assertEquals(Long.bitCount(bounding), granted.size(), "and nothing else: " + r.stdout());

            Path other = work.resolve("other.service");
            Files.writeString(other, "[Service]\nCapabilityBoundingSet=CAP_NET_RAW\nNoNewPrivileges=yes\nLimitCORE=0\n");
            r = lab.run(Duration.ofSeconds(10), Lab.NO_NETNS, Lab.script().toString(), "unit-exec", Lab.APPLIANCE,
                    other.toString(), "sh", "-c", "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; ulimit -c");
            assertEquals(0, r.exitCode(), r.toString());
            assertEquals("CapEff:\t0000000000002000\nNoNewPrivs:\t1\n0\n", r.stdout());

            Files.writeString(other, "[Service]\nCapabilityBoundingSet=CAP_NET_RAW\nProtectHome=yes\n");
            r = lab.run(Duration.ofSeconds(10), Lab.NO_NETNS, Lab.script().toString(), "unit-exec", Lab.APPLIANCE,
                    other.toString(), "true");
            assertNotEquals(0, r.exitCode(), r.toString());
            assertTrue(r.stderr().contains(other + ":3: ProtectHome= cannot be applied without systemd"), r.stderr());
        }
    }

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
