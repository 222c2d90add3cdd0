package io.securejeebs.recovery.server;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.sshd.client.ClientBuilder;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.auth.password.UserAuthPasswordFactory;
import org.apache.sshd.client.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.kex.BuiltinDHFactories;
import org.apache.sshd.common.keyprovider.KeyIdentityProvider;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.core.CoreModuleProperties;

/** TEST ONLY: real clients of the primary, whose connections the tests then recover. */
final class TestClients {
    static final Duration WAIT = Duration.ofSeconds(30);

    private TestClients() {}

    /** What a client's channel printed, thread-safe, with a wait for text. */
    static final class Output extends OutputStream {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public synchronized void write(int b) {
            bytes.write(b);
            notifyAll();
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            bytes.write(b, off, len);
            notifyAll();
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        synchronized String await(String text, int occurrences) throws InterruptedException {
            long deadline = System.currentTimeMillis() + WAIT.toMillis();
            while (count(text(), text) < occurrences) {
                if (System.currentTimeMillis() > deadline) {
                    fail("'" + text + "' did not appear " + occurrences + " time(s) in: " + text());
                }
                wait(200);
            }
            return text();
        }

        private int count(String all, String text) {
            int n = 0;
            for (int i = all.indexOf(text); i >= 0; i = all.indexOf(text, i + 1)) {
                n++;
            }
            return n;
        }
    }

    /** A MINA client logged in to the primary through a recording relay, with a shell on a pty. */
    static final class Original implements AutoCloseable {
        final RecordingRelay relay;
        final SshClient client;
        final ClientSession session;
        final ChannelShell shell;
        final Output out = new Output();

        /** Something a test does on the session before the shell channel is opened. */
        interface BeforeShell {
            void run(ClientSession session) throws Exception;
        }

        Original(RecoveryFixture fx, String kex, String cipher, String mac, boolean password) throws Exception {
            this(fx, kex, cipher, mac, password, s -> { });
        }

        Original(RecoveryFixture fx, String kex, String cipher, String mac, boolean password, BeforeShell beforeShell)
                throws Exception {
            this(fx, RecoveryFixture.USER, kex, cipher, mac, password, beforeShell);
        }

        Original(RecoveryFixture fx, String user, String kex, String cipher, String mac, boolean password,
                BeforeShell beforeShell) throws Exception {
            this(fx, user, List.of(kex), cipher, mac, password, c -> { }, beforeShell);
        }

        /** @param kex the client's key exchanges, in its order; @param setUp more client settings, before it starts */
        Original(RecoveryFixture fx, String user, List<String> kex, String cipher, String mac, boolean password,
                java.util.function.Consumer<SshClient> setUp, BeforeShell beforeShell) throws Exception {
            fx.clearRecords();
            relay = new RecordingRelay(fx.primaryAddress());
            client = SshClient.setUpDefaultClient();
            client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
            client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
            client.setKeyExchangeFactories(kex.stream()
                    .map(k -> ClientBuilder.DH2KEX.apply(BuiltinDHFactories.fromFactoryName(k))).toList());
            client.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(cipher)));
            if (mac != null) {
                client.setMacFactories(List.of(BuiltinMacs.fromFactoryName(mac)));
            }
            client.setUserAuthFactories(List.of(password ? UserAuthPasswordFactory.INSTANCE : UserAuthPublicKeyFactory.INSTANCE));
            CoreModuleProperties.REQUEST_SHELL_REPLY.set(client, true);
            setUp.accept(client);
            client.start();
            session = client.connect(user, "127.0.0.1", relay.port()).verify(WAIT).getSession();
            if (password) {
                session.addPasswordIdentity(RecoveryFixture.PASSWORD);
            } else {
                session.addPublicKeyIdentity(fx.clientKey);
            }
            session.auth().verify(WAIT);
            beforeShell.run(session);
            shell = session.createShellChannel();
            shell.setPtyType("xterm-256color");
            shell.setPtyColumns(101);
            shell.setPtyLines(33);
            shell.setEnv("LANG", "C.UTF-8");
            shell.setOut(out);
            shell.setErr(out);
            shell.open().verify(WAIT);
            out.await(EchoShell.READY, 1);
        }

