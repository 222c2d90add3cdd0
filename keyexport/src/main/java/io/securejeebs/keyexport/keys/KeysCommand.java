package io.securejeebs.keyexport.keys;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;

/**
 * {@code securejeebs keys ...}: creates the sealing key pairs and prints key fingerprints.
 *
 * <pre>
 * keys init --dir DIR [--only appliance|export]
 * keys fingerprint FILE
 * </pre>
 *
 * {@code init} writes {@code appliance.key}/{@code appliance.pub} (X25519) and {@code export.key}/
 * {@code export.pub} (Ed25519) into DIR (created with mode 0700 if missing), private files with mode
 * 0600, and prints each key's fingerprint and where each half belongs. It never overwrites: if any of
 * the files exists, it writes nothing. {@code fingerprint} prints {@code SHA256:...} for a public or
 * private key file.
 *
 * <p>The CLI passes the words after {@code keys}. Exit status: 0 done, 1 failed (the reason on
 * {@code err}), 2 usage error.
 */
public final class KeysCommand {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;

    static final String USAGE_TEXT = """
            usage: securejeebs keys init --dir DIR [--only appliance|export]
                   securejeebs keys fingerprint FILE

              init         create the appliance key pair (X25519, appliance.key/.pub) and the primary's
                           export key pair (Ed25519, export.key/.pub) in DIR; never overwrites a file
                --only     create just one of the two pairs
              fingerprint  print the SHA256 fingerprint of a key file (public or private)
            """;

    private KeysCommand() {
    }

    /**
     * @param args the words after {@code keys}, e.g. {@code [init, --dir, /etc/securejeebs/keys]}
     * @return 0 done, 1 failed, 2 usage error
     */
    public static int run(List<String> args, PrintStream out, PrintStream err) {
        if (args.isEmpty()) {
            return usage(err, "missing subcommand");
        }
        List<String> rest = args.subList(1, args.size());
        return switch (args.get(0)) {
            case "init" -> init(rest, out, err);
            case "fingerprint" -> fingerprint(rest, out, err);
            case "help", "-h", "--help" -> {
                out.print(USAGE_TEXT);
                yield OK;
            }
            default -> usage(err, "unknown subcommand '" + args.get(0) + "'");
        };
    }

    private static int usage(PrintStream err, String problem) {
        err.println("keys: " + problem);
        err.print(USAGE_TEXT);
        return USAGE;
    }

    private static int failed(PrintStream err, String reason) {
        err.println("keys: error: " + reason);
        return FAILED;
    }

    // ---------------------------------------------------------------- init

    private static int init(List<String> args, PrintStream out, PrintStream err) {
        Path dir = null;
        Set<KeyRole> roles = EnumSet.allOf(KeyRole.class);
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--dir", "--only" -> {
                    if (i + 1 >= args.size()) {
                        return usage(err, "init: " + a + " needs a value");
                    }
                    String value = args.get(++i);
                    if (a.equals("--dir")) {
                        if (value.isEmpty()) {
                            return usage(err, "init: --dir needs a directory");
                        }
                        dir = Path.of(value);
                    } else {
                        KeyRole role = roleNamed(value);
                        if (role == null) {
                            return usage(err, "init: --only takes 'appliance' or 'export', not '" + value + "'");
                        }
                        roles = EnumSet.of(role);
                    }
                }
                default -> {
                    return usage(err, "init: unexpected argument '" + a + "'");
                }
            }
        }
        if (dir == null) {
            return usage(err, "init: --dir DIR is required");
        }
        try {
            createKeys(dir, roles, out);
            return OK;
        } catch (KeyFileException e) {
            return failed(err, e.getMessage());
        }
    }

    private static KeyRole roleNamed(String name) {
        for (KeyRole r : KeyRole.values()) {
            if (r.baseName().equals(name)) {
                return r;
            }
        }
        return null;
    }

    private static void createKeys(Path dir, Set<KeyRole> roles, PrintStream out) throws KeyFileException {
        ensureDirectory(dir);
        // Refuse before writing anything, so a half-initialised directory is never the result of a refusal.
        for (KeyRole role : roles) {
            for (Path f : List.of(dir.resolve(role.privateKeyFileName()), dir.resolve(role.publicKeyFileName()))) {
                if (Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
                    throw new KeyFileException(f + " already exists; refusing to overwrite it, nothing was written"
                            + " (move the existing keys away first if you really mean to replace them)");
                }
            }
        }
        SecureRandom random = new SecureRandom();
        List<Path> created = new ArrayList<>();
        List<String> summary = new ArrayList<>();
        try {
            for (KeyRole role : roles) {
                AsymmetricKeyParameter privateKey = role.algorithm() == KeyAlgorithm.X25519
                        ? new X25519PrivateKeyParameters(random) : new Ed25519PrivateKeyParameters(random);
                AsymmetricKeyParameter publicKey = privateKey instanceof X25519PrivateKeyParameters x
                        ? x.generatePublicKey() : ((Ed25519PrivateKeyParameters) privateKey).generatePublicKey();
                Path privateFile = dir.resolve(role.privateKeyFileName());
                Path publicFile = dir.resolve(role.publicKeyFileName());
                KeyFiles.writePrivateKey(privateFile, privateKey);
                created.add(privateFile);
                KeyFiles.writePublicKey(publicFile, publicKey);
                created.add(publicFile);
                out.println("created " + privateFile + " (" + role.algorithm() + " private key, mode 0600)");
                out.println("created " + publicFile + " (" + role.algorithm() + " public key)");
                summary.add(role.baseName() + " key (" + role.algorithm() + "): " + KeyFingerprint.of(publicKey)
                        + System.lineSeparator() + "  " + role.purpose() + "; " + role.placement());
            }
        } catch (KeyFileException | RuntimeException e) {
            // Leave nothing half-done behind: remove what this run created (and only that).
            for (Path f : created) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // reported below through the original failure
                }
            }
            throw e;
        }
        summary.forEach(out::println);
    }

    private static void ensureDirectory(Path dir) throws KeyFileException {
        if (Files.isDirectory(dir)) {
            return;
        }
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            throw new KeyFileException(dir + " exists and is not a directory");
        } catch (IOException e) {
            throw new KeyFileException("cannot create directory " + dir + ": " + NoClobberFile.describe(e), e);
        }
    }

    // ---------------------------------------------------------------- fingerprint

    private static int fingerprint(List<String> args, PrintStream out, PrintStream err) {
        if (args.size() != 1) {
            return usage(err, "fingerprint takes exactly one FILE");
        }
        try {
            KeyFiles.KeyFileContents key = KeyFiles.read(Path.of(args.get(0)));
            out.println(key.fingerprint() + " " + key.file() + " (" + key.describe() + ")");
            return OK;
        } catch (KeyFileException e) {
            return failed(err, e.getMessage());
        }
    }
}
