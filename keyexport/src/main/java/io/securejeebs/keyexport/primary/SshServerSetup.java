package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.sshd.common.Factory;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.channel.ChannelFactory;
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
 * How a SecureJeebs SSH server is set up, in one place for the two servers that must look identical to a
 * client: the primary, and the appliance's recovery server that continues the primary's sessions (same
 * algorithms in the same order, same identification, same host keys, same logins, same user sessions).
 */
public final class SshServerSetup {
    private static final Logger log = LoggerFactory.getLogger(SshServerSetup.class);

    private SshServerSetup() {}

    /** A MINA server made by {@code factory}, on the NIO2 back-end (the socket swap depends on it). */
    public static SshServer newServer(Factory<SshServer> factory) {
        SshServer server = ServerBuilder.builder().factory(factory).build();
        server.setIoServiceFactoryFactory(new Nio2ServiceFactoryFactory());
        return server;
    }

    /**
     * Identification, algorithms in the config's order, compression none, host keys, no idle timeout.
     * Both servers must send the same identification and offer the same lists: a recorded key exchange is
     * replayed against the recovery server byte for byte.
     */
    public static void transport(SshServer server, PrimaryConfig config, List<KeyPair> hostKeys) {
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
    }

    /**
     * The logins the config allows: publickey from the user's authorized_keys, password and
     * keyboard-interactive through {@code pam}; nothing else.
     */
    public static void authentication(SshServer server, PrimaryConfig config, PamAuthenticator pam) {
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
    }

    /**
     * Shells and commands as the user, SFTP, direct-tcpip as the config allows, and "session" channels made
     * by {@code sessionChannels} (a {@link UserChannelSessionFactory}, or a subclass of it).
     */
    public static void userSessions(SshServer server, PrimaryConfig config, ChannelFactory sessionChannels) {
        userSessions(server, config, sessionChannels, DirectTcpipFactory.INSTANCE);
    }

    /** The same, with direct-tcpip channels made by {@code forwardChannels} (the recovery server's never re-dial). */
    public static void userSessions(SshServer server, PrimaryConfig config, ChannelFactory sessionChannels,
                                    ChannelFactory forwardChannels) {
        UserSessionCommands commands = new UserSessionCommands(config.acceptEnv());
        server.setShellFactory(commands);
        server.setCommandFactory(commands);
        server.setSubsystemFactories(List.of(new UserSftpSubsystemFactory()));
        server.setChannelFactories(List.of(sessionChannels, forwardChannels));
        server.setForwardingFilter(new PrimaryForwardingFilter(config.directTcpip()));
    }

    /** Logs every successful login: user and client address. */
    public static void logLogins(SshServer server) {
        server.addSessionListener(new SessionListener() {
            @Override
            public void sessionEvent(Session session, Event event) {
                if (event == Event.Authenticated) {
                    log.info("{} logged in from {}", session.getUsername(),
                            PamAuthenticator.describe(session.getIoSession().getRemoteAddress()));
                }
            }
        });
    }

    /** After start: MINA must have picked NIO2; otherwise the server is stopped and this throws. */
    public static void requireNio2(SshServer server, String role) throws IOException {
        IoServiceFactory io = server.getIoServiceFactory();
        if (!(io instanceof Nio2ServiceFactory)) {
            server.stop(true);
            throw new IllegalStateException("MINA picked the I/O back-end " + io.getClass().getName()
                    + "; the " + role + " needs NIO2 (remove sshd-mina / sshd-netty from the class path)");
        }
    }

    /** What a server running user sessions needs from the machine; a clear error at start rather than a broken login later. */
    public static void checkHost(String role) throws IOException {
        if (!ThreadFilesystemCredentials.supported()) {
            throw new IOException("the " + role + " runs on Linux (x86_64 or aarch64) only; this is "
                    + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
        if (LibC.INSTANCE.geteuid() != 0) {
            throw new IOException("the " + role + " must run as root: it logs users in and runs their sessions as them");
        }
        for (var tool : List.of(UserSessionLauncher.RUNUSER, UserSessionLauncher.SH)) {
            if (!Files.isExecutable(tool)) {
                throw new IOException(tool + " is missing: sessions are started with it (Debian package util-linux / dash)");
            }
        }
    }

    public static void checkPamService(PrimaryConfig config) {
        if ((config.passwordAuth() || config.keyboardInteractiveAuth())
                && !Files.exists(Path.of("/etc/pam.d", config.pamService()))) {
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
    public static void openWholeClassPath() throws IOException {
        var manifests = ClassLoader.getSystemClassLoader().getResources("META-INF/MANIFEST.MF");
        while (manifests.hasMoreElements()) {
            manifests.nextElement();
        }
    }
}
