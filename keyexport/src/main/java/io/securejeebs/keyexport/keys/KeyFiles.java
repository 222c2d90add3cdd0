package io.securejeebs.keyexport.keys;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PublicKeyParameters;
import org.bouncycastle.crypto.util.PrivateKeyFactory;
import org.bouncycastle.crypto.util.PublicKeyFactory;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;
import org.bouncycastle.util.io.pem.PemWriter;

/**
 * Reads and writes the sealing keys as PEM files that OpenSSL also understands: private keys as PKCS#8
 * ({@code -----BEGIN PRIVATE KEY-----}), public keys as SubjectPublicKeyInfo
 * ({@code -----BEGIN PUBLIC KEY-----}).
 *
 * <p>Writing never replaces an existing file, and a private key file has mode 0600 from the moment it is
 * created ({@link NoClobberFile}). Reading checks what the file holds: a private key file whose mode
 * gives the group or others any access is refused (as OpenSSH does), and a key of the wrong algorithm
 * or kind is refused with a message that says what the file holds and what was expected.
 */
public final class KeyFiles {
    private static final String PRIVATE_KEY_PEM = "PRIVATE KEY";
    private static final String PUBLIC_KEY_PEM = "PUBLIC KEY";
    private static final Set<PosixFilePermission> GROUP_OR_OTHER = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private KeyFiles() {
    }

    /** A key read from a file: its algorithm, whether the file held the private half, and the public half. */
    public record KeyFileContents(Path file, KeyAlgorithm algorithm, boolean privateKey, AsymmetricKeyParameter publicKey) {
        public String fingerprint() {
            return KeyFingerprint.of(publicKey);
        }

        public String describe() {
            return algorithm + (privateKey ? " private key" : " public key");
        }
    }

    // ---------------------------------------------------------------- writing

    /** Writes a PKCS#8 PEM file with mode 0600; fails if the file exists. */
    public static void writePrivateKey(Path file, AsymmetricKeyParameter privateKey) throws KeyFileException {
        if (!privateKey.isPrivate()) {
            throw new IllegalArgumentException("not a private key");
        }
        byte[] der;
        try {
            der = pkcs8v1(privateKey);
        } catch (IOException e) {
            throw new KeyFileException("cannot encode the private key for " + file, e);
        }
        byte[] pem = pem(PRIVATE_KEY_PEM, der);
        Arrays.fill(der, (byte) 0);
        try {
            NoClobberFile.create(file, pem, NoClobberFile.OWNER_READ_WRITE);
        } finally {
            Arrays.fill(pem, (byte) 0);
        }
    }

    /** Writes an SPKI PEM file with mode 0644; fails if the file exists. */
    public static void writePublicKey(Path file, AsymmetricKeyParameter publicKey) throws KeyFileException {
        if (publicKey.isPrivate()) {
            throw new IllegalArgumentException("not a public key");
        }
        NoClobberFile.create(file, pem(PUBLIC_KEY_PEM, KeyFingerprint.spki(publicKey)), NoClobberFile.WORLD_READABLE);
    }

    /**
     * PKCS#8 version 1 (RFC 8410 §7): algorithm and private key only. Bouncy Castle's
     * {@code PrivateKeyInfoFactory} writes version 2 with the public key attached, which OpenSSL 3.0
     * refuses to load for X25519 and Ed25519; version 1 is what {@code openssl genpkey} writes.
     */
    private static byte[] pkcs8v1(AsymmetricKeyParameter privateKey) throws IOException {
        KeyAlgorithm algorithm = KeyAlgorithm.of(privateKey);
        byte[] raw = privateKey instanceof X25519PrivateKeyParameters x
                ? x.getEncoded() : ((Ed25519PrivateKeyParameters) privateKey).getEncoded();
        try {
            return new PrivateKeyInfo(new AlgorithmIdentifier(algorithm.oid()), new DEROctetString(raw)).getEncoded();
        } finally {
            Arrays.fill(raw, (byte) 0);
        }
    }

