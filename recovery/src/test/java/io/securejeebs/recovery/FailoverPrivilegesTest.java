package io.securejeebs.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.recovery.FailoverPrivileges.Problem;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The self-test's judgement, from the texts the kernel gives: no I/O but for the home directories. */
class FailoverPrivilegesTest {
    /** conf/securejeebs.service's bounding set, as /proc/self/status shows it for a root daemon under it. */
    private static final long UNIT = 0x200034e5L;
    private static final String STATUS_UNDER_UNIT = """
            Name:\tjava
            Uid:\t0\t0\t0\t0
            CapInh:\t0000000000000000
            CapPrm:\t00000000200034e5
            CapEff:\t00000000200034e5
            CapBnd:\t00000000200034e5
            NoNewPrivs:\t0
            """;

    @Test
    void readsTheEffectiveSetFromProcSelfStatus() {
        assertEquals(UNIT, FailoverPrivileges.effectiveCapabilities(STATUS_UNDER_UNIT));
        assertEquals(0x000001ffffffffffL, FailoverPrivileges.effectiveCapabilities("CapEff:\t000001ffffffffff\n"));
        assertEquals(-1L, FailoverPrivileges.effectiveCapabilities("CapEff:\tffffffffffffffff\n"));
        assertThrows(IllegalArgumentException.class, () -> FailoverPrivileges.effectiveCapabilities("CapPrm:\t0\n"));
        assertThrows(IllegalArgumentException.class, () -> FailoverPrivileges.effectiveCapabilities("CapEff:\t12g4\n"));
        assertThrows(IllegalArgumentException.class,
                () -> FailoverPrivileges.effectiveCapabilities("CapEff:\t10000000000000000\n"));
        assertFalse(FailoverPrivileges.noNewPrivileges(STATUS_UNDER_UNIT));
        assertTrue(FailoverPrivileges.noNewPrivileges("NoNewPrivs:\t1\n"));
    }

    @Test
    void theUnitsSetLacksNothingAnSshFailoverNeeds() {
        assertEquals(List.of(), FailoverPrivileges.missingCapabilities(UNIT, "ssh", List.of(22), 1024));
    }

    /** The unit as it was shipped: NET_ADMIN and NET_RAW only. */
    @Test
    void theOldUnitsSetIsRefusedNamingEachMissingCapabilityAndTheSetting() {
        long old = (1L << 12) | (1L << 13);
        List<Problem> problems = FailoverPrivileges.missingCapabilities(old, "ssh", List.of(22), 1024);
        List<String> fatal = problems.stream().filter(Problem::fatal).map(p -> p.what().split(" ")[0]).toList();
        assertEquals(List.of("CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_READ_SEARCH"), fatal);
        List<String> degraded = problems.stream().filter(p -> !p.fatal()).map(p -> p.what().split(" ")[0]).toList();
        assertEquals(List.of("CAP_CHOWN", "CAP_KILL", "CAP_AUDIT_WRITE"), degraded);

        String message = FailoverPrivileges.refusal(problems);
        assertTrue(message.startsWith("refusing to start: a failover would fail here:\n  - CAP_NET_BIND_SERVICE is missing:"
                + " needed for listening on VIP:22"), message);
        assertEquals(4, message.split("\n  - ").length - 1, message);
        assertTrue(message.contains("(add it to CapabilityBoundingSet= in securejeebs.service)"), message);
        assertFalse(message.contains("CAP_CHOWN"), "only what stops the start is in the refusal:\n" + message);
    }

    @Test
    void whatIsNeededDependsOnTheProtocolAndThePorts() {
        long netOnly = (1L << 12) | (1L << 13);
        assertEquals(List.of(), FailoverPrivileges.missingCapabilities(netOnly, "line-echo", List.of(7007), 1024),
                "a line-echo service on a high port needs no more than capture and the network");
        assertEquals(List.of("CAP_NET_BIND_SERVICE"), FailoverPrivileges.missingCapabilities(netOnly, "line-echo",
                List.of(7007, 23), 1024).stream().map(p -> p.what().split(" ")[0]).toList());
        assertEquals(List.of(), FailoverPrivileges.missingCapabilities(netOnly, "line-echo", List.of(23), 0),
                "ip_unprivileged_port_start 0: any port is bindable");
        assertEquals(List.of("CAP_NET_RAW", "CAP_NET_ADMIN"), FailoverPrivileges.missingCapabilities(0, "line-echo",
                List.of(7007), 1024).stream().map(p -> p.what().split(" ")[0]).toList());
    }

    @Test
    void findsServersListeningOnTheServicePortOnEveryAddressOrTheVip() throws Exception {
        // /proc/net/tcp: local address as little-endian hex words, state 0A = LISTEN.
        List<String> tcp = List.of(
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
                "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1",
                "   1: 0300D50A:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2",
                "   2: 6400D50A:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3",
                "   3: 6400D50A:0016 0A00D50A:D431 01 00000000:00000000 00:00000000 00000000     0        0 4",
                "   4: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5");
        InetAddress vip = InetAddress.getByName("10.213.0.100");
        assertEquals(List.of("0.0.0.0:22", "10.213.0.100:22"), FailoverPrivileges.listeners(tcp, Set.of(22), vip),
                "the host's own address (10.213.0.3) is not in the way, nor a connection, nor another port");
        List<String> tcp6 = List.of(
                "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 1",
                "   1: 0000000000000000FFFF00006400D50A:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 2");
        assertEquals(List.of("[::]:22", "10.213.0.100:22"), FailoverPrivileges.listeners(tcp6, Set.of(22), vip));
    }

    @Test
    void privateTmpIsSeenInMountinfo() {
        assertTrue(FailoverPrivileges.privateTmp(
                "812 790 0:31 /systemd-private-4b1c-securejeebs.service-Xy/tmp /tmp rw,nosuid,nodev shared:1 - ext4 /dev/vda1 rw\n"));
        assertFalse(FailoverPrivileges.privateTmp("30 1 0:27 / /tmp rw,nosuid,nodev shared:3 - tmpfs tmpfs rw\n"));
    }

    @Test
    void homesOutOfReachAreNamedWithProtectHome(@TempDir Path dir) throws Exception {
        Path homes = Files.createDirectories(dir.resolve("home"));
        Files.createDirectories(homes.resolve("alice"));
        String alice = "alice:x:1000:1000::" + homes.resolve("alice") + ":/bin/bash";
        String bob = "bob:x:1001:1001::" + homes.resolve("bob") + ":/bin/bash";
        String daemon = "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin";
        String noLogin = "svc:x:1002:1002::" + dir.resolve("nowhere/svc") + ":/usr/sbin/nologin";
        assertNull(FailoverPrivileges.homesOutOfReach(List.of(daemon, alice, bob, noLogin)),
                "one visible home is enough: a user without a home is no fault of the unit");

        Problem hidden = FailoverPrivileges.homesOutOfReach(List.of(daemon, bob, noLogin));
        assertTrue(hidden.fatal());
        assertEquals("none of the 1 local users' home directories is visible (" + homes.resolve("bob")
                + "): their authorized_keys are out of reach (remove ProtectHome= from securejeebs.service)", hidden.toString());
    }
}
