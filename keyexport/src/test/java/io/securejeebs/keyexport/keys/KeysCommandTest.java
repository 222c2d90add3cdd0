package io.securejeebs.keyexport.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KeysCommandTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = KeysCommand.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void initCreatesBothPairsAndPrintsTheirFingerprints() throws Exception {
        Path dir = tmp.resolve("keys");
        Run r = run("init", "--dir", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.err());
        assertEquals(List.of("appliance.key", "appliance.pub", "export.key", "export.pub"), names(dir));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("appliance.key"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("export.key"))));

        // the fingerprints printed are those of the files written
        String applianceFp = KeyFiles.read(dir.resolve("appliance.pub")).fingerprint();
        String exportFp = KeyFiles.read(dir.resolve("export.pub")).fingerprint();
        assertTrue(r.out().contains("appliance key (X25519): " + applianceFp + "\n"), r.out());
        assertTrue(r.out().contains("export key (Ed25519): " + exportFp + "\n"), r.out());
        assertTrue(r.out().contains("created " + dir.resolve("appliance.key") + " (X25519 private key, mode 0600)"), r.out());
        assertTrue(r.out().contains("copy export.pub to the appliance"), r.out());

        // the typed loaders accept what init wrote
        KeyFiles.readAppliancePrivateKey(dir.resolve("appliance.key"));
        KeyFiles.readExportPrivateKey(dir.resolve("export.key"));
    }

    @Test
    void initNeverOverwritesAndWritesNothingWhenOneFileExists() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("keys"));
        Files.writeString(dir.resolve("export.pub"), "old");
        Run r = run("init", "--dir", dir.toString());
        assertEquals(1, r.exit());
        assertEquals("keys: error: " + dir.resolve("export.pub") + " already exists; refusing to overwrite it,"
                + " nothing was written (move the existing keys away first if you really mean to replace them)\n", r.err());
        assertEquals(List.of("export.pub"), names(dir));
        assertEquals("old", Files.readString(dir.resolve("export.pub")));

        // a second init over a complete directory changes nothing either
        Path full = tmp.resolve("full");
        assertEquals(0, run("init", "--dir", full.toString()).exit());
        String before = Files.readString(full.resolve("appliance.key"));
        assertEquals(1, run("init", "--dir", full.toString()).exit());
        assertEquals(before, Files.readString(full.resolve("appliance.key")));
    }

    @Test
    void onlyCreatesOnePair() throws Exception {
        Path dir = tmp.resolve("primary");
        Run r = run("init", "--only", "export", "--dir", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(List.of("export.key", "export.pub"), names(dir));
        assertFalse(r.out().contains("appliance.key") || r.out().contains("X25519"), r.out());
    }

    @Test
    void fingerprintPrintsTheSameForThePublicAndThePrivateFile() throws Exception {
        Path dir = tmp.resolve("keys");
        assertEquals(0, run("init", "--dir", dir.toString()).exit());
        String fp = KeyFiles.read(dir.resolve("export.pub")).fingerprint();
        Run pub = run("fingerprint", dir.resolve("export.pub").toString());
        assertEquals(0, pub.exit(), pub.err());
        assertEquals(fp + " " + dir.resolve("export.pub") + " (Ed25519 public key)\n", pub.out());
        Run priv = run("fingerprint", dir.resolve("export.key").toString());
        assertEquals(fp + " " + dir.resolve("export.key") + " (Ed25519 private key)\n", priv.out());

        Files.setPosixFilePermissions(dir.resolve("export.key"), PosixFilePermissions.fromString("rw-r--r--"));
        Run open = run("fingerprint", dir.resolve("export.key").toString());
        assertEquals(1, open.exit());
        assertTrue(open.err().startsWith("keys: error: " + dir.resolve("export.key") + " is a private key with mode 0644"),
                open.err());

        Run missing = run("fingerprint", tmp.resolve("nope.pub").toString());
        assertEquals(1, missing.exit());
        assertEquals("keys: error: " + tmp.resolve("nope.pub") + " does not exist\n", missing.err());
    }

    @Test
    void usageErrorsExitWithTwo() {
        for (List<String> args : List.of(List.<String>of(), List.of("frobnicate"), List.of("init"),
                List.of("init", "--dir"), List.of("init", "--dir", "x", "--only", "both"),
                List.of("init", "--dir", "x", "extra"), List.of("fingerprint"), List.of("fingerprint", "a", "b"))) {
            Run r = run(args.toArray(String[]::new));
            assertEquals(2, r.exit(), args.toString());
            assertTrue(r.err().startsWith("keys: "), r.err());
            assertTrue(r.err().contains("usage: securejeebs keys init --dir DIR"), r.err());
            assertEquals("", r.out());
        }
        assertEquals("keys: init: --only takes 'appliance' or 'export', not 'both'",
                run("init", "--dir", "x", "--only", "both").err().lines().findFirst().orElseThrow());
        Run help = run("--help");
        assertEquals(0, help.exit());
        assertTrue(help.out().startsWith("usage: "));
    }

    @Test
    void aDirectoryPathThatIsAFileFailsClearly() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain"), "x");
        Run r = run("init", "--dir", file.toString());
        assertEquals(1, r.exit());
        assertEquals("keys: error: " + file + " exists and is not a directory\n", r.err());
    }
}