        void type(String line, int occurrences) throws Exception {
            OutputStream in = shell.getInvertedIn();
            in.write(line.getBytes(StandardCharsets.UTF_8));
            in.flush();
            out.await(line.trim(), occurrences);
        }

        @Override
        public void close() throws java.io.IOException {
            try {
                client.stop();
            } finally {
                relay.close();
            }
        }
    }

    /**
     * Makes a client behave as Dropbear does: its first KEXINIT says a key-exchange packet follows, and one
     * does (a KEX_ECDH_INIT with a zero Q_C) before it has the server's KEXINIT. With the client's preferred key
     * exchange not the server's, the guess is wrong: the server ignores that packet (RFC 4253 §7.1), and the
     * client then sends its real KEX_ECDH_INIT.
     */
    static void guessFirstKexPacket(SshClient client) {
        java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
        client.setReservedSessionMessagesHandler(new org.apache.sshd.common.session.ReservedSessionMessagesHandler() {
            @Override
            public org.apache.sshd.common.io.IoWriteFuture sendKexInitRequest(org.apache.sshd.common.session.Session session,
                    java.util.Map<org.apache.sshd.common.kex.KexProposalOption, String> proposal,
                    org.apache.sshd.common.util.buffer.Buffer buffer) throws Exception {
                if (!first.getAndSet(false)) {
                    return null;
                }
                buffer.wpos(buffer.wpos() - 5);
                buffer.putBoolean(true); // first_kex_packet_follows, in the I_C MINA keeps
                buffer.putUInt(0);
                byte[] payload = buffer.getCompactData();
                org.apache.sshd.common.util.buffer.Buffer kexInit = session.createBuffer(payload[0], payload.length);
                kexInit.putRawBytes(payload, 1, payload.length - 1);
                session.writePacket(kexInit);
                org.apache.sshd.common.util.buffer.Buffer guess = session.createBuffer(
                        org.apache.sshd.common.SshConstants.SSH_MSG_KEX_FIRST, 40);
                guess.putBytes(new byte[32]);
                return session.writePacket(guess);
            }
        });
    }

    /** Makes a client behave as asyncssh does: EXT_INFO ("global-requests-ok") right after its first NEWKEYS. */
    static void sendExtInfo(SshClient client) {
        java.util.concurrent.atomic.AtomicBoolean sent = new java.util.concurrent.atomic.AtomicBoolean();
        client.setKexExtensionHandler(new org.apache.sshd.common.kex.extension.DefaultClientKexExtensionHandler() {
            @Override
            public boolean isKexExtensionsAvailable(org.apache.sshd.common.session.Session session, AvailabilityPhase phase)
                    throws java.io.IOException {
                return phase == AvailabilityPhase.NEWKEYS ? !sent.get() : super.isKexExtensionsAvailable(session, phase);
            }

            @Override
            public void sendKexExtensions(org.apache.sshd.common.session.Session session, KexPhase phase) throws Exception {
                if (phase == KexPhase.NEWKEYS && !sent.getAndSet(true)) {
                    org.apache.sshd.common.util.buffer.Buffer b = session.createBuffer(
                            org.apache.sshd.common.kex.extension.KexExtensions.SSH_MSG_EXT_INFO, 32);
                    b.putUInt(1);
                    b.putString("global-requests-ok");
                    b.putString("");
                    session.writePacket(b);
                }
            }
        });
    }

    /** Waits until nothing has passed the relay for a while, so that its recording is the connection's state. */
    static void quiet(RecordingRelay relay) throws InterruptedException {
        int last = -1;
        for (int same = 0; same < 3; ) {
            Thread.sleep(100);
            int now = relay.clientToServer().length + relay.serverToClient().length;
            same = now == last ? same + 1 : 0;
            last = now;
        }
    }

}
