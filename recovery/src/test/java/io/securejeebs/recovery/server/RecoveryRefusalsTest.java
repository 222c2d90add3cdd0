package io.securejeebs.recovery.server;

import static io.securejeebs.recovery.server.TestClients.WAIT;
import static io.securejeebs.recovery.server.TestClients.quiet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryPreamble;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.recovery.server.TestClients.Original;
import io.securejeebs.recovery.server.TestClients.Output;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.keyprovider.KeyIdentityProvider;
import org.apache.sshd.common.session.ReservedSessionMessagesHandler;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the recovery server refuses, and how it says so. */
class RecoveryRefusalsTest {
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

    /** Sends {@code text} to the recovery port and returns everything the server sends until it closes. */
    static String exchange(String text) throws Exception {
        InetSocketAddress a = fx.recovery.recoveryAddress();
        try (Socket s = new Socket(a.getAddress(), a.getPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            s.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[4096];
            for (int n; (n = in.read(buf)) >= 0; ) {
                got.write(buf, 0, n);
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static void refused(String sent, String reason) throws Exception {
        long before = fx.recovery.refusedConnections();
        try (LogCapture logs = new LogCapture()) {
            String got = exchange(sent);
            assertEquals(fx.config.identificationLine() + "\r\n", got,
                    "the server identified itself, then closed without a key exchange");
            String line = logs.await("WARN", "recovery port: connection from /127.0.0.1:", "refused: " + reason);
            assertNotNull(line, "a WARN naming the peer and the reason; logged: " + logs.lines());
            assertFalse(line.contains(HexOf.key()), "never the key");
        }
        assertEquals(before + 1, fx.recovery.refusedConnections());
    }

    /** The appliance key as hex, to make sure it never reaches a log. */
    private static final class HexOf {
        static String key() {
            return java.util.HexFormat.of().formatHex(fx.preambleKey);
        }
    }

    private static byte[] randomId() {
        byte[] id = new byte[32];
        new SecureRandom().nextBytes(id);
        return id;
    }

    @Test
    void aForgedPreambleIsRefused() throws Exception {
        String forged = RecoveryPreamble.create(RecoveryPreamble.newKey(), randomId());
        refused(forged + "SSH-2.0-OpenSSH_9.2p1\r\n", "bad preamble HMAC");
    }

    @Test
    void noPreambleAtAllIsRefused() throws Exception {
        refused("SSH-2.0-OpenSSH_9.2p1\r\n", "not a recovery preamble");
        refused("x".repeat(600), "no preamble line within 512 bytes");
    }

    @Test
    void aPreambleForASessionNobodyExpectsIsRefused() throws Exception {
        refused(fx.recovery.preamble(randomId()) + "SSH-2.0-OpenSSH_9.2p1\r\n", "no recovery is expected for session");
    }

    @Test
    void aPreambleIsGoodForOneConnectionOnly() throws Exception {
        byte[] id = randomId();
        KexRecord record = new KexRecord("test-primary", new InetSocketAddress("127.0.0.1", 40000),
                new InetSocketAddress("127.0.0.1", 22), 0, "curve25519-sha256", "SHA-256", "SSH-2.0-OpenSSH_9.2p1",
                fx.config.identificationLine(), new byte[] {20}, new byte[] {20}, List.of(new byte[] {30}),
                List.of(new byte[] {31}), new byte[32], KexRecord.SharedSecretEncoding.MPINT, id, id, true);
        CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(new RecoveryTicket(record, null, ""));
        String line = fx.recovery.preamble(id);
        InetSocketAddress a = fx.recovery.recoveryAddress();
        try (LogCapture logs = new LogCapture()) {
            try (Socket first = new Socket(a.getAddress(), a.getPort())) {
                first.getOutputStream().write(line.getBytes(StandardCharsets.US_ASCII));
                assertNotNull(logs.await("INFO", "CPR connection from", "accepted"), "the first use is accepted");
            }
            assertFailed(outcome, "the CPR connection closed during replaying");
        }
        refused(line + "SSH-2.0-OpenSSH_9.2p1\r\n", "replayed preamble");
    }

    /** A captured connection of the primary, and the recovery server's future for it. */
    private record Captured(Recorded recorded, CompletableFuture<RecoveryOutcome> outcome) {}

    private static Captured capture(boolean password) throws Exception {
        Recorded r;
        try (Original o = new Original(fx, "curve25519-sha256", "aes128-ctr", "hmac-sha2-256-etm@openssh.com", password)) {
            o.type("typed\n", 1);
            quiet(o.relay);
            List<KexRecord> records = fx.records();
            assertEquals(1, records.size());
            r = new Recorded(records.get(0), o.relay.clientToServer(), o.relay.serverToClient());
        }
        return new Captured(r, fx.recovery.expect(new RecoveryTicket(r.record, null, "")));
    }

    @Test
    void aTamperedLoginSignatureIsRefusedByTheServerItself() throws Exception {
        Captured c = capture(false);
        Recorded r = c.recorded();
        SshStream.Packet signed = null;
        for (SshStream.Packet p : r.c2s.packets()) {
            if (p.encrypted() && p.type() == 50) {
                Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
                b.getString();
                b.getString();
                if ("publickey".equals(b.getString()) && b.getBoolean()) {
                    signed = p;
                }
            }
        }
        assertNotNull(signed, "the client signed a publickey request");
        byte[] tampered = signed.payload().clone();
        tampered[tampered.length - 5] ^= 0x01; // inside the Ed25519 signature, the last field of the request
        byte[] packet = new SshPacketEncoder(r.keys.clientToServer(), signed.before()).encode(tampered);
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
            cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, signed.index(), Map.of(signed.index(), packet));
            List<SshStream.Packet> answers = cpr.replay.packets();
            SshStream.Packet last = answers.get(answers.size() - 1);
            assertEquals(51, last.type(), "USERAUTH_FAILURE: " + CprConnection.types(answers));
            assertTrue(answers.stream().noneMatch(p -> p.encrypted() && p.type() == 52), "never USERAUTH_SUCCESS");
        }
        assertFailed(c.outcome(), "the CPR connection closed during replaying");
    }

    @Test
    void replayEndBeforeAuthenticationIsRefused() throws Exception {
        Captured c = capture(true);
        Recorded r = c.recorded();
        int serviceRequest = Recorded.indexOf(r.c2s, 5, "ssh-userauth");
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
            cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, serviceRequest, Map.of());
            cpr.sendReplayEnd(r.replayEnd(null, ""), r.keys.clientToServer(), Recorded.positionAfter(r.c2s, serviceRequest));
            cpr.awaitEof();
        }
        assertFailed(c.outcome(), "REPLAY_END before the user was authenticated");
    }

