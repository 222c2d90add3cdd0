package io.securejeebs.keyexport.store;

import io.securejeebs.keyexport.keys.KeyFileException;
import io.securejeebs.keyexport.keys.KeyFiles;
import io.securejeebs.keyexport.seal.RecordSealer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.Set;

/** Opens the primary's sealing store from the files its config names. */
public final class SealedRecordStores {
    private SealedRecordStores() {}

    /**
     * @param passwordFile holds the database password alone; refused if group or others can read it
     * @throws IOException naming the file that is missing, unreadable, too open or of the wrong kind
     */
    public static KexRecordStore open(String url, String user, Path passwordFile, Path appliancePublicKey,
                                      Path exportSigningKey, Duration timeout) throws IOException {
        RecordSealer sealer;
        try {
            sealer = new RecordSealer(KeyFiles.readAppliancePublicKey(appliancePublicKey),
                    KeyFiles.readExportPrivateKey(exportSigningKey));
        } catch (KeyFileException e) {
            throw new IOException(e.getMessage(), e);
        }
        return new KexRecordStore(DatabaseSettings.of(url, user, readPassword(passwordFile), timeout), sealer);
    }

    /** The appliance's read side: the same password-file rules as the primary's write side. */
    public static KexRecordRepository openRepository(String url, String user, Path passwordFile, Duration timeout)
            throws IOException {
        return new KexRecordRepository(DatabaseSettings.of(url, user, readPassword(passwordFile), timeout));
    }

    /** The appliance's checkpoint table, as the same account and with the same password file as its record reads. */
    public static SessionCheckpointRepository openCheckpoints(String url, String user, Path passwordFile, Duration timeout)
            throws IOException {
        return new SessionCheckpointRepository(new DatabaseSettings(url, user, readPassword(passwordFile), timeout, 1));
    }

    /** Why {@link #readPassword} would refuse {@code file} (missing, not a file, too open, unreadable, empty), or null. */
    public static String passwordFileProblem(Path file) {
        if (!Files.exists(file)) {
            return "'" + file + "' does not exist";
        }
        if (!Files.isRegularFile(file)) {
            return "'" + file + "' is not a regular file";
        }
        try {
            readPassword(file);
            return null;
        } catch (IOException e) {
            return "'" + file + "': " + e.getMessage();
        }
    }

    /**
     * A database password file: the password alone, in a file only its owner reads.
     *
     * @throws IOException naming the file that is missing, unreadable, too open or empty
     */
    public static String readPassword(Path file) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
        if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
            throw new IOException(file + " is readable by group or others: chmod 600 it");
        }
        String password = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) {
            throw new IOException(file + " is empty");
        }
        return password;
    }
}
