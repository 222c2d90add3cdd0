package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.sshd.common.NamedResource;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.writer.openssh.OpenSSHKeyPairResourceWriter;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.apache.sshd.common.util.security.SecurityUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's host keys: OpenSSH private key files (as {@code ssh-keygen} writes them), created on first
 * start when absent, mode 0600, with the public half beside them ({@code .pub}, 0644).
 */
public final class HostKeys {
    private static final Logger log = LoggerFactory.getLogger(HostKeys.class);

    /** One host key: its SSH key type, the size it is generated with, and where it lives. */
    public enum Kind {
        ED25519(KeyPairProvider.SSH_ED25519, 256),
        ECDSA(KeyPairProvider.ECDSA_SHA2_NISTP256, 256),
        RSA(KeyPairProvider.SSH_RSA, 3072);

        final String keyType;
        final int bits;

        Kind(String keyType, int bits) {
            this.keyType = keyType;
            this.bits = bits;
        }
    }

    private static final Set<PosixFilePermission> OWNER_READ_WRITE =
            EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);

    private HostKeys() {}

    /** Loads (or creates) the three host keys of {@code config}, and logs their fingerprints. */
    public static List<KeyPair> loadOrCreate(PrimaryConfig config) throws IOException {
        List<KeyPair> keys = new ArrayList<>();
        keys.add(loadOrCreate(config.ed25519HostKey(), Kind.ED25519));
        keys.add(loadOrCreate(config.ecdsaHostKey(), Kind.ECDSA));
        keys.add(loadOrCreate(config.rsaHostKey(), Kind.RSA));
        return keys;
    }

    /**
     * Loads the three host keys of {@code config} and never creates one: the recovery server must present the
     * primary's own keys (a client checks them against its known_hosts), so a missing key is an error.
     */
    public static List<KeyPair> loadExisting(PrimaryConfig config) throws IOException {
        List<KeyPair> keys = new ArrayList<>();
        for (var entry : List.of(Map.entry(config.ed25519HostKey(), Kind.ED25519),
                Map.entry(config.ecdsaHostKey(), Kind.ECDSA), Map.entry(config.rsaHostKey(), Kind.RSA))) {
            Path file = entry.getKey();
            if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException("host key " + file + " is missing: the recovery server needs the primary's own"
                        + " host keys (copy them from the primary, mode 0600)");
            }
            KeyPair pair = load(file, entry.getValue());
            log.info("host key {} {} {}", file, entry.getValue().keyType, KeyUtils.getFingerPrint(pair.getPublic()));
            keys.add(pair);
        }
        return keys;
    }

    public static KeyPair loadOrCreate(Path file, Kind kind) throws IOException {
        KeyPair pair;
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            pair = load(file, kind);
            log.info("host key {} {} {}", file, kind.keyType, KeyUtils.getFingerPrint(pair.getPublic()));
        } else {
            pair = create(file, kind);
            log.info("host key {} {} {} (created)", file, kind.keyType, KeyUtils.getFingerPrint(pair.getPublic()));
        }
        return pair;
    }

    private static KeyPair load(Path file, Kind kind) throws IOException {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("host key " + file + " is not a regular file");
        }
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
        Set<PosixFilePermission> tooOpen = EnumSet.copyOf(perms);
        tooOpen.removeAll(OWNER_READ_WRITE);
        if (!tooOpen.isEmpty()) {
            throw new IOException("host key " + file + " has mode " + PosixFilePermissions.toString(perms)
                    + ": a private key must be readable by its owner only (chmod 600 " + file + ")");
        }
        Iterable<KeyPair> pairs;
        try (InputStream in = Files.newInputStream(file)) {
            pairs = SecurityUtils.loadKeyPairIdentities(null, NamedResource.ofName(file.toString()), in, null);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IOException("host key " + file + " cannot be read as an OpenSSH private key: " + e.getMessage(), e);
        }
        Iterator<KeyPair> it = pairs == null ? null : pairs.iterator();
        if (it == null || !it.hasNext()) {
            throw new IOException("host key " + file + " holds no key");
        }
        KeyPair pair = it.next();
        String type = KeyUtils.getKeyType(pair);
        if (!kind.keyType.equals(type)) {
            throw new IOException("host key " + file + " is a " + type + " key, expected " + kind.keyType);
        }
        return pair;
    }

    private static KeyPair create(Path file, Kind kind) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        KeyPair pair;
        try {
            pair = KeyUtils.generateKeyPair(kind.keyType, kind.bits);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot generate a " + kind.keyType + " host key: " + e.getMessage(), e);
        }
        String comment = "securejeebs-primary";
        // Write next to the target with 0600 from the start, then move into place: never a readable moment,
        // never a half-written key under the real name.
        Path tmp = dir.resolve("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(OWNER_READ_WRITE));
        try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.TRUNCATE_EXISTING)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePrivateKey(pair, comment, null, out);
        } catch (GeneralSecurityException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("cannot write host key " + file + ": " + e.getMessage(), e);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("host key " + file + " appeared while it was being created", e);
        }
        Path pub = file.resolveSibling(file.getFileName() + ".pub");
        try (OutputStream out = Files.newOutputStream(pub)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePublicKey(pair.getPublic(), comment, out);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot write " + pub + ": " + e.getMessage(), e);
        }
        Files.setPosixFilePermissions(pub, PosixFilePermissions.fromString("rw-r--r--"));
        return pair;
    }
}