    private static byte[] pem(String type, byte[] der) {
        StringWriter text = new StringWriter();
        try (PemWriter writer = new PemWriter(text)) {
            writer.writeObject(new PemObject(type, der));
        } catch (IOException e) {
            throw new IllegalStateException("writing PEM to memory failed", e);
        }
        return text.toString().getBytes(StandardCharsets.US_ASCII);
    }

    // ---------------------------------------------------------------- typed loading

    /** The appliance's X25519 private key (HPKE recipient). */
    public static X25519PrivateKeyParameters readAppliancePrivateKey(Path file) throws KeyFileException {
        return (X25519PrivateKeyParameters) readPrivate(file, KeyRole.APPLIANCE);
    }

    /** The appliance's X25519 public key, which the primary seals to. */
    public static X25519PublicKeyParameters readAppliancePublicKey(Path file) throws KeyFileException {
        return (X25519PublicKeyParameters) readPublic(file, KeyRole.APPLIANCE);
    }

    /** The primary's Ed25519 export private key, which signs sealed records. */
    public static Ed25519PrivateKeyParameters readExportPrivateKey(Path file) throws KeyFileException {
        return (Ed25519PrivateKeyParameters) readPrivate(file, KeyRole.EXPORT);
    }

    /** The primary's Ed25519 export public key, which the appliance pins. */
    public static Ed25519PublicKeyParameters readExportPublicKey(Path file) throws KeyFileException {
        return (Ed25519PublicKeyParameters) readPublic(file, KeyRole.EXPORT);
    }

    private static AsymmetricKeyParameter readPrivate(Path file, KeyRole role) throws KeyFileException {
        Loaded loaded = load(file);
        expect(loaded.contents(), role, true);
        return loaded.privateKey();
    }

    private static AsymmetricKeyParameter readPublic(Path file, KeyRole role) throws KeyFileException {
        KeyFileContents contents = load(file).contents();
        expect(contents, role, false);
        return contents.publicKey();
    }

    private static void expect(KeyFileContents contents, KeyRole role, boolean wantPrivate) throws KeyFileException {
        String wanted = role.algorithm() + (wantPrivate ? " private key" : " public key");
        if (contents.algorithm() != role.algorithm() || contents.privateKey() != wantPrivate) {
            throw new KeyFileException(contents.file() + " holds an " + contents.describe() + ", but the "
                    + role.baseName() + " " + (wantPrivate ? "private" : "public") + " key must be an " + wanted
                    + " (" + (wantPrivate ? role.privateKeyFileName() : role.publicKeyFileName())
                    + " from 'securejeebs keys init')");
        }
    }

    // ---------------------------------------------------------------- untyped reading

    /**
     * Reads any SecureJeebs key file, private or public. A private key file must not give its group or
     * others any access.
     */
    public static KeyFileContents read(Path file) throws KeyFileException {
        return load(file).contents();
    }

    /** What a file held; {@code privateKey} is null for a public key file. */
    private record Loaded(KeyFileContents contents, AsymmetricKeyParameter privateKey) {}

    private static Loaded load(Path file) throws KeyFileException {
        PemObject pem = readPem(file);
        switch (pem.getType()) {
            case PRIVATE_KEY_PEM -> {
                AsymmetricKeyParameter key = parsePrivate(file, pem);
                AsymmetricKeyParameter publicKey = key instanceof X25519PrivateKeyParameters x
                        ? x.generatePublicKey() : ((Ed25519PrivateKeyParameters) key).generatePublicKey();
                return new Loaded(new KeyFileContents(file, KeyAlgorithm.of(key), true, publicKey), key);
            }
            case PUBLIC_KEY_PEM -> {
                AsymmetricKeyParameter key = parsePublic(file, pem);
                return new Loaded(new KeyFileContents(file, KeyAlgorithm.of(key), false, key), null);
            }
            case "ENCRYPTED PRIVATE KEY" -> throw new KeyFileException(file + " holds a passphrase-protected"
                    + " private key; SecureJeebs reads unencrypted PKCS#8 keys protected by file permissions (0600)");
            default -> throw new KeyFileException(file + " holds a PEM '" + pem.getType() + "' object, not a '"
                    + PRIVATE_KEY_PEM + "' or '" + PUBLIC_KEY_PEM + "'");
        }
    }

