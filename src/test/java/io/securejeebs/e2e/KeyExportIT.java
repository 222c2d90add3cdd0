package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The primary's key export, proven from the appliance's side of the lab. The real primary runs on the VIP
 * in sj-primary and exports to the lab's private MariaDB; the real OpenSSH client logs in from sj-client
 * with every KEX it shares with the primary, crossed with chacha20-poly1305, aes256-gcm and aes128-ctr +
 * hmac-sha2-256-etm, plus one session that rekeys every megabyte. tcpdump records the wire in
 * sj-appliance. Then, inside sj-appliance and as sj_appliance, {@link KexProofMain} opens every stored
 * record, recomputes H from its transcript (and checks the host signature over it), checks it against
 * the client's bytes on the wire, derives the keys, and decrypts the first encrypted client packet.
 */
class KeyExportIT {
    private static final List<String> KEX = List.of(
            "sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
            "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256");
    private static final List<String[]> CIPHERS = List.of(
            new String[] {"chacha20-poly1305@openssh.com", null},
            new String[] {"aes256-gcm@openssh.com", null},
            new String[] {"aes128-ctr", "hmac-sha2-256-etm@openssh.com"});

    @TempDir
    Path work;

    @Test
    void everyKeyExchangeIsSealedStoredAndProvenAgainstTheWire() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        String launcher = Lab.launcher();
        String classpath = Lab.javaClasspath();
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x")); // the test user reads nothing here, but the primary's jars must stay readable
        String user = "sjk" + HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff)).substring(2);
        Path primaryLog = work.resolve("primary.log");
        Path tcpdumpLog = work.resolve("tcpdump.log");
        Path pcap = work.resolve("wire.pcap");

        try (Lab lab = Lab.up()) {
            Lab.Database db = lab.startDatabase();
            lab.exec(Duration.ofSeconds(60), Lab.NO_NETNS, launcher, "keys", "init", "--dir", work.resolve("keys").toString());
            Path password = work.resolve("db-password");
            Files.writeString(password, db.primaryPassword() + "\n");
            Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("rw-------"));
            Path conf = work.resolve("primary.conf");
            Files.writeString(conf, """
                    listen = %s:22
                    primary.id = lab-primary
                    hostkey.ed25519 = %s/hostkeys/ed25519
                    hostkey.ecdsa = %s/hostkeys/ecdsa
                    hostkey.rsa = %s/hostkeys/rsa
                    auth.password = no
                    auth.keyboard-interactive = no
                    export.fail-closed = yes
                    export.timeout = 5s
                    export.database.url = %s
                    export.database.password-file = %s
                    export.appliance-key = %s/keys/appliance.pub
                    export.signing-key = %s/keys/export.key
                    """.formatted(Lab.VIP, work, work, work, db.jdbcUrl(), password, work, work));

            lab.exec(Duration.ofSeconds(30), Lab.NO_NETNS, "useradd", "-m", "-s", "/bin/sh", user);
            try {
                Path key = work.resolve("id_ed25519");
                lab.authorizeNewClientKey(user, key);

                Process primary = lab.spawn(Lab.PRIMARY, primaryLog, launcher, "primary", "--config", conf.toString());
                LogFiles.awaitLine(primaryLog, l -> l.contains("listening on"), Duration.ofSeconds(60), primary);
                Process tcpdump = lab.spawn(Lab.APPLIANCE, tcpdumpLog, "tcpdump", "-i", "eth0", "-U", "-s", "0",
                        "-w", pcap.toString(), "tcp port 22");
                LogFiles.awaitLine(tcpdumpLog, l -> l.contains("listening on"), Duration.ofSeconds(30), tcpdump);

                List<String> base = List.of("ssh", "-i", key.toString(), "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR");
                int logins = 0;
                Map<String, String> expected = new TreeMap<>();
                for (String kex : KEX) {
                    for (String[] c : CIPHERS) {
                        List<String> cmd = new ArrayList<>(base);
                        cmd.addAll(List.of("-o", "KexAlgorithms=" + kex, "-o", "Ciphers=" + c[0]));
                        if (c[1] != null) {
                            cmd.addAll(List.of("-o", "MACs=" + c[1]));
                        }
                        String marker = "ok-" + logins;
                        cmd.addAll(List.of(user + "@" + Lab.VIP, "echo " + marker + " $(id -un)"));
                        String out = lab.exec(Duration.ofSeconds(60), Lab.CLIENT, cmd.toArray(String[]::new)).strip();
                        assertEquals(marker + " " + user, out, kex + " / " + c[0]);
                        expected.put(kex + "/" + c[0], "");
                        logins++;
                    }
                }
                // one session that rekeys every megabyte while 5 MB go through it
                String rekeyed = lab.exec(Duration.ofSeconds(120), Lab.CLIENT, "sh", "-c", "head -c 5000000 /dev/urandom | "
                        + String.join(" ", base) + " -o RekeyLimit=1M -o KexAlgorithms=curve25519-sha256 "
                        + user + "@" + Lab.VIP + " 'wc -c'").strip();
                assertEquals("5000000", rekeyed);
                logins++;

                Thread.sleep(500); // the last FINs reach the capture
                lab.exec(Duration.ofSeconds(10), Lab.NO_NETNS, "kill", "-INT", String.valueOf(tcpdump.pid()));
                assertTrue(tcpdump.waitFor(10, TimeUnit.SECONDS), "tcpdump did not stop");

                String proof = lab.exec(Duration.ofSeconds(120), Lab.APPLIANCE, "java", "-cp", classpath,
                        KexProofMain.class.getName(), "--pcap", pcap.toString(), "--db-env", db.envFile().toString(),
                        "--appliance-key", work.resolve("keys/appliance.key").toString(),
                        "--export-pub", work.resolve("keys/export.pub").toString(),
                        "--primary-id", "lab-primary", "--vip", Lab.VIP, "--port", "22");
                System.out.println(proof);
                List<String> proofs = proof.lines().filter(l -> l.startsWith("PROOF")).toList();
                assertTrue(proofs.stream().noneMatch(l -> l.startsWith("PROOF_FAIL")), proof);
                assertEquals(logins, proofs.size(), "one proof per login:\n" + proof);
                for (String p : proofs) {
                    assertTrue(p.contains(" h=ok hostsig=ok transcript=ok first_packet=5:ssh-userauth"), p);
                    String kex = field(p, "kex");
                    String cipher = field(p, "cipher");
                    expected.computeIfPresent(kex + "/" + cipher, (k, v) -> "seen");
                }
                expected.forEach((combo, seen) -> assertEquals("seen", seen, "no proof for " + combo));
                String rekey = proofs.stream().filter(p -> Integer.parseInt(field(p, "records")) > 1).findFirst()
                        .orElseThrow(() -> new AssertionError("no connection with several records:\n" + proof));
                assertTrue(Integer.parseInt(field(rekey, "records")) >= 4, "5 MB with RekeyLimit=1M: " + rekey);
                assertTrue(field(rekey, "ordinals").startsWith("0,1,2,3"), rekey);
            } catch (AssertionError | Exception e) {
                System.out.println("--- primary log\n" + LogFiles.tail(primaryLog));
                throw e;
            } finally {
                lab.run(Duration.ofSeconds(30), Lab.NO_NETNS, "userdel", "-r", "-f", user);
            }
        }
    }

    private static String field(String line, String name) {
        for (String kv : line.split(" ")) {
            if (kv.startsWith(name + "=")) {
                return kv.substring(name.length() + 1);
            }
        }
        throw new AssertionError("no " + name + " in " + line);
    }
}
