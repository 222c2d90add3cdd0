package io.securejeebs.recovery.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.keys.KeyFiles;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code securejeebs monitor}'s errors: each says what is wrong, with the CLI's exit statuses. */
class MonitorCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private Path emptyPcap;

    @BeforeEach
    void files() throws Exception {
        emptyPcap = pcap("empty.pcap", 1);
        SecureRandom random = new SecureRandom();
        X25519PrivateKeyParameters applianceKey = new X25519PrivateKeyParameters(random);
        Ed25519PrivateKeyParameters exportKey = new Ed25519PrivateKeyParameters(random);
        KeyFiles.writePrivateKey(dir.resolve("appliance.key"), applianceKey);
        KeyFiles.writePublicKey(dir.resolve("export.pub"), exportKey.generatePublicKey());
        Path pw = Files.createFile(dir.resolve("pw"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(pw, "hunter2-password\n");
    }

    /** A pcap file header (no packets) with this link type. */
    private Path pcap(String name, int linkType) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(262144).putInt(linkType);
        return Files.write(dir.resolve(name), b.array());
    }

    private int run(String... args) {
        return MonitorCommand.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private String[] withRecords(String pcap, String url, String... more) {
        List<String> a = new ArrayList<>(List.of("--pcap", pcap, "--records-db", url, "--db-password-file",
                dir.resolve("pw").toString(), "--appliance-key", dir.resolve("appliance.key").toString(),
                "--export-pub", dir.resolve("export.pub").toString(), "--primary-id", "p1"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, run());
        assertTrue(err().contains("missing --pcap"), err());
        assertEquals(2, run("--pcap", emptyPcap.toString(), "--frobnicate"));
        assertTrue(err().contains("unknown argument '--frobnicate'"), err());
        assertEquals(2, run("--pcap", emptyPcap.toString(), "--server", "10.0.0.1"));
        assertTrue(err().contains("--server '10.0.0.1': expected IP:PORT"), err());
        assertEquals(2, run("--pcap", emptyPcap.toString()));
        assertTrue(err().contains("missing --records-db"), err());
    }

    @Test
    void aMissingFileIsNamed() {
        assertEquals(1, run(withRecords(dir.resolve("nope.pcap").toString(), "jdbc:mysql://127.0.0.1:1/x")));
        assertEquals("monitor: " + dir.resolve("nope.pcap") + ": no such file\n", err());
    }

    @Test
    void aFileThatIsNotACaptureIsRefused() throws Exception {
        Path text = Files.writeString(dir.resolve("notes.pcap"), "this is not a capture file, just some text\n");
        assertEquals(1, run(withRecords(text.toString(), "jdbc:mysql://127.0.0.1:1/x")));
        assertTrue(err().startsWith("monitor: " + text + ": not a pcap or pcapng capture file (libpcap: "), err());
    }

    @Test
    void anUnsupportedLinkTypeIsRefused() throws Exception {
        Path wifi = pcap("wifi.pcap", 105);
        assertEquals(1, run(withRecords(wifi.toString(), "jdbc:mysql://127.0.0.1:1/x")));
        assertTrue(err().contains(wifi + ": link type 105 (Wireless) is not supported"), err());
    }

    @Test
    void unreadableKeysAreNamed() throws Exception {
        Files.delete(dir.resolve("appliance.key"));
        assertEquals(2, run(withRecords(emptyPcap.toString(), "jdbc:mysql://127.0.0.1:1/x")));
        assertTrue(err().contains("cannot use the keys: " + dir.resolve("appliance.key") + " does not exist"), err());
    }

    @Test
    void anOpenPasswordFileIsRefused() throws Exception {
        Files.setPosixFilePermissions(dir.resolve("pw"), PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(2, run(withRecords(emptyPcap.toString(), "jdbc:mysql://127.0.0.1:1/x")));
        assertTrue(err().contains(dir.resolve("pw") + " is readable by group or others"), err());
    }

    @Test
    void anUnreachableDatabaseIsNamedWithoutItsSecrets() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        String url = "jdbc:mysql://127.0.0.1:" + closed + "/securejeebs";
        assertEquals(1, run(withRecords(emptyPcap.toString(), url + "?password=url-secret", "--db-user", "sj_appliance")));
        assertTrue(err().startsWith("monitor: cannot read KEX records: "), err());
        assertTrue(err().contains("sj_appliance@" + url + "?..."), err());
        assertFalse(err().contains("url-secret") || err().contains("hunter2"), err());
    }

    @Test
    void theRecordSettingsComeFromAnApplianceConfig() throws Exception {
        Path conf = Files.writeString(dir.resolve("appliance.conf"), """
                capture.interface = eth0
                records.database.url = jdbc:mysql://127.0.0.1:1/securejeebs
                records.database.password-file = %s
                records.appliance-key = %s
                records.export-key = %s
                """.formatted(dir.resolve("pw"), dir.resolve("appliance.key"), dir.resolve("export.pub")));
        assertEquals(2, run("--pcap", emptyPcap.toString(), "--config", conf.toString()));
        assertTrue(err().contains("missing --primary-id (or records.* in " + conf + ")"), err());
        assertEquals(2, run("--pcap", emptyPcap.toString(), "--config", dir.resolve("nope.conf").toString()));
        assertTrue(err().contains("bad config: " + dir.resolve("nope.conf") + ": cannot read"), err());
    }
}
