package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/** The lab itself: topology, flooding bridge, database privileges, crash simulation, clean teardown. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabIT {

    private Lab lab;
    private Path logs;

    @BeforeAll
    void up() throws IOException {
        assumeTrue(Lab.canRun(), () -> "lab cannot run here: " + Lab.whyNot());
        logs = Files.createTempDirectory("labit-");
        lab = Lab.up();
    }

    @AfterAll
    void down() {
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    @Order(1)
    void topology() {
        assertTrue(Lab.namespaces().containsAll(List.of(Lab.LAN, Lab.CLIENT, Lab.PRIMARY, Lab.APPLIANCE)),
                Lab.namespaces()::toString);
        assertTrue(eth0(Lab.CLIENT).contains(" " + Lab.CLIENT_ADDR + "/24 "));
        String primary = eth0(Lab.PRIMARY);
        assertTrue(primary.contains(" " + Lab.PRIMARY_ADDR + "/24 "), primary);
        assertTrue(primary.contains(" " + Lab.VIP + "/24 "), primary);
        assertTrue(eth0(Lab.APPLIANCE).contains(" " + Lab.APPLIANCE_ADDR + "/24 "));
        for (String ns : List.of(Lab.LAN, Lab.CLIENT, Lab.PRIMARY, Lab.APPLIANCE)) {
            assertEquals("", lab.exec(ns, "ip", "route", "show", "default").strip(), "default route in " + ns);
        }
        String bridge = lab.exec(Lab.LAN, "ip", "-d", "link", "show", "sjbr0");
        assertTrue(bridge.contains("ageing_time 0 ") && bridge.contains("stp_state 0 "), bridge);
        String ports = lab.exec(Lab.LAN, "ip", "-br", "link", "show", "master", "sjbr0");
        for (String port : List.of("lan-client", "lan-primary", "lan-appliance")) {
            assertTrue(ports.contains(port), ports);
        }
    }

    @Test
    @Order(2)
    void hostsPingEachOther() {
        ping(Lab.CLIENT, Lab.VIP);
        ping(Lab.CLIENT, Lab.APPLIANCE_ADDR);
        ping(Lab.CLIENT, Lab.PRIMARY_ADDR);
        ping(Lab.APPLIANCE, Lab.PRIMARY_ADDR);
        ping(Lab.APPLIANCE, Lab.VIP);
        ping(Lab.PRIMARY, Lab.CLIENT_ADDR);
    }

    @Test
    @Order(3)
    void applianceSeesClientPrimaryTraffic() throws Exception {
        // tcpdump puts eth0 into promiscuous mode (no -p): frames for the primary's MAC reach the
        // appliance only because the bridge (ageing_time 0) floods them to every port.
        Path log = logs.resolve("tcpdump.log");
        Process tcpdump = lab.spawn(Lab.APPLIANCE, log,
                "tcpdump", "-i", "eth0", "-n", "-l", "-c", "2",
                "icmp and host " + Lab.CLIENT_ADDR + " and host " + Lab.PRIMARY_ADDR);
        awaitLogLine(log, "listening on eth0", Duration.ofSeconds(10), tcpdump);
        lab.exec(Lab.CLIENT, "ping", "-c", "3", "-i", "0.2", "-W", "1", Lab.PRIMARY_ADDR);
        assertTrue(tcpdump.waitFor(10, TimeUnit.SECONDS), () -> "tcpdump captured nothing:\n" + read(log));
        String captured = read(log);
        assertTrue(captured.contains(Lab.CLIENT_ADDR + " > " + Lab.PRIMARY_ADDR + ": ICMP echo request"), captured);
        assertTrue(captured.contains(Lab.PRIMARY_ADDR + " > " + Lab.CLIENT_ADDR + ": ICMP echo reply"), captured);
    }

    @Test
    @Order(4)
    void databasePrivileges() throws IOException {
        Lab.Database db = lab.startDatabase();
        assertEquals(Lab.APPLIANCE_ADDR, db.host());
        assertEquals(3306, db.port());
        assertEquals("securejeebs", db.name());
        assertEquals("jdbc:mysql://" + Lab.APPLIANCE_ADDR + ":3306/securejeebs", db.jdbcUrl());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(db.envFile())));
        assertNotEquals(db.primaryPassword(), db.appliancePassword());
        assertEquals(db, lab.startDatabase(), "db-start is idempotent and keeps the credentials");

        // The primary may INSERT a KEX record over the lab subnet...
        lab.exec(Lab.PRIMARY, sql(db, db.primaryUser(), db.primaryPassword(),
                "INSERT INTO kex_record (primary_id, client_addr, client_port, server_addr, server_port,"
                        + " session_id_digest, ordinal, sealed) VALUES ('labit', '" + Lab.CLIENT_ADDR + "', 40022, '"
                        + Lab.VIP + "', 22, UNHEX(SHA2('labit-session', 256)), 0, X'00010203')"));
        // ...but never read one back.
        Lab.Result select = lab.run(Lab.DEFAULT_TIMEOUT, Lab.PRIMARY,
                sql(db, db.primaryUser(), db.primaryPassword(), "SELECT COUNT(*) FROM kex_record"));
        assertFalse(select.ok(), select::toString);
        assertTrue(select.stderr().contains("ERROR 1142"), select::toString);

        // The appliance reads it.
        String rows = lab.exec(Lab.APPLIANCE, sql(db, db.applianceUser(), db.appliancePassword(),
                "SELECT primary_id, ordinal, HEX(sealed) FROM kex_record WHERE session_id_digest = UNHEX(SHA2('labit-session', 256))"));
        assertEquals("labit\t0\t00010203", rows.strip());
    }

    @Test
    @Order(5)
    void crashPrimary() throws Exception {
        ping(Lab.CLIENT, Lab.VIP);
        Process victim = lab.spawn(Lab.PRIMARY, logs.resolve("sleep.log"), "sleep", "600");
        Thread.sleep(100);
        assertTrue(victim.isAlive());

        lab.crashPrimary(victim.pid());

        assertTrue(victim.waitFor(5, TimeUnit.SECONDS), "the primary's process survived");
        assertEquals(128 + 9, victim.exitValue(), "killed by SIGKILL");
        for (String target : List.of(Lab.VIP, Lab.PRIMARY_ADDR)) {
            Lab.Result r = lab.run(Duration.ofSeconds(10), Lab.CLIENT, "ping", "-c", "1", "-W", "1", target);
            assertFalse(r.ok(), () -> target + " still answers after the crash: " + r);
        }
        assertTrue(lab.exec(Lab.PRIMARY, "ip", "link", "show", "eth0").contains("state DOWN"));
        assertTrue(lab.exec(Lab.PRIMARY, "nft", "list", "table", "inet", "crash").contains("policy drop"));
    }

    @Test
    @Order(6)
    void downLeavesNoNamespace() {
        Path state = lab.stateDir();
        lab.close();
        assertEquals(List.of(), Lab.namespaces());
        assertFalse(Files.exists(state), state + " still exists");
        boolean dbAlive = ProcessHandle.allProcesses()
                .anyMatch(p -> p.info().commandLine().map(c -> c.contains("--datadir=" + state)).orElse(false));
        assertFalse(dbAlive, "the lab MariaDB is still running");
    }

    // ------------------------------------------------------------------ helpers

    private String eth0(String ns) {
        return lab.exec(ns, "ip", "-o", "-4", "addr", "show", "dev", "eth0");
    }

    private void ping(String from, String to) {
        lab.exec(Duration.ofSeconds(10), from, "ping", "-c", "1", "-W", "1", to);
    }

    private static String[] sql(Lab.Database db, String user, String password, String statement) {
        return new String[] {
            "mariadb", "--no-defaults", "--protocol=tcp",
            "--host=" + db.host(), "--port=" + db.port(),
            "--user=" + user, "--password=" + password,
            "--database=" + db.name(), "--batch", "--skip-column-names",
            "--execute=" + statement,
        };
    }

    private static void awaitLogLine(Path log, String needle, Duration timeout, Process p) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (read(log).contains(needle)) {
                return;
            }
            if (!p.isAlive()) {
                throw new AssertionError("process exited (" + p.exitValue() + ") before '" + needle + "':\n" + read(log));
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no '" + needle + "' within " + timeout + ":\n" + read(log));
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }
}
