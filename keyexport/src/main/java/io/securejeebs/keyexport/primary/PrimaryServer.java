package io.securejeebs.keyexport.primary;

import io.securejeebs.keyexport.KexRecordSink;
import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExportStatistics;
import io.securejeebs.keyexport.export.KexExporter;
import io.securejeebs.keyexport.probe.ProbedSessionFactory;
import io.securejeebs.keyexport.probe.StateProbe;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.compression.BuiltinCompressions;
import org.apache.sshd.common.io.IoServiceFactory;
import org.apache.sshd.common.io.nio2.Nio2ServiceFactory;
import org.apache.sshd.common.io.nio2.Nio2ServiceFactoryFactory;
import org.apache.sshd.common.kex.BuiltinDHFactories;
import org.apache.sshd.common.kex.KeyExchangeFactory;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.apache.sshd.common.signature.BuiltinSignatures;
import org.apache.sshd.common.signature.Signature;
import org.apache.sshd.core.CoreModuleProperties;
import org.apache.sshd.server.ServerBuilder;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.auth.UserAuthFactory;
import org.apache.sshd.server.auth.keyboard.UserAuthKeyboardInteractiveFactory;
import org.apache.sshd.server.auth.password.UserAuthPasswordFactory;
import org.apache.sshd.server.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.server.forward.DirectTcpipFactory;
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
        checkHost();
        checkPamService(config);
        openWholeClassPath();
        List<KeyPair> hostKeys = HostKeys.loadOrCreate(config);
        this.exporter = new KexExporter(config.primaryId(), sink, config.exportTimeout(), config.exportFailClosed());
        this.pam = new PamAuthenticator(config.pamService(), config.rootLogin() == PrimaryConfig.RootLogin.YES);
        this.sshd = build(config, hostKeys);
    }

    /** What the primary needs from the machine; a clear error at start rather than a broken login later. */
    private static void checkHost() throws IOException {
        if (!ThreadFilesystemCredentials.supported()) {
            throw new IOException("the primary runs on Linux (x86_64 or aarch64) only; this is "
                    + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
        if (LibC.INSTANCE.geteuid() != 0) {
            throw new IOException("the primary must run as root: it logs users in and runs their sessions as them");
        }
        for (var tool : List.of(UserSessionLauncher.RUNUSER, UserSessionLauncher.SH)) {
            if (!Files.isExecutable(tool)) {
                throw new IOException(tool + " is missing: sessions are started with it (Debian package util-linux / dash)");
            }
        }
    }

    private static void checkPamService(PrimaryConfig config) {
        if ((config.passwordAuth() || config.keyboardInteractiveAuth())
                && !Files.exists(java.nio.file.Path.of("/etc/pam.d", config.pamService()))) {
            log.warn("/etc/pam.d/{} is missing: PAM falls back to its 'other' service for password logins"
                    + " (install conf/pam.d/securejeebs there)", config.pamService());
        }
    }

    /**
     * SFTP threads work with a user's file permissions, and a class loaded for the first time on such a thread
     * is read with them too. Asking for a resource every jar has makes the class loader open every jar on the
     * class path now, as root; open jars stay open, so later class loading never needs to re-read a path the
     * user may not (e.g. a build under /root).
     */
    private static void openWholeClassPath() throws IOException {
        var manifests = ClassLoader.getSystemClassLoader().getResources("META-INF/MANIFEST.MF");
        while (manifests.hasMoreElements()) {
            manifests.nextElement();
        }
    }

    private SshServer build(PrimaryConfig config, List<KeyPair> hostKeys) {
        SshServer server = SshServer.setUpDefaultServer();
        server.setIoServiceFactoryFactory(new Nio2ServiceFactoryFactory());
        server.setHost(config.listen().getAddress().getHostAddress());
        server.setPort(config.listen().getPort());
        CoreModuleProperties.SERVER_IDENTIFICATION.set(server, config.identification());
        // A sysadmin's idle shell must not be cut after MINA's default 10 minutes (sshd has no idle timeout).
        CoreModuleProperties.IDLE_TIMEOUT.set(server, Duration.ZERO);

        List<KeyExchangeFactory> kex = new ArrayList<>();
        for (String name : config.kexAlgorithms()) {
            kex.add(ServerBuilder.DH2KEX.apply(BuiltinDHFactories.fromFactoryName(name)));
        }
        server.setKeyExchangeFactories(kex);
        List<NamedFactory<Cipher>> ciphers = new ArrayList<>();
        config.ciphers().forEach(n -> ciphers.add(BuiltinCiphers.fromFactoryName(n)));
        server.setCipherFactories(ciphers);
        List<NamedFactory<Mac>> macs = new ArrayList<>();
        config.macs().forEach(n -> macs.add(BuiltinMacs.fromFactoryName(n)));
        server.setMacFactories(macs);
        List<NamedFactory<Signature>> signatures = new ArrayList<>();
        config.signatures().forEach(n -> signatures.add(BuiltinSignatures.fromFactoryName(n)));
        server.setSignatureFactories(signatures);
        // Compression state (zlib history) cannot be carried over to the appliance: none only.
        server.setCompressionFactories(List.of(BuiltinCompressions.none));

        server.setKeyPairProvider(KeyPairProvider.wrap(hostKeys));

        List<UserAuthFactory> auth = new ArrayList<>();
        if (config.publickeyAuth()) {
            auth.add(UserAuthPublicKeyFactory.INSTANCE);
            server.setPublickeyAuthenticator(new UserAuthorizedKeys(config.rootLogin() != PrimaryConfig.RootLogin.NO));
        } else {
            server.setPublickeyAuthenticator(null);
        }
        if (config.keyboardInteractiveAuth()) {
            auth.add(UserAuthKeyboardInteractiveFactory.INSTANCE);
            server.setKeyboardInteractiveAuthenticator(pam);
        } else {
            server.setKeyboardInteractiveAuthenticator(null);
        }
        if (config.passwordAuth()) {
            auth.add(UserAuthPasswordFactory.INSTANCE);
            server.setPasswordAuthenticator(pam);
        } else {
            server.setPasswordAuthenticator(null);
        }
        server.setUserAuthFactories(auth);
        server.setGSSAuthenticator(null);
        server.setHostBasedAuthenticator(null);

        UserSessionCommands commands = new UserSessionCommands(config.acceptEnv());
        server.setShellFactory(commands);
        server.setCommandFactory(commands);
        server.setSubsystemFactories(List.of(new UserSftpSubsystemFactory()));
        server.setChannelFactories(List.of(new UserChannelSessionFactory(config.acceptEnv()), DirectTcpipFactory.INSTANCE));
        server.setForwardingFilter(new PrimaryForwardingFilter(config.directTcpip()));

        // probe.socket (test only): sessions whose transport state the probe can read under their own locks
        server.setSessionFactory(config.probeSocket() != null ? new ProbedSessionFactory(server, exporter)
                : new ExportingSessionFactory(server, exporter));
        server.addSessionListener(exporter);
        server.addSessionListener(new SessionListener() {
            @Override
            public void sessionEvent(Session session, Event event) {
                if (event == Event.Authenticated) {
                    log.info("{} logged in from {}", session.getUsername(),
                            PamAuthenticator.describe(session.getIoSession().getRemoteAddress()));
                }
            }
        });
        return server;
    }

    public void start() throws IOException {
        sshd.start();
        IoServiceFactory io = sshd.getIoServiceFactory();
        if (!(io instanceof Nio2ServiceFactory)) {
            sshd.stop(true);
            throw new IllegalStateException("MINA picked the I/O back-end " + io.getClass().getName()
                    + "; the primary needs NIO2 (remove sshd-mina / sshd-netty from the class path)");
        }
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
