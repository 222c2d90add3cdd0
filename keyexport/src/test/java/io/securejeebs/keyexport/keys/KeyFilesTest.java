package io.securejeebs.keyexport.keys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KeyFilesTest {
    private static final SecureRandom RANDOM = new SecureRandom();

    @TempDir
    Path dir;

    private static String mode(Path file) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(file));
    }

    private static String refused(ThrowingRead read) {
        return assertThrows(KeyFileException.class, read::run).getMessage();
    }

    private interface ThrowingRead {
        void run() throws Exception;
    }

    /** appliance.key/.pub and export.key/.pub in the test directory, as keys init lays them out. */
    private void writeBothPairs(X25519PrivateKeyParameters appliance, Ed25519PrivateKeyParameters export)
            throws Exception {
        KeyFiles.writePrivateKey(dir.resolve("appliance.key"), appliance);
        KeyFiles.writePublicKey(dir.resolve("appliance.pub"), appliance.generatePublicKey());
        KeyFiles.writePrivateKey(dir.resolve("export.key"), export);
        KeyFiles.writePublicKey(dir.resolve("export.pub"), export.generatePublicKey());
    }

    @Test
    void keysSurviveTheRoundTripWithTheRightModes() throws Exception {
        X25519PrivateKeyParameters appliance = new X25519PrivateKeyParameters(RANDOM);
        Ed25519PrivateKeyParameters export = new Ed25519PrivateKeyParameters(RANDOM);
        writeBothPairs(appliance, export);

        assertArrayEquals(appliance.getEncoded(), KeyFiles.readAppliancePrivateKey(dir.resolve("appliance.key")).getEncoded());
        assertArrayEquals(appliance.generatePublicKey().getEncoded(),
                KeyFiles.readAppliancePublicKey(dir.resolve("appliance.pub")).getEncoded());
        assertArrayEquals(export.getEncoded(), KeyFiles.readExportPrivateKey(dir.resolve("export.key")).getEncoded());
        assertArrayEquals(export.generatePublicKey().getEncoded(),
                KeyFiles.readExportPublicKey(dir.resolve("export.pub")).getEncoded());

        assertEquals("rw-------", mode(dir.resolve("appliance.key")));
        assertEquals("rw-------", mode(dir.resolve("export.key")));
        assertEquals("rw-r--r--", mode(dir.resolve("appliance.pub")));
        assertTrue(Files.readString(dir.resolve("export.key")).startsWith("-----BEGIN PRIVATE KEY-----\n"));
        assertTrue(Files.readString(dir.resolve("export.pub")).startsWith("-----BEGIN PUBLIC KEY-----\n"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("appliance.key", "appliance.pub", "export.key", "export.pub"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary files left behind");
        }
    }

    @Test
    void anExistingFileIsNeverOverwritten() throws Exception {
        Path key = dir.resolve("export.key");
        Files.writeString(key, "precious");
        String message = refused(() -> KeyFiles.writePrivateKey(key, new Ed25519PrivateKeyParameters(RANDOM)));
        assertEquals(key.toAbsolutePath() + " already exists; refusing to overwrite it"
                + " (move it away first if you really mean to replace the key)", message);
        assertEquals("precious", Files.readString(key));

        // a dangling symlink is an existing name too: writing through it could land anywhere
        Path link = dir.resolve("appliance.pub");
        Files.createSymbolicLink(link, dir.resolve("elsewhere"));
        refused(() -> KeyFiles.writePublicKey(link, new X25519PrivateKeyParameters(RANDOM).generatePublicKey()));
        assertFalse(Files.exists(dir.resolve("elsewhere")));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary files left behind");
        }
    }

    @Test
    void privateKeysOpenToGroupOrOthersAreRefused() throws Exception {
        Path key = dir.resolve("appliance.key");
        KeyFiles.writePrivateKey(key, new X25519PrivateKeyParameters(RANDOM));
        for (String tooOpen : List.of("rw-r-----", "rw----r--", "rw-----w-", "rw---x---")) {
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString(tooOpen));
            String message = refused(() -> KeyFiles.readAppliancePrivateKey(key));
            assertTrue(message.startsWith(key + " is a private key with mode 0"), message);
            assertTrue(message.contains("(" + tooOpen + "): its group or others have access."), message);
            assertTrue(message.endsWith("Refusing to use it; run: chmod 600 " + key), message);
        }
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r-----"));
        assertTrue(refused(() -> KeyFiles.readAppliancePrivateKey(key)).contains(" with mode 0640 "));
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("r--------"));
        KeyFiles.readAppliancePrivateKey(key); // 0400 is fine
        // public keys may be world-readable
        Path pub = dir.resolve("appliance.pub");
        KeyFiles.writePublicKey(pub, new X25519PrivateKeyParameters(RANDOM).generatePublicKey());
        Files.setPosixFilePermissions(pub, PosixFilePermissions.fromString("rw-rw-rw-"));
        KeyFiles.readAppliancePublicKey(pub);
    }

    @Test
    void aKeyOfTheWrongKindOrAlgorithmIsRefusedSayingWhatItIs() throws Exception {
        Path exportKey = dir.resolve("export.key");
        Path appliancePub = dir.resolve("appliance.pub");
        KeyFiles.writePrivateKey(exportKey, new Ed25519PrivateKeyParameters(RANDOM));
        KeyFiles.writePublicKey(appliancePub, new X25519PrivateKeyParameters(RANDOM).generatePublicKey());

        assertEquals(exportKey + " holds an Ed25519 private key, but the appliance private key must be an"
                + " X25519 private key (appliance.key from 'securejeebs keys init')",
                refused(() -> KeyFiles.readAppliancePrivateKey(exportKey)));
        assertEquals(exportKey + " holds an Ed25519 private key, but the export public key must be an"
                + " Ed25519 public key (export.pub from 'securejeebs keys init')",
                refused(() -> KeyFiles.readExportPublicKey(exportKey)));
        assertEquals(appliancePub + " holds an X25519 public key, but the appliance private key must be an"
                + " X25519 private key (appliance.key from 'securejeebs keys init')",
                refused(() -> KeyFiles.readAppliancePrivateKey(appliancePub)));
        assertEquals(appliancePub + " holds an X25519 public key, but the export public key must be an"
                + " Ed25519 public key (export.pub from 'securejeebs keys init')",
                refused(() -> KeyFiles.readExportPublicKey(appliancePub)));
    }

    @Test
    void unreadableOrForeignFilesAreRefusedNamingTheFile() throws Exception {
        Path missing = dir.resolve("missing.key");
        assertEquals(missing + " does not exist", refused(() -> KeyFiles.read(missing)));

        Path directory = Files.createDirectory(dir.resolve("a-directory"));
        assertTrue(refused(() -> KeyFiles.read(directory)).startsWith("cannot read " + directory + ": "));

        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "hello\n");
        assertEquals(text + " is not a PEM file (no '-----BEGIN ...-----' line)", refused(() -> KeyFiles.read(text)));

        Path cert = dir.resolve("cert.pem");
        Files.writeString(cert, pem("CERTIFICATE", new byte[] {0x30, 0x00}));
        assertEquals(cert + " holds a PEM 'CERTIFICATE' object, not a 'PRIVATE KEY' or 'PUBLIC KEY'",
                refused(() -> KeyFiles.read(cert)));

        Path encrypted = dir.resolve("enc.key");
        Files.writeString(encrypted, pem("ENCRYPTED PRIVATE KEY", new byte[] {0x30, 0x00}));
        assertTrue(refused(() -> KeyFiles.read(encrypted)).contains("passphrase-protected"));

        Path garbage = dir.resolve("garbage.key");
        Files.writeString(garbage, pem("PRIVATE KEY", new byte[] {1, 2, 3}));
        Files.setPosixFilePermissions(garbage, PosixFilePermissions.fromString("rw-------"));
        assertEquals(garbage + ": the PRIVATE KEY is not valid PKCS#8 DER", refused(() -> KeyFiles.read(garbage)));

        Path two = dir.resolve("two.pub");
        KeyFiles.writePublicKey(dir.resolve("one.pub"), new X25519PrivateKeyParameters(RANDOM).generatePublicKey());
        Files.writeString(two, Files.readString(dir.resolve("one.pub")).repeat(2));
        assertEquals(two + " holds more than one PEM object; a key file holds exactly one",
                refused(() -> KeyFiles.read(two)));

        // an EC key from the JDK: valid PKCS#8, wrong algorithm
        Path ec = dir.resolve("ec.key");
        byte[] ecDer = KeyPairGenerator.getInstance("EC").generateKeyPair().getPrivate().getEncoded();
        Files.writeString(ec, pem("PRIVATE KEY", ecDer));
        Files.setPosixFilePermissions(ec, PosixFilePermissions.fromString("rw-------"));
        assertEquals(ec + " holds a private key of algorithm 1.2.840.10045.2.1; expected X25519 or Ed25519",
                refused(() -> KeyFiles.read(ec)));
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    @Test
    void theJdkReadsTheFilesAndAgreesOnKeysAndSignatures() throws Exception {
        Ed25519PrivateKeyParameters export = new Ed25519PrivateKeyParameters(RANDOM);
        KeyFiles.writePrivateKey(dir.resolve("export.key"), export);
        KeyFiles.writePublicKey(dir.resolve("export.pub"), export.generatePublicKey());
        var jdkPrivate = KeyFactory.getInstance("Ed25519")
                .generatePrivate(new PKCS8EncodedKeySpec(der(dir.resolve("export.key"))));
        var jdkPublic = KeyFactory.getInstance("Ed25519")
                .generatePublic(new X509EncodedKeySpec(der(dir.resolve("export.pub"))));
        byte[] message = "sealed body".getBytes(StandardCharsets.UTF_8);
        Signature jdk = Signature.getInstance("Ed25519");
        jdk.initSign(jdkPrivate);
        jdk.update(message);
        byte[] signature = jdk.sign();
        Ed25519Signer bc = new Ed25519Signer();
        bc.init(false, KeyFiles.readExportPublicKey(dir.resolve("export.pub")));
        bc.update(message, 0, message.length);
        assertTrue(bc.verifySignature(signature), "a JDK signature with the file's key verifies with the file's public key");
        jdk.initVerify(jdkPublic);
        jdk.update(message);
        assertTrue(jdk.verify(signature));

        X25519PrivateKeyParameters appliance = new X25519PrivateKeyParameters(RANDOM);
        KeyFiles.writePrivateKey(dir.resolve("appliance.key"), appliance);
        KeyFactory.getInstance("XDH").generatePrivate(new PKCS8EncodedKeySpec(der(dir.resolve("appliance.key"))));
    }

    private static byte[] der(Path pemFile) throws IOException {
        String body = Files.readString(pemFile).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(body);
    }

    @Test
    void openSslReadsTheFilesAndComputesTheSameFingerprint() throws Exception {
        X25519PrivateKeyParameters appliance = new X25519PrivateKeyParameters(RANDOM);
        Ed25519PrivateKeyParameters export = new Ed25519PrivateKeyParameters(RANDOM);
        writeBothPairs(appliance, export);
        for (String name : List.of("appliance", "export")) {
            // the public key OpenSSL derives from our private key file is our public key file
            String derived = new String(openssl("pkey", "-in", dir.resolve(name + ".key").toString(), "-pubout"),
                    StandardCharsets.US_ASCII);
            assertEquals(Files.readString(dir.resolve(name + ".pub")), derived, name);
            // and the fingerprint is SHA-256 over the DER SubjectPublicKeyInfo
            byte[] spki = openssl("pkey", "-pubin", "-in", dir.resolve(name + ".pub").toString(), "-outform", "DER");
            String expected = "SHA256:" + Base64.getEncoder().withoutPadding()
                    .encodeToString(MessageDigest.getInstance("SHA-256").digest(spki));
            assertEquals(expected, KeyFiles.read(dir.resolve(name + ".pub")).fingerprint());
            assertEquals(expected, KeyFiles.read(dir.resolve(name + ".key")).fingerprint());
        }
        // and we read what OpenSSL writes
        Path generated = dir.resolve("openssl-ed25519.key");
        openssl("genpkey", "-algorithm", "ed25519", "-out", generated.toString());
        Files.setPosixFilePermissions(generated, PosixFilePermissions.fromString("rw-------"));
        assertEquals(KeyAlgorithm.ED25519, KeyFiles.read(generated).algorithm());
        KeyFiles.readExportPrivateKey(generated);
    }

    private static byte[] openssl(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "openssl finished");
        assertEquals(0, p.exitValue(), "openssl " + String.join(" ", args));
        return out.toByteArray();
    }

    @Test
    void fingerprintsLookLikeOpenSsh() {
        X25519PublicKeyParameters pub = new X25519PrivateKeyParameters(RANDOM).generatePublicKey();
        String fp = KeyFingerprint.of(pub);
        assertTrue(fp.matches("SHA256:[A-Za-z0-9+/]{43}"), fp);
        Ed25519PublicKeyParameters other = new Ed25519PrivateKeyParameters(RANDOM).generatePublicKey();
        assertFalse(fp.equals(KeyFingerprint.of(other)));
    }
}
