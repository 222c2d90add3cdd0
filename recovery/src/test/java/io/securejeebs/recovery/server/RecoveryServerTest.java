package io.securejeebs.recovery.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.kernel.TcpRepair;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.KexRecord;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The recovery server against real clients, on 127.0.0.1 only. A client logs in to a primary through a
 * recording relay (what the monitor captures); the primary exports its key exchange; then the recorded
 * client bytes are replayed against the recovery server, REPLAY_END installs the original connection's final
 * state, and the session goes on: on the CPR connection itself, or, with TCP_REPAIR, with the original client
 * on its original TCP connection.
 */
class RecoveryServerTest {
    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path dir;
    static RecoveryFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = new RecoveryFixture(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        if (fx != null) {
            fx.close();
        }
    }

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

        Original(String kex, String cipher, String mac, boolean password) throws Exception {
            fx.clearRecords();
            relay = new RecordingRelay(fx.primaryAddress());
            client = SshClient.setUpDefaultClient();
            client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
            client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
            client.setKeyExchangeFactories(List.of(ClientBuilder.DH2KEX.apply(BuiltinDHFactories.fromFactoryName(kex))));
            client.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(cipher)));
            if (mac != null) {
                client.setMacFactories(List.of(BuiltinMacs.fromFactoryName(mac)));
            }
            client.setUserAuthFactories(List.of(password ? UserAuthPasswordFactory.INSTANCE : UserAuthPublicKeyFactory.INSTANCE));
            CoreModuleProperties.REQUEST_SHELL_REPLY.set(client, true);
            client.start();
            session = client.connect(RecoveryFixture.USER, "127.0.0.1", relay.port()).verify(WAIT).getSession();
            if (password) {
                session.addPasswordIdentity(RecoveryFixture.PASSWORD);
            } else {
                session.addPublicKeyIdentity(fx.clientKey);
            }
            session.auth().verify(WAIT);
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

    static KexRecord onlyRecord() {
        List<KexRecord> records = fx.records();
        assertEquals(1, records.size(), "one key exchange exported: " + records);
        return records.get(0);
    }

    /**
     * The answers the recovery server gave during the replay are the primary's: the same KEXINIT (cookie and
     * all) and KEX reply, a successful login, the same channel confirmation, and success for the shell request.
     */
    static void assertReplayAnswers(Recorded r, CprConnection cpr) throws Exception {
        SshStream.Packet confirmation = cpr.awaitServerPacket(0, p -> p.encrypted() && p.type() == 91, "OPEN_CONFIRMATION");
        List<SshStream.Packet> got = cpr.replay.packets();
        List<SshStream.Packet> original = r.s2c.packets();
        assertArrayEquals(r.record.serverKexInit(), got.get(0).payload(), "the recorded I_S, byte for byte");
        assertArrayEquals(original.get(1).payload(), got.get(1).payload(), "the recorded KEX reply");
        assertTrue(got.stream().anyMatch(p -> p.encrypted() && p.type() == 52), "USERAUTH_SUCCESS: " + CprConnection.types(got));
        SshStream.Packet success = cpr.awaitServerPacket(confirmation.index(), p -> p.encrypted() && p.type() == 99,
                "CHANNEL_SUCCESS for the shell request");
        got = cpr.replay.packets();
        assertEquals(CprConnection.types(original.subList(0, success.index() + 1)),
                CprConnection.types(got.subList(0, success.index() + 1)), "the primary's answers, in the same order");
        SshStream.Packet originalConfirmation = original.stream().filter(p -> p.encrypted() && p.type() == 91).findFirst().orElseThrow();
        assertArrayEquals(originalConfirmation.payload(), confirmation.payload(), "the same channel ids, window and packet size");
        assertTrue(got.stream().noneMatch(p -> p.encrypted() && p.type() == 94), "no shell ran during the replay");
    }

    /**
     * The original connection typed two lines after its shell started. The replay stops at the shell request;
     * REPLAY_END then moves the server to where the original connection stood (sequence numbers, cipher
     * positions and windows all further on), and the test continues as the original client would have.
     */
    @ParameterizedTest(name = "{0} {1} {2} password={3}")
    @CsvSource(nullValues = "none", value = {
            "curve25519-sha256, chacha20-poly1305@openssh.com, none, false",
            "mlkem768x25519-sha256, aes256-gcm@openssh.com, none, true",
            "sntrup761x25519-sha512, aes128-ctr, hmac-sha2-256-etm@openssh.com, false",
            "ecdh-sha2-nistp256, aes128-ctr, hmac-sha2-256, true",
            "diffie-hellman-group-exchange-sha256, aes128-gcm@openssh.com, none, false",
            "diffie-hellman-group14-sha256, aes256-ctr, hmac-sha2-512, true"})
    void aReplayedSessionContinuesFromTheOriginalConnectionsState(String kex, String cipher, String mac,
            boolean password) throws Exception {
        Recorded r;
        try (Original o = new Original(kex, cipher, mac, password)) {
            o.type("before-1\n", 1);
            o.type("before-2\n", 1);
            quiet(o.relay);
            r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());
        }
        assertEquals(kex, r.record.kexName());
        CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(new RecoveryTicket(r.record, null, kex));
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
            cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
            assertReplayAnswers(r, cpr);

            cpr.switchServerStream(r.keys.serverToClient(), r.s2c.position());
            cpr.sendReplayEnd(r.replayEnd(null, "you typed: before-2\n\u001b[31mno escapes"), r.keys.clientToServer(),
                    Recorded.positionAfter(r.c2s, r.shellRequest));
            RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(1, done.shellsStarted());
            assertFalse(done.socketSwapped());
            assertEquals(RecoveryFixture.USER, done.user());
            assertTrue(done.steps().stream().anyMatch(s -> s.name().equals("transport")), done.steps().toString());

            String shown = cpr.awaitData(EchoShell.READY);
            assertTrue(shown.startsWith("\r\n[securejeebs] session recovered after a server failure at "), shown);
            assertTrue(shown.contains("; previous shell state was lost\r\nyou typed: before-2\r\n?[31mno escapes\r\n"), shown);
            assertTrue(shown.contains(EchoShell.READY + " TERM=xterm-256color 101x33"), "the pty as the client asked: " + shown);

            // the client continues exactly where the original connection was
            SshPacketEncoder client = new SshPacketEncoder(r.keys.clientToServer(), r.c2s.position());
            cpr.write(client.encode(Recorded.channelData(r.serverChannel(), "after-1\n")));
            cpr.awaitData("after-1");
            cpr.write(client.encode(Recorded.channelData(r.serverChannel(), "after-2\n")));
            cpr.awaitData("after-2");
        }
    }

    @Test
    void aLiveMinaClientCarriesOnWithTheRecoveryServerOnItsOwnTcpConnection() throws Exception {
        try (Original o = new Original("curve25519-sha256", "chacha20-poly1305@openssh.com", null, false)) {
            o.type("before-1\n", 1);
            quiet(o.relay);
            SocketChannel clientSide = o.relay.detach(); // the primary "dies": nothing passes any more
            Recorded r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());
            AtomicInteger released = new AtomicInteger();
            CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(
                    new RecoveryTicket(r.record, released::incrementAndGet, "mina client"));
            try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
                cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
                cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
                assertReplayAnswers(r, cpr);

                TcpState tcp = TcpRepair.read(clientSide);
                long readAt = System.nanoTime();
                TcpRepair.closeSilently(clientSide);
                int elapsedMs = (int) TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readAt) + 1;
                ReplayEnd end = r.replayEnd(new ReplayEnd.TcpHandover(tcp.withTimestamp(tcp.timestamp() + elapsedMs),
                        TcpRepair.RepairExit.WINDOW_PROBE), "");
                cpr.sendReplayEnd(end, r.keys.clientToServer(), Recorded.positionAfter(r.c2s, r.shellRequest));

                RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(done.socketSwapped());
                assertEquals(1, done.shellsStarted());
                assertEquals(1, released.get(), "the guard released the 4-tuple once");
                cpr.awaitEof(); // the CPR connection's socket was swapped away
            }
            String shown = o.out.await(EchoShell.READY, 2);
            assertTrue(shown.contains("[securejeebs] session recovered after a server failure at "), shown);
            o.type("after-1\n", 1);
            // a rekey started by the client after the recovery negotiates normally
            assertTrue(o.session.reExchangeKeys().verify(WAIT).isDone());
            o.type("after-rekey\n", 1);
            assertTrue(o.session.isOpen());
        }
    }

    @Test
    void theLoginListenerTakesNewLogins() throws Exception {
        SshClient client = SshClient.setUpDefaultClient();
        client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
        client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
        client.start();
        try (ClientSession s = client.connect(RecoveryFixture.USER, "127.0.0.1", fx.recovery.loginAddress().getPort())
                .verify(WAIT).getSession()) {
            s.addPasswordIdentity(RecoveryFixture.PASSWORD);
            s.auth().verify(WAIT);
            assertEquals(fx.config.identificationLine(), s.getServerVersion());
            ChannelShell shell = s.createShellChannel();
            Output out = new Output();
            shell.setOut(out);
            shell.open().verify(WAIT);
            out.await(EchoShell.READY, 1);
        } finally {
            client.stop();
        }
    }

    static void assertFailed(CompletableFuture<RecoveryOutcome> f, String reason) throws Exception {
        try {
            f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            fail("the recovery should have failed with: " + reason);
        } catch (ExecutionException e) {
            assertTrue(e.getCause() instanceof RecoveryFailedException, String.valueOf(e.getCause()));
            assertTrue(e.getCause().getMessage().contains(reason), "expected '" + reason + "' in: " + e.getCause().getMessage());
        }
    }

    static void assertNotNullLine(String line, String what) {
        assertNotNull(line, what);
    }
}