    @Test
    void aKeyExchangeThatDiffersFromTheRecordFails() throws Exception {
        Captured c = capture(true);
        Recorded r = c.recorded();
        SshStream.Packet kexInit = r.c2s.packets().get(1);
        assertEquals(30, kexInit.type(), "KEX_ECDH_INIT");
        byte[] bytes = r.c2s.bytes();
        byte[] plain = Arrays.copyOf(bytes, kexInit.end());
        plain[kexInit.start() + 12] ^= 0x40; // inside Q_C
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.write(fx.recovery.preamble(r.record.sessionId()).getBytes(StandardCharsets.US_ASCII));
            cpr.write(plain);
            cpr.awaitEof();
        }
        assertFailed(c.outcome(), "client KEX message #0 differs from the record");
    }

    @Test
    void replayEndOnALoginSessionIsNotImplemented() throws Exception {
        SshClient client = SshClient.setUpDefaultClient();
        client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
        client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
        client.start();
        try (ClientSession s = client.connect(RecoveryFixture.USER, "127.0.0.1", fx.recovery.loginAddress().getPort())
                .verify(WAIT).getSession()) {
            s.addPasswordIdentity(RecoveryFixture.PASSWORD);
            s.auth().verify(WAIT);
            CompletableFuture<Long> unimplemented = new CompletableFuture<>();
            s.setReservedSessionMessagesHandler(new ReservedSessionMessagesHandler() {
                @Override
                public boolean handleUnimplementedMessage(Session session, int cmd, Buffer buffer) {
                    unimplemented.complete(buffer.getUInt());
                    return true;
                }
            });
            Buffer b = s.createBuffer((byte) 200, 8);
            b.putUInt(1);
            s.writePacket(b);
            assertTrue(unimplemented.get(WAIT.toSeconds(), TimeUnit.SECONDS) >= 0, "SSH_MSG_UNIMPLEMENTED");
            ChannelShell shell = s.createShellChannel();
            Output out = new Output();
            shell.setOut(out);
            shell.open().verify(WAIT);
            out.await(EchoShell.READY, 1); // the session is unharmed
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
            assertTrue(e.getCause().getMessage().contains(reason),
                    "expected '" + reason + "' in: " + e.getCause().getMessage());
        }
    }
}
