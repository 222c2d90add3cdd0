package io.securejeebs.recovery.ssh;

import com.pty4j.PtyProcess;
import com.pty4j.PtyProcessBuilder;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.keyexport.primary.PrimaryConfig;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import io.securejeebs.monitor.warmup.IsolatedSshClient;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.apache.sshd.common.signature.BuiltinSignatures;
import org.apache.sshd.common.signature.Signature;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pays the appliance JVM's first-use costs at start rather than during a failover: class loading and
 * the first compilation of the packet encoder and decoder under every configured cipher and MAC, the
 * host-key signature algorithms the recovery server verifies logins with, and pty4j's native library,
 * which the first recovered shell otherwise extracts and loads. Measured in the failover timeline: the
 * first replay spent a few hundred milliseconds in such costs.
 */
public final class RecoveryWarmUp {
    private static final Logger log = LoggerFactory.getLogger(RecoveryWarmUp.class);

    private RecoveryWarmUp() {}

    /** Runs on a daemon thread; logs what it did and how long it took. */
    public static void startInBackground(PrimaryConfig primary) {
        Thread t = new Thread(() -> {
            long t0 = System.nanoTime();
            try {
                String done = run(primary);
                log.info("recovery warm-up done in {} ms: {}", (System.nanoTime() - t0) / 1_000_000, done);
            } catch (Exception | LinkageError e) {
                log.warn("recovery warm-up failed (the first failover will be slower): {}", e.toString());
            }
        }, "sj-warm-up");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
    }

    /** The whole warm-up on the calling thread; what it warmed, or the first failure. */
    static String run(PrimaryConfig primary) throws Exception {
        int transports = transports(primary);
        int signatures = signatures(primary.signatures());
        replayEnd();
        loopbackSession(primary);
        boolean pty = pty();
        return transports + " cipher/MAC pair(s), " + signatures + " signature algorithm(s), pty "
                + (pty ? "ready" : "not available");
    }

    private static int transports(PrimaryConfig primary) throws Exception {
        SecureRandom random = new SecureRandom();
        int pairs = 0;
        for (String cipherName : primary.ciphers()) {
            Cipher c = BuiltinCiphers.fromFactoryName(cipherName).create();
            List<String> macs = c.getAuthenticationTagSize() > 0 ? java.util.Collections.singletonList(null) : primary.macs();
            for (String macName : macs) {
                DirectionKeys keys = DirectionKeys.random(cipherName, macName, random);
                SshPacketEncoder encoder = new SshPacketEncoder(keys, CipherPosition.START);
                SshPacketDecoder decoder = new SshPacketDecoder(keys, CipherPosition.START);
                byte[] payload = new byte[512];
                payload[0] = 94;
                for (int i = 0; i < 300; i++) {
                    byte[] wire = encoder.encode(payload);
                    decoder.feed(wire, 0, wire.length, (seq, p, o, l, w) -> true);
                }
                pairs++;
            }
        }
        return pairs;
    }

