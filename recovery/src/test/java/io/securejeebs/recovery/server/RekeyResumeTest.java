package io.securejeebs.recovery.server;

import static io.securejeebs.recovery.server.TestClients.quiet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.kernel.TcpRepair;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.recovery.server.TestClients.Original;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rekey the primary had started with its KEXINIT and got no further with: the KEXINIT is on its way to the client
 * (in the restored socket's send queue, as bytes the client never acknowledged), and REPLAY_END hands it to the
 * recovery server, which takes it as its own. The live MINA client answers it, and the key exchange completes with
 * the recovery server: the session carries on under new keys.
 */
class RekeyResumeTest {
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

    @Test
    void aKexInitThePrimarySentIsTakenOverAndTheClientsAnswerCompletesTheRekey() throws Exception {
        try (Original o = new Original(fx, "curve25519-sha256", "aes128-ctr", "hmac-sha2-256-etm@openssh.com", false)) {
            AtomicInteger keysEstablished = new AtomicInteger();
            o.session.addSessionListener(new SessionListener() {
                @Override
                public void sessionEvent(Session session, Event event) {
                    if (event == Event.KeyEstablished) {
                        keysEstablished.incrementAndGet();
                    }
                }
            });
            o.type("before-1\n", 1);
            quiet(o.relay);
            SocketChannel clientSide = o.relay.detach(); // the primary "dies"
            List<KexRecord> records = fx.records();
            assertEquals(1, records.size());
            Recorded r = new Recorded(records.get(0), o.relay.clientToServer(), o.relay.serverToClient());

            // The primary's rekey KEXINIT: its name-lists, a fresh cookie; encrypted where the server's stream stands.
            byte[] kexInit = records.get(0).serverKexInit().clone();
            for (int i = 1; i <= 16; i++) {
                kexInit[i] ^= (byte) 0x5a;
            }
            SshPacketEncoder out = new SshPacketEncoder(r.keys.serverToClient(), r.s2c.position());
            byte[] wire = out.encode(kexInit);

            AtomicInteger released = new AtomicInteger();
            CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(
                    new RecoveryTicket(r.record, released::incrementAndGet, "rekey under way"));
            try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
                cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
                cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
                RecoveryServerTest.assertReplayAnswers(r, cpr);

                TcpState tcp = TcpRepair.read(clientSide);
                long readAt = System.nanoTime();
                TcpRepair.closeSilently(clientSide);
                int elapsedMs = (int) TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readAt) + 1;
                byte[] sendQueue = java.util.Arrays.copyOf(tcp.sendQueue(), tcp.sendQueueLength() + wire.length);
                System.arraycopy(wire, 0, sendQueue, tcp.sendQueueLength(), wire.length);
                TcpState withKexInit = new TcpState(tcp.local(), tcp.remote(), tcp.sendQueueSeq(), sendQueue,
                        tcp.recvQueueSeq(), tcp.recvQueue(), tcp.options(), tcp.timestamp() + elapsedMs,
                        tcp.sendWindow(), tcp.receiveWindow());
                ReplayEnd plain = r.replayEnd(null, "");
                ReplayEnd end = new ReplayEnd(plain.inbound(), new ReplayEnd.Direction(r.keys.serverToClient(),
                        out.position()), plain.channels(), new ReplayEnd.TcpHandover(withKexInit,
                        TcpRepair.RepairExit.WINDOW_PROBE), "", kexInit);
                cpr.sendReplayEnd(end, r.keys.clientToServer(), Recorded.positionAfter(r.c2s, r.shellRequest));

                RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                assertTrue(done.socketSwapped());
                assertTrue(done.steps().stream().anyMatch(s -> s.name().equals("rekey-resumed")), done.steps().toString());
                cpr.awaitEof();
            }
            String shown = o.out.await(EchoShell.READY, 2);
            assertTrue(shown.contains("[securejeebs] session recovered after a server failure at "), shown);
            o.type("after-1\n", 1);
            assertEquals(1, keysEstablished.get(), "the client completed the rekey the primary had started");
            o.type("after-rekey\n", 1);
            assertTrue(o.session.isOpen());
        }
    }
}
