package io.securejeebs.keyexport.primary;

import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExportStatistics;
import io.securejeebs.keyexport.export.KexExporter;
import io.securejeebs.keyexport.probe.ProbedSessionFactory;
import io.securejeebs.keyexport.probe.ProbedSftpHandles;
import io.securejeebs.keyexport.probe.StateProbe;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.util.List;
import java.util.Objects;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary: a MINA SSHD server (NIO2 transport) that logs users in with their keys or, through PAM, their
 * passwords, runs their shells, commands and SFTP as them, and exports every key exchange to a
 * {@link KexRecordSink} before the server's NEWKEYS ({@link ExportingSessionFactory}).
 */
public final class PrimaryServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrimaryServer.class);

    private final PrimaryConfig config;
    private final KexExporter exporter;
    private final PamAuthenticator pam;
    private final SshServer sshd;
    private volatile StateProbe probe;

    public PrimaryServer(PrimaryConfig config, KexRecordSink sink) throws IOException {
        this.config = Objects.requireNonNull(config, "config");
        SshServerSetup.checkHost("primary");
        SshServerSetup.checkPamService(config);
        SshServerSetup.openWholeClassPath();
        List<KeyPair> hostKeys = HostKeys.loadOrCreate(config);
        this.exporter = new KexExporter(config.primaryId(), sink, config.exportTimeout(), config.exportFailClosed());
        this.pam = new PamAuthenticator(config.pamService(), config.rootLogin() == PrimaryConfig.RootLogin.YES);
        this.sshd = build(config, hostKeys);
    }

    private SshServer build(PrimaryConfig config, List<KeyPair> hostKeys) {
        SshServer server = SshServerSetup.newServer(SshServer::new);
        server.setHost(config.listen().getAddress().getHostAddress());
        server.setPort(config.listen().getPort());
        SshServerSetup.transport(server, config, hostKeys);
        SshServerSetup.authentication(server, config, pam);
        SshServerSetup.userSessions(server, config, new UserChannelSessionFactory(config.acceptEnv()));
        // probe.socket (test only): sessions whose transport state the probe can read under their own locks
        server.setSessionFactory(config.probeSocket() != null ? new ProbedSessionFactory(server, exporter)
                : new ExportingSessionFactory(server, exporter));
        if (config.probeSocket() != null) { // and the SFTP handles they hold
            for (var subsystems : server.getSubsystemFactories()) {
                if (subsystems instanceof SftpSubsystemFactory sftp) {
                    sftp.addSftpEventListener(new ProbedSftpHandles());
                }
            }
        }
        server.addSessionListener(exporter);
        SshServerSetup.logLogins(server);
        return server;
    }

    public void start() throws IOException {
        sshd.start();
        SshServerSetup.requireNio2(sshd, "primary");
        if (config.probeSocket() != null) {
            try {
                probe = StateProbe.start(config.probeSocket(), config.primaryId(), sshd::getActiveSessions);
            } catch (IOException | RuntimeException e) {
                sshd.stop(true);
                throw new IOException("probe.socket: " + e.getMessage(), e);
            }
        }
        log.info("primary '{}' listening on {}:{} as '{}' (kex {}, export {}, direct-tcpip {})", config.primaryId(),
                config.listen().getAddress().getHostAddress(), port(), config.identificationLine(),
                String.join(",", config.kexAlgorithms()), config.exportFailClosed() ? "fail-closed" : "fail-open",
                config.directTcpip() ? "on" : "off");
    }

    /** The port actually listened on (the configured one, or the one the kernel chose for port 0). */
    public int port() {
        return sshd.getPort();
    }

    public InetSocketAddress address() {
        return new InetSocketAddress(config.listen().getAddress(), port());
    }

    public PrimaryConfig config() {
        return config;
    }

    /** Export counters, including the sessions left unprotected. */
    public KexExportStatistics exportStatistics() {
        return exporter.statistics();
    }

    /** Sessions that went on although a key exchange of theirs could not be exported (fail-open). */
    public long unprotectedSessions() {
        return exporter.statistics().unprotectedSessions();
    }

    /** The MINA server, for the recovery side and tests that need its settings. */
    public SshServer sshServer() {
        return sshd;
    }

    @Override
    public void close() throws IOException {
        if (probe != null) {
            probe.close();
        }
        try {
            sshd.stop(true);
        } finally {
            exporter.close();
            pam.close();
        }
    }
}