    private static PemObject readPem(Path file) throws KeyFileException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new KeyFileException(file + " does not exist", e);
        } catch (IOException e) {
            throw new KeyFileException("cannot read " + file + ": " + NoClobberFile.describe(e), e);
        }
        try (PemReader reader = new PemReader(new StringReader(text))) {
            PemObject first = reader.readPemObject();
            if (first == null) {
                throw new KeyFileException(file + " is not a PEM file (no '-----BEGIN ...-----' line)");
            }
            if (reader.readPemObject() != null) {
                throw new KeyFileException(file + " holds more than one PEM object; a key file holds exactly one");
            }
            if (first.getType().equals(PRIVATE_KEY_PEM)) {
                checkPrivateKeyPermissions(file);
            }
            return first;
        } catch (IOException e) {
            throw new KeyFileException(file + " is not a valid PEM file: " + NoClobberFile.describe(e), e);
        }
    }

    private static void checkPrivateKeyPermissions(Path file) throws KeyFileException {
        Set<PosixFilePermission> permissions;
        try {
            permissions = Files.getPosixFilePermissions(file);
        } catch (IOException e) {
            throw new KeyFileException("cannot read the permissions of " + file + ": " + NoClobberFile.describe(e), e);
        }
        Set<PosixFilePermission> tooOpen = EnumSet.copyOf(GROUP_OR_OTHER);
        tooOpen.retainAll(permissions);
        if (!tooOpen.isEmpty()) {
            throw new KeyFileException(file + " is a private key with mode " + octal(permissions)
                    + " (" + PosixFilePermissions.toString(permissions) + "): its group or others have access."
                    + " Refusing to use it; run: chmod 600 " + file);
        }
    }

    private static String octal(Set<PosixFilePermission> permissions) {
        int mode = 0;
        for (PosixFilePermission p : permissions) {
            mode |= 1 << (8 - p.ordinal()); // OWNER_READ is ordinal 0 = 0400 ... OTHERS_EXECUTE is 8 = 0001
        }
        return String.format("%04o", mode);
    }

    private static AsymmetricKeyParameter parsePrivate(Path file, PemObject pem) throws KeyFileException {
        PrivateKeyInfo info;
        try {
            info = PrivateKeyInfo.getInstance(pem.getContent());
        } catch (RuntimeException e) {
            throw new KeyFileException(file + ": the PRIVATE KEY is not valid PKCS#8 DER");
        }
        KeyAlgorithm algorithm = KeyAlgorithm.byOid(info.getPrivateKeyAlgorithm().getAlgorithm());
        if (algorithm == null) {
            throw new KeyFileException(file + " holds a private key of algorithm "
                    + info.getPrivateKeyAlgorithm().getAlgorithm() + "; expected X25519 or Ed25519");
        }
        try {
            return PrivateKeyFactory.createKey(info);
        } catch (IOException | RuntimeException e) {
            throw new KeyFileException(file + ": the " + algorithm + " private key inside is malformed");
        }
    }

    private static AsymmetricKeyParameter parsePublic(Path file, PemObject pem) throws KeyFileException {
        SubjectPublicKeyInfo info;
        try {
            info = SubjectPublicKeyInfo.getInstance(pem.getContent());
        } catch (RuntimeException e) {
            throw new KeyFileException(file + ": the PUBLIC KEY is not valid SubjectPublicKeyInfo DER");
        }
        KeyAlgorithm algorithm = KeyAlgorithm.byOid(info.getAlgorithm().getAlgorithm());
        if (algorithm == null) {
            throw new KeyFileException(file + " holds a public key of algorithm "
                    + info.getAlgorithm().getAlgorithm() + "; expected X25519 or Ed25519");
        }
        try {
            return PublicKeyFactory.createKey(info);
        } catch (IOException | RuntimeException e) {
            throw new KeyFileException(file + ": the " + algorithm + " public key inside is malformed");
        }
    }
}
