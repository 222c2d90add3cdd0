package io.securejeebs.recovery.server;

import io.securejeebs.cpr.RecoveryEndpoint;
import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryPreamble;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.keyexport.primary.HostKeys;
import io.securejeebs.keyexport.primary.PamAuthenticator;
import io.securejeebs.keyexport.primary.PrimaryConfig;
import io.securejeebs.keyexport.primary.SshServerSetup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.KeyPair;
import java.time.Duration;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.session.ServerSessionImpl;
import org.apache.sshd.server.session.SessionFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appliance's SSH server after a failover (DESIGN §4.3): MINA SSHD on NIO2, set up exactly like the
 * primary ({@link SshServerSetup}: the same algorithms, identification, logins and user sessions) with the
 * primary's own host keys, listening on
 * <ul>
 * <li>the login address (VIP:22) for new logins: ordinary sessions, nothing exported;</li>
 * <li>the recovery address (loopback only) for CPR connections, each of which replays one recorded session
 *     ({@link RecoverySession}) that was {@linkplain #expect expected} first.</li>
 * </ul>
 */
public final class RecoveryServer implements RecoveryEndpoint, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RecoveryServer.class);

    /**
     * @param primary        the primary's configuration: algorithms, identification, host key files, logins
     * @param loginListen    where new logins are accepted (VIP:22)
     * @param recoveryListen where CPR connections are accepted: a loopback address; port 0 picks one
     * @param preambleKey    the appliance's 32-byte preamble key (made at start, kept in memory)
     * @param drainTimeout   how long REPLAY_END waits for the replay's output to reach the CPR connection
     * @param customizer     applied to the MINA server after the shared setup (tests swap in their own
     *                       authenticators and shell); null in production
     */
    public record Settings(PrimaryConfig primary, InetSocketAddress loginListen, InetSocketAddress recoveryListen,
                           byte[] preambleKey, Duration drainTimeout, Consumer<SshServer> customizer) {
        public Settings {
            Objects.requireNonNull(primary, "primary");
            Objects.requireNonNull(loginListen, "loginListen");
            Objects.requireNonNull(recoveryListen, "recoveryListen");
            Objects.requireNonNull(drainTimeout, "drainTimeout");
            if (!recoveryListen.getAddress().isLoopbackAddress()) {
                throw new IllegalArgumentException("the recovery port must listen on loopback only, not "
                        + recoveryListen.getAddress().getHostAddress());
            }
            if (preambleKey == null || preambleKey.length != RecoveryPreamble.KEY_LENGTH) {
                throw new IllegalArgumentException("the preamble key has " + RecoveryPreamble.KEY_LENGTH + " bytes");
            }
            preambleKey = preambleKey.clone();
        }

        public Settings(PrimaryConfig primary, InetSocketAddress loginListen, InetSocketAddress recoveryListen,
                        byte[] preambleKey) {
            this(primary, loginListen, recoveryListen, preambleKey, Duration.ofSeconds(5), null);
        }

        public Settings withCustomizer(Consumer<SshServer> c) {
            return new Settings(primary, loginListen, recoveryListen, preambleKey, drainTimeout, c);
        }

        @Override
        public String toString() {
            return "Settings[login " + loginListen + ", recovery " + recoveryListen + "]";
        }
    }

    /** One expected session, claimed by at most one CPR connection. */
    record Claim(RecoveryTicket ticket, CompletableFuture<RecoveryOutcome> future) {}

    private final Settings settings;
    private final RecoveryPreamble.Verifier verifier;
    private final PamAuthenticator pam;
    private final ListeningServer sshd;
    private final Map<String, Claim> expected = new ConcurrentHashMap<>();
    private final AtomicLong refused = new AtomicLong();
    private final ExecutorService resumeExecutor;
    private volatile InetSocketAddress recoveryAddress;

    public RecoveryServer(Settings settings) throws IOException {
        this.settings = Objects.requireNonNull(settings, "settings");
        PrimaryConfig config = settings.primary();
        SshServerSetup.checkHost("recovery server");
        SshServerSetup.checkPamService(config);
        SshServerSetup.openWholeClassPath();
        List<KeyPair> hostKeys = HostKeys.loadExisting(config);
        this.verifier = new RecoveryPreamble.Verifier(settings.preambleKey());
        this.pam = new PamAuthenticator(config.pamService(), config.rootLogin() == PrimaryConfig.RootLogin.YES);
        AtomicInteger n = new AtomicInteger();
        this.resumeExecutor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "recovery-resume-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });

        ListeningServer server = (ListeningServer) SshServerSetup.newServer(ListeningServer::new);
        server.setHost(settings.loginListen().getAddress().getHostAddress());
        server.setPort(settings.loginListen().getPort());
        SshServerSetup.transport(server, config, hostKeys);
        SshServerSetup.authentication(server, config, pam);
        SshServerSetup.userSessions(server, config, new RecoveryChannelSessionFactory(config.acceptEnv()),
                new ReplayedForwardChannel.Factory());
        SshServerSetup.logLogins(server);
        server.setSessionFactory(new Sessions(server));
        if (settings.customizer() != null) {
            settings.customizer().accept(server);
        }
        this.sshd = server;
    }

    /** Binds both listeners. */
    public void start() throws IOException {
        sshd.start();
        SshServerSetup.requireNio2(sshd, "recovery server");
        try {
            recoveryAddress = sshd.bindMore(settings.recoveryListen());
        } catch (IOException | RuntimeException e) {
            sshd.stop(true);
            throw new IOException("cannot listen on the recovery address " + settings.recoveryListen() + ": "
                    + e.getMessage(), e);
        }
        log.info("recovery server listening: logins on {}, CPR connections on {} (as '{}')", loginAddress(),
                recoveryAddress, settings.primary().identificationLine());
    }

    public InetSocketAddress loginAddress() {
        return new InetSocketAddress(settings.loginListen().getAddress(), sshd.getPort());
    }

    @Override
    public InetSocketAddress recoveryAddress() {
        InetSocketAddress a = recoveryAddress;
        if (a == null) {
            throw new IllegalStateException("the recovery server is not started");
        }
        return a;
    }

    @Override
    public String preamble(byte[] sessionId) {
        return verifier.create(sessionId);
    }

    @Override
    public CompletableFuture<RecoveryOutcome> expect(RecoveryTicket ticket) {
        Objects.requireNonNull(ticket, "ticket");
        String key = HexFormat.of().formatHex(ticket.initialKex().sessionId());
        Claim claim = new Claim(ticket, new CompletableFuture<>());
        if (expected.putIfAbsent(key, claim) != null) {
            throw new IllegalStateException("session " + ticket.fingerprint() + " is already expected");
        }
        claim.future().whenComplete((o, e) -> expected.remove(key, claim)); // withdrawn if completed from outside
        log.debug("recovery {}: expected", ticket.fingerprint());
        return claim.future();
    }

    /** The claim for a session id, taken out so that no second connection can have it; null if none. */
    Claim claim(byte[] sessionId) {
        Claim c = expected.remove(HexFormat.of().formatHex(sessionId));
        return c == null || c.future().isDone() ? null : c;
    }

    RecoveryPreamble.Verifier verifier() {
        return verifier;
    }

    Settings settings() {
        return settings;
    }

    ExecutorService resumeExecutor() {
        return resumeExecutor;
    }

    void countRefused() {
        refused.incrementAndGet();
    }

    /** CPR connections refused so far (bad, replayed or unexpected preambles). */
    public long refusedConnections() {
        return refused.get();
    }

    /** The MINA server (tests, and the daemon's status). */
    public SshServer sshServer() {
        return sshd;
    }

    @Override
    public void close() throws IOException {
        try {
            sshd.stop(true);
        } finally {
            resumeExecutor.shutdownNow();
            pam.close();
            expected.values().forEach(c -> c.future().completeExceptionally(
                    new RecoveryFailedException(c.ticket().fingerprint(), "the recovery server stopped")));
        }
    }

    /** A MINA server that can bind one more address after start (the recovery port next to VIP:22). */
    static final class ListeningServer extends SshServer {
        InetSocketAddress bindMore(InetSocketAddress address) throws IOException {
            Set<SocketAddress> before = new HashSet<>(acceptor.getBoundAddresses());
            acceptor.bind(address);
            for (SocketAddress a : acceptor.getBoundAddresses()) {
                if (!before.contains(a)) {
                    return (InetSocketAddress) a;
                }
            }
            throw new IOException("bound " + address + " but the acceptor does not list it");
        }
    }

    /** CPR connections (accepted on the recovery address) become recovery sessions; others are plain logins. */
    private final class Sessions extends SessionFactory {
        Sessions(SshServer server) {
            super(server);
        }

        @Override
        protected ServerSessionImpl doCreateSession(IoSession ioSession) throws Exception {
            InetSocketAddress recovery = recoveryAddress;
            if (recovery != null && recovery.equals(ioSession.getAcceptanceAddress())) {
                return new RecoverySession(getServer(), ioSession, RecoveryServer.this);
            }
            return super.doCreateSession(ioSession);
        }
    }
}
