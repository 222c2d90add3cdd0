package io.securejeebs.monitor.bench;

import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExporter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.apache.sshd.common.compression.BuiltinCompressions;
import org.apache.sshd.common.config.keys.AuthorizedKeyEntry;
import org.apache.sshd.common.config.keys.PublicKeyEntryResolver;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.auth.pubkey.KeySetPublickeyAuthenticator;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;

/**
 * An SSH server for benchmarks and tests, never for users: MINA SSHD exporting a KEX record for every key
 * exchange through the primary's own export path ({@link ExportingSessionFactory}, {@link KexExporter},
 * fail closed) to the sink it is given (the sealing store and MariaDB, or memory), with no account, no
 * PAM and no user shell behind it. Its sessions:
 * <ul>
 * <li>a shell, and exec {@code cat}: echo their input;</li>
 * <li>exec {@code stream SECONDS MBIT [DELAY]}: after DELAY seconds (default 0), sends zeros for that
 *     long at that rate (0 = as fast as the channel goes), then logs one
 *     {@code STREAM bytes=.. seconds=.. mbit_per_s=..} line.</li>
 * </ul>
 * Logins: a fixed password, and/or the public keys of an authorized_keys file. Compression is off, as on
 * the primary.
 */
public final class BenchSshServer implements AutoCloseable {
    private final SshServer sshd;
    private final KexExporter exporter;

    private BenchSshServer(SshServer sshd, KexExporter exporter) {
        this.sshd = sshd;
        this.exporter = exporter;
    }

    /**
     * @param password the password every user logs in with, or null for none
     * @param authorizedKeys an authorized_keys file whose keys log in as any user, or null for none
     * @param log where the stream lines go
     */
    public static BenchSshServer start(String host, int port, String primaryId, KexRecordSink sink, String password,
                                       Path authorizedKeys, PrintStream log) throws IOException {
        SshServer sshd = SshServer.setUpDefaultServer();
        sshd.setHost(host);
        sshd.setPort(port);
        sshd.setKeyPairProvider(new SimpleGeneratorHostKeyProvider()); // in memory, made at start
        sshd.setCompressionFactories(List.of(BuiltinCompressions.none));
        sshd.setPasswordAuthenticator(password == null ? null : (user, pw, session) -> password.equals(pw));
        sshd.setKeyboardInteractiveAuthenticator(null);
        if (authorizedKeys != null) {
            try {
                List<PublicKey> keys = AuthorizedKeyEntry.resolvePublicKeyEntries(null,
                        AuthorizedKeyEntry.readAuthorizedKeys(authorizedKeys), PublicKeyEntryResolver.FAILING);
                sshd.setPublickeyAuthenticator(new KeySetPublickeyAuthenticator(authorizedKeys, keys));
            } catch (GeneralSecurityException e) {
                throw new IOException(authorizedKeys + ": " + e.getMessage(), e);
            }
        } else {
            sshd.setPublickeyAuthenticator(null);
        }
        sshd.setShellFactory(channel -> new EchoCommand());
        sshd.setCommandFactory((channel, command) -> {
            String[] words = command.trim().split("\\s+");
            if ((words.length == 3 || words.length == 4) && words[0].equals("stream")) {
                return new Stream(Double.parseDouble(words[1]), Double.parseDouble(words[2]),
                        words.length == 4 ? Double.parseDouble(words[3]) : 0, log);
            }
            if (words.length == 1 && words[0].equals("cat")) {
                return new EchoCommand();
            }
            throw new IllegalArgumentException("the bench server runs 'cat' and 'stream SECONDS MBIT [DELAY]' only");
        });
        KexExporter exporter = new KexExporter(primaryId, sink, Duration.ofSeconds(5), true);
        sshd.setSessionFactory(new ExportingSessionFactory(sshd, exporter));
        sshd.addSessionListener(exporter);
        sshd.start();
        return new BenchSshServer(sshd, exporter);
    }

    public int port() {
        return sshd.getPort();
    }

    public SshServer sshd() {
        return sshd;
    }

    @Override
    public void close() throws IOException {
        sshd.stop(true);
        exporter.close();
    }

    /** Zeros for a while, paced, then a line in the log. */
    private static final class Stream extends ThreadedCommand {
        private static final int CHUNK = 32 << 10;
        private final double seconds;
        private final double mbit;
        private final double delay;
        private final PrintStream log;

        Stream(double seconds, double mbit, double delay, PrintStream log) {
            this.seconds = seconds;
            this.mbit = mbit;
            this.delay = delay;
            this.log = log;
        }

        @Override
        protected void work(Environment env) throws IOException {
            try {
                Thread.sleep((long) (delay * 1000));
            } catch (InterruptedException e) {
                throw new IOException("interrupted", e);
            }
            byte[] zeros = new byte[CHUNK];
            double bytesPerNano = mbit * 1e6 / 8 / 1e9;
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            long sent = 0;
            while (System.nanoTime() < end) {
                out.write(zeros);
                out.flush();
                sent += CHUNK;
                if (bytesPerNano > 0) {
                    long due = start + (long) (sent / bytesPerNano);
                    long ahead = due - System.nanoTime();
                    if (ahead > 0) {
                        LockSupport.parkNanos(ahead);
                    }
                }
            }
            double took = (System.nanoTime() - start) / 1e9;
            out.close();
            synchronized (log) {
                log.printf("STREAM bytes=%d seconds=%.3f mbit_per_s=%.1f%n", sent, took, sent * 8 / took / 1e6);
                log.flush();
            }
        }
    }
}
