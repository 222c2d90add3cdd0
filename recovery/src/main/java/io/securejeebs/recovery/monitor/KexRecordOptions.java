package io.securejeebs.recovery.monitor;

import io.securejeebs.config.ConfigException;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.keyexport.keys.KeyFileException;
import io.securejeebs.keyexport.keys.KeyFiles;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.store.DatabaseSettings;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.monitor.ssh.SealedKexRecordSource;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * Where the appliance reads the primary's sealed KEX records, as command-line options shared by the
 * tools that track SSH ({@code monitor --pcap}, {@code capture-bench --ssh}):
 * {@code --records-db JDBC_URL --db-user U --db-password-file F --appliance-key F --export-pub F
 * --primary-id ID}, or the same settings from an appliance config ({@code --config FILE}, its
 * {@code records.*} keys; an option given on the command line wins).
 */
public final class KexRecordOptions {
    static final String USAGE = "[--config APPLIANCE_CONF] [--records-db JDBC_URL] [--db-user USER]"
            + " [--db-password-file FILE] [--appliance-key FILE] [--export-pub FILE] [--primary-id ID]";
    static final List<String> FLAGS = List.of("--config", "--records-db", "--db-user", "--db-password-file",
            "--appliance-key", "--export-pub", "--primary-id");

    private String configFile;
    private String url;
    private String user;
    private String passwordFile;
    private String applianceKey;
    private String exportPub;
    private String primaryId;

    /** A bad command line: exit status 2 with the usage text. */
    public static final class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    /** A setting that cannot be used: a key or password file, or the config: exit status 2. */
    public static final class SetupException extends Exception {
        public SetupException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Takes {@code args[i]} (one of {@link #FLAGS}) and its value; returns the index of the value. */
    public int accept(List<String> args, int i) throws UsageException {
        String flag = args.get(i);
        if (i + 1 >= args.size()) {
            throw new UsageException(flag + " needs a value");
        }
        String v = args.get(i + 1);
        switch (flag) {
            case "--config" -> configFile = v;
            case "--records-db" -> url = v;
            case "--db-user" -> user = v;
            case "--db-password-file" -> passwordFile = v;
            case "--appliance-key" -> applianceKey = v;
            case "--export-pub" -> exportPub = v;
            case "--primary-id" -> primaryId = v;
            default -> throw new IllegalArgumentException(flag);
        }
        return i + 1;
    }

    /** The records source, ready: settings complete, keys read, and the database answered a query. */
    public record Opened(SealedKexRecordSource source, KexRecordRepository repository, String description)
            implements AutoCloseable {
        @Override
        public void close() {
            source.close();
            repository.close();
        }
    }

    /**
     * @param timeout how long one record may take to be found, and one query to answer
     * @throws RecordStoreException the database did not answer (the message names it, URL redacted)
     */
    public Opened open(Duration timeout) throws UsageException, SetupException, ConfigException, RecordStoreException {
        if (configFile != null) {
            ConfigFile f = ConfigFile.load(Path.of(configFile));
            url = url != null ? url : f.string("records.database.url", null);
            user = user != null ? user : f.string("records.database.user", null);
            passwordFile = passwordFile != null ? passwordFile : f.string("records.database.password-file", null);
            applianceKey = applianceKey != null ? applianceKey : f.string("records.appliance-key", null);
            exportPub = exportPub != null ? exportPub : f.string("records.export-key", null);
            primaryId = primaryId != null ? primaryId : f.string("records.primary-id", null);
        }
        String from = configFile == null ? "" : " (or records.* in " + configFile + ")";
        require(url, "--records-db", from);
        require(passwordFile, "--db-password-file", from);
        require(applianceKey, "--appliance-key", from);
        require(exportPub, "--export-pub", from);
        require(primaryId, "--primary-id", from);
        RecordOpener opener;
        try {
            opener = new RecordOpener(KeyFiles.readAppliancePrivateKey(Path.of(applianceKey)),
                    KeyFiles.readExportPublicKey(Path.of(exportPub)));
        } catch (KeyFileException e) {
            throw new SetupException("cannot use the keys: " + e.getMessage(), e);
        }
        DatabaseSettings settings;
        try {
            settings = new DatabaseSettings(url, user == null ? "sj_appliance" : user, readPassword(Path.of(passwordFile)),
                    timeout, 2);
        } catch (IllegalArgumentException e) {
            throw new SetupException("--records-db: " + e.getMessage(), e);
        }
        KexRecordRepository repository = new KexRecordRepository(settings);
        try {
            // Says now, and clearly, when the database cannot be reached, rather than once per session.
            InetSocketAddress nowhere = new InetSocketAddress("0.0.0.0", 0);
            repository.findByConnection(nowhere, nowhere);
        } catch (RecordStoreException e) {
            repository.close();
            throw e;
        }
        SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, primaryId, timeout,
                Duration.ofMillis(100), 1);
        return new Opened(source, repository, settings.describe() + ", primary " + primaryId + ", " + opener);
    }

    private static void require(String value, String flag, String from) throws UsageException {
        if (value == null) {
            throw new UsageException("missing " + flag + from);
        }
    }

    /** The same rules as the primary's password file: the password alone, in a file only its owner reads. */
    private static String readPassword(Path file) throws SetupException {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
                throw new SetupException(file + " is readable by group or others: chmod 600 it", null);
            }
            String password = Files.readString(file, StandardCharsets.UTF_8).strip();
            if (password.isEmpty()) {
                throw new SetupException(file + " is empty", null);
            }
            return password;
        } catch (NoSuchFileException e) {
            throw new SetupException("the database password file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new SetupException("cannot read the database password file " + file + ": " + e, e);
        }
    }
}