    /**
     * One throw-away SSH session between a MINA server and client inside this JVM, on loopback, with the
     * primary's key exchanges and ciphers: the server session, key exchange, publickey login and session
     * channel code the recovery server runs for its first replay. Nothing outside the JVM is touched: the
     * client reads no ~/.ssh of the host ({@link IsolatedSshClient}), and both keys are made by MINA's own
     * key generator (a JDK-made Ed25519 key is not one MINA's publickey code can encode).
     */
    private static void loopbackSession(PrimaryConfig primary) throws Exception {
        KeyPair hostKey = KeyUtils.generateKeyPair(KeyPairProvider.SSH_ED25519, 256);
        KeyPair userKey = KeyUtils.generateKeyPair(KeyPairProvider.SSH_ED25519, 256);
        org.apache.sshd.server.SshServer server = org.apache.sshd.server.SshServer.setUpDefaultServer();
        server.setIoServiceFactoryFactory(new org.apache.sshd.common.io.nio2.Nio2ServiceFactoryFactory());
        server.setHost("127.0.0.1");
        server.setPort(0);
        server.setKeyPairProvider(KeyPairProvider.wrap(hostKey));
        server.setPublickeyAuthenticator((user, key, session) -> KeyUtils.compareKeys(key, userKey.getPublic()));
        server.setPasswordAuthenticator(null);
        server.setKeyboardInteractiveAuthenticator(null);
        server.setShellFactory(channel -> new org.apache.sshd.server.shell.UnknownCommand("warm-up"));
        server.start();
        try (org.apache.sshd.client.SshClient client = IsolatedSshClient.create()) {
            client.start();
            for (String cipher : primary.ciphers().subList(0, 1)) { // the cipher code is warmed by transports()
                client.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(cipher)));
                try (org.apache.sshd.client.session.ClientSession session = client.connect("warm-up", "127.0.0.1",
                        server.getPort()).verify(10, TimeUnit.SECONDS).getSession()) {
                    session.addPublicKeyIdentity(userKey);
                    session.auth().verify(10, TimeUnit.SECONDS);
                    try (org.apache.sshd.client.channel.ChannelShell shell = session.createShellChannel()) {
                        shell.setPtyType("xterm");
                        shell.open().verify(10, TimeUnit.SECONDS);
                    }
                }
            }
        } finally {
            server.stop(true);
        }
    }

    /** The REPLAY_END codec and the TCP state types, as the first failover builds them. */
    private static void replayEnd() throws Exception {
        String cipher = "chacha20-poly1305@openssh.com";
        DirectionKeys keys = new DirectionKeys(cipher, null, new byte[12], new byte[64], null);
        java.net.InetSocketAddress a = new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 22);
        io.securejeebs.kernel.TcpState tcp = new io.securejeebs.kernel.TcpState(a, a, 1, new byte[10], 2, new byte[10],
                new io.securejeebs.kernel.TcpOptions(1460, true, true, 7, 7, true), 2, 65536, 65536);
        io.securejeebs.cpr.ReplayEnd end = new io.securejeebs.cpr.ReplayEnd(
                new io.securejeebs.cpr.ReplayEnd.Direction(keys, new CipherPosition(3, 3)),
                new io.securejeebs.cpr.ReplayEnd.Direction(keys, new CipherPosition(4, 4)),
                List.of(new io.securejeebs.cpr.ReplayEnd.ChannelState(0, 0, 1000, 32768, 1000, 32768, 0)),
                new io.securejeebs.cpr.ReplayEnd.TcpHandover(tcp, io.securejeebs.kernel.TcpRepair.RepairExit.NO_WINDOW_PROBE),
                "");
        io.securejeebs.cpr.ReplayEnd.decode(end.encode());
    }

    private static int signatures(List<String> names) throws Exception {
        Map<String, String> algorithms = Map.of("ssh-ed25519", "Ed25519", "ecdsa-sha2-nistp256", "EC",
                "rsa-sha2-512", "RSA", "rsa-sha2-256", "RSA");
        int n = 0;
        byte[] data = new byte[64];
        for (String name : names) {
            String keyAlgorithm = algorithms.get(name);
            BuiltinSignatures factory = BuiltinSignatures.fromFactoryName(name);
            if (keyAlgorithm == null || factory == null) {
                continue;
            }
            KeyPairGenerator g = KeyPairGenerator.getInstance(keyAlgorithm);
            if (keyAlgorithm.equals("RSA")) {
                g.initialize(2048);
            }
            KeyPair pair = g.generateKeyPair();
            Signature signer = factory.create();
            signer.initSigner(null, pair.getPrivate());
            signer.update(null, data);
            byte[] sig = signer.sign(null);
            Signature verifier = factory.create();
            verifier.initVerifier(null, pair.getPublic());
            verifier.update(null, data);
            verifier.verify(null, sig);
            n++;
        }
        return n;
    }

    private static boolean pty() throws Exception {
        PtyProcess p = new PtyProcessBuilder(new String[] {"/bin/true"}).setConsole(false).start();
        return p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0;
    }
}
