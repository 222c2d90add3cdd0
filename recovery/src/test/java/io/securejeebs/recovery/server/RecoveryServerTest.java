package io.securejeebs.recovery.server;

import static io.securejeebs.recovery.server.TestClients.quiet;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.kernel.TcpRepair;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.recovery.server.TestClients.Original;
import io.securejeebs.recovery.server.TestClients.Output;
import java.io.OutputStream;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelExec;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.keyprovider.KeyIdentityProvider;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.session.SessionListener;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
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
        try (Original o = new Original(fx, kex, cipher, mac, password)) {
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

            // once recovered, message 200 is nobody's business: not implemented (a client cannot install state)
            long seq = client.position().sequence();
            cpr.write(client.encode(r.replayEnd(null, "").encode()));
            byte[] unimplemented = cpr.awaitMessage(3);
            assertEquals(seq, new ByteArrayBuffer(unimplemented, 1, 4).getUInt(), "SSH_MSG_UNIMPLEMENTED names the packet");
            cpr.write(client.encode(Recorded.channelData(r.serverChannel(), "after-3\n")));
            cpr.awaitData("after-3");
        }
    }

    /**
     * A client that guessed its first key-exchange packet wrong (Dropbear always guesses): the primary ignored
     * the packet and its record lacks it; the verbatim prefix carries it to the recovery server, which proposes
     * the recorded I_S and so ignores it by the same rule. The replayed key exchange is the recorded one, byte
     * for byte, and the login and shell replay as usual.
     */
    @org.junit.jupiter.api.Test
    void aWronglyGuessedKexPacketIsIgnoredByTheReplayAsByThePrimary() throws Exception {
        List<String> server = fx.primary.getKeyExchangeFactories().stream().map(f -> f.getName()).toList();
        List<String> client = List.of(server.get(1), server.get(0)); // prefers what the server prefers second
        Recorded r;
        try (Original o = new Original(fx, RecoveryFixture.USER, client, "chacha20-poly1305@openssh.com", null, false,
                TestClients::guessFirstKexPacket, s -> { })) {
            o.type("before-1\n", 1);
            quiet(o.relay);
            r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());
        }
        assertEquals(server.get(1), r.record.kexName());
        long clientKexMessages = r.c2s.packets().stream().filter(p -> !p.encrypted() && p.type() >= 30 && p.type() <= 49).count();
        assertEquals(r.record.clientKexMessages().size() + 1, clientKexMessages, "the ignored guess is on the wire only");
        replayAndCarryOnOverTheCprConnection(r, "guess");
    }

    /**
     * What a client may send around its login besides the login itself, replayed verbatim in the prefix: EXT_INFO
     * right after NEWKEYS (asyncssh), IGNORE, DEBUG and UNIMPLEMENTED. The recovery server takes them as the
     * primary did, and the login and shell replay as usual.
     */
    @org.junit.jupiter.api.Test
    void extInfoIgnoreDebugAndUnimplementedInThePrefixAreReplayedVerbatim() throws Exception {
        Recorded r;
        try (Original o = new Original(fx, RecoveryFixture.USER, List.of("curve25519-sha256"), "chacha20-poly1305@openssh.com",
                null, true, TestClients::sendExtInfo, s -> {
                    s.sendIgnoreMessage(new byte[] {1, 2, 3}).verify(WAIT);
                    s.sendDebugMessage(false, "sj test", "").verify(WAIT);
                    Buffer unimplemented = s.createBuffer(org.apache.sshd.common.SshConstants.SSH_MSG_UNIMPLEMENTED, 8);
                    unimplemented.putUInt(1);
                    s.writePacket(unimplemented).verify(WAIT);
                })) {
            o.type("before-1\n", 1);
            quiet(o.relay);
            r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());
        }
        List<Integer> setup = r.c2s.packets().stream().filter(p -> p.encrypted() && p.index() < r.shellRequest)
                .map(p -> p.type()).toList();
        assertEquals(7, setup.get(0), "EXT_INFO right after NEWKEYS: " + setup);
        assertTrue(setup.containsAll(List.of(2, 4, 3)), "IGNORE, DEBUG and UNIMPLEMENTED before the shell: " + setup);
        replayAndCarryOnOverTheCprConnection(r, "ext-info");
    }

    /**
     * Replays the recording against the recovery server (its answers must be the primary's), installs REPLAY_END
     * without TCP state, and the session carries on over the CPR connection itself.
     */
    private static void replayAndCarryOnOverTheCprConnection(Recorded r, String label) throws Exception {
        CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(new RecoveryTicket(r.record, null, label));
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
            cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
            assertReplayAnswers(r, cpr);
            cpr.switchServerStream(r.keys.serverToClient(), r.s2c.position());
            cpr.sendReplayEnd(r.replayEnd(null, ""), r.keys.clientToServer(), Recorded.positionAfter(r.c2s, r.shellRequest));
            RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(RecoveryFixture.USER, done.user());
            SshPacketEncoder c = new SshPacketEncoder(r.keys.clientToServer(), r.c2s.position());
            cpr.write(c.encode(Recorded.channelData(r.serverChannel(), "after-1\n")));
            cpr.awaitData("after-1");
        }
    }

    /**
     * Three channels: a running exec (its process died with the primary: the client gets exit status 255, EOF
     * and CLOSE), an exec the client closed after the replayed prefix (dropped quietly: both CLOSEs were
     * exchanged on the original connection), and the shell (restarted).
     */
    @Test
    void execAndClosedChannelsAreSettledAtReplayEnd() throws Exception {
        Recorded r;
        ChannelExec[] execs = new ChannelExec[2];
        try (Original o = new Original(fx, "ecdh-sha2-nistp384", "aes256-gcm@openssh.com", null, false, session -> {
            for (int i = 0; i < 2; i++) {
                execs[i] = session.createExecChannel("job-" + i);
                Output out = new Output();
                execs[i].setOut(out);
                execs[i].open().verify(WAIT);
                out.await("exec job-" + i, 1);
            }
        })) {
            o.type("before-1\n", 1);
            execs[1].close(false).await(WAIT);
            quiet(o.relay);
            r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());
        }
        assertEquals(3, r.channels.size(), r.channels.toString());
        ReplayEnd.ChannelState exec = r.channels.get(0);
        ReplayEnd.ChannelState closed = r.channels.get(1);
        ReplayEnd.ChannelState shell = r.channels.get(2);
        assertEquals(ReplayEnd.ChannelState.CLOSE_FROM_CLIENT | ReplayEnd.ChannelState.CLOSE_FROM_SERVER,
                closed.flags() & 0x0c, r.channels.toString());
        CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(new RecoveryTicket(r.record, null, "channels"));
        try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
            cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
            cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
            cpr.awaitServerPacket(0, p -> p.encrypted() && p.type() == 99, "CHANNEL_SUCCESS for the shell");
            cpr.switchServerStream(r.keys.serverToClient(), r.s2c.position());
            cpr.sendReplayEnd(r.replayEnd(null, ""), r.keys.clientToServer(), Recorded.positionAfter(r.c2s, r.shellRequest));
            RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(1, done.shellsStarted());
            assertEquals(2, done.channelsClosed(), "the lost exec, and the one closed already");

            cpr.awaitData(EchoShell.READY);
            byte[] close = cpr.awaitMessage(97);
            assertEquals(exec.clientId(), new ByteArrayBuffer(close, 1, 4).getUInt(), "the lost exec is closed");
            List<byte[]> toExec = cpr.messagesTo(exec.clientId());
            assertEquals(List.of(95, 96, 98, 97), toExec.stream().map(p -> p[0] & 0xff).toList(),
                    "a line on stderr, EOF, exit-status, CLOSE");
            Buffer stderr = new ByteArrayBuffer(toExec.get(0), 1, toExec.get(0).length - 1);
            stderr.getUInt();
            assertEquals(1, stderr.getUInt(), "SSH_EXTENDED_DATA_STDERR");
            assertEquals(ReplayEndInstallation.LOST_COMMAND_MESSAGE, stderr.getString());
            assertTrue(done.channels().stream().anyMatch(c -> c.endsWith(
                    "exec: lost with the primary; exit status 255 and a line on stderr, EOF, CLOSE")), done.channels().toString());
            Buffer status = new ByteArrayBuffer(toExec.get(2), 1, toExec.get(2).length - 1);
            status.getUInt();
            assertEquals("exit-status", status.getString());
            status.getBoolean();
            assertEquals(ReplayEndInstallation.LOST_COMMAND_EXIT_STATUS, status.getUInt());
            assertTrue(cpr.messagesTo(closed.clientId()).isEmpty(), "nothing for the channel closed before");

            SshPacketEncoder client = new SshPacketEncoder(r.keys.clientToServer(), r.c2s.position());
            cpr.write(client.encode(Recorded.channelData(shell.serverId(), "after-1\n")));
            cpr.awaitData("after-1");
        }
    }

    @Test
    void aLiveMinaClientCarriesOnWithTheRecoveryServerOnItsOwnTcpConnection() throws Exception {
        try (Original o = new Original(fx, "curve25519-sha256", "chacha20-poly1305@openssh.com", null, false)) {
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

    /**
     * A rekey the primary had started with its KEXINIT and got no further with: the KEXINIT is on its way to the
     * client (in the restored socket's send queue, as bytes the client never acknowledged), and REPLAY_END hands it
     * to the recovery server, which takes it as its own. The live MINA client answers it, and the key exchange
     * completes with the recovery server: the session carries on under new keys.
     */
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
            Recorded r = new Recorded(onlyRecord(), o.relay.clientToServer(), o.relay.serverToClient());

            // The primary's rekey KEXINIT: its name-lists, a fresh cookie; encrypted where the server's stream stands.
            byte[] kexInit = r.record.serverKexInit().clone();
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
                assertReplayAnswers(r, cpr);

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

    /** The real OpenSSH client (its default KEX is the sntrup761x25519 hybrid, its default cipher chacha20-poly1305). */
    @Test
    void aLiveOpenSshClientCarriesOnWithTheRecoveryServerOnItsOwnTcpConnection() throws Exception {
        fx.clearRecords();
        try (RecordingRelay relay = new RecordingRelay(fx.primaryAddress())) {
            Process ssh = new ProcessBuilder("ssh", "-F", "/dev/null", "-tt", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                    "-o", "LogLevel=ERROR", "-i", fx.clientKeyFile.toString(), "-p", Integer.toString(relay.port()),
                    RecoveryFixture.USER + "@127.0.0.1").redirectErrorStream(true).start();
            Output out = new Output();
            Thread pump = new Thread(() -> {
                try {
                    ssh.getInputStream().transferTo(out);
                } catch (java.io.IOException ignored) {
                    // the process ended
                }
            }, "ssh-output");
            pump.setDaemon(true);
            pump.start();
            try {
                OutputStream keyboard = ssh.getOutputStream();
                out.await(EchoShell.READY, 1);
                keyboard.write("before-1\n".getBytes(StandardCharsets.UTF_8));
                keyboard.flush();
                out.await("before-1", 1);
                quiet(relay);
                SocketChannel clientSide = relay.detach();
                Recorded r = new Recorded(onlyRecord(), relay.clientToServer(), relay.serverToClient());
                assertTrue(r.record.kexName().startsWith("sntrup761x25519-sha512"), r.record.kexName());
                CompletableFuture<RecoveryOutcome> outcome = fx.recovery.expect(new RecoveryTicket(r.record, null, "openssh"));
                try (CprConnection cpr = new CprConnection(fx.recovery.recoveryAddress())) {
                    cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
                    cpr.replay(fx.recovery.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
                    assertReplayAnswers(r, cpr);
                    TcpState tcp = TcpRepair.read(clientSide);
                    long readAt = System.nanoTime();
                    TcpRepair.closeSilently(clientSide);
                    int elapsedMs = (int) TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readAt) + 1;
                    cpr.sendReplayEnd(r.replayEnd(new ReplayEnd.TcpHandover(tcp.withTimestamp(tcp.timestamp() + elapsedMs),
                            TcpRepair.RepairExit.WINDOW_PROBE), "last command: before-1"),
                            r.keys.clientToServer(), Recorded.positionAfter(r.c2s, r.shellRequest));
                    RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertTrue(done.socketSwapped());
                    cpr.awaitEof();
                }
                String shown = out.await(EchoShell.READY, 2);
                assertTrue(shown.contains("[securejeebs] session recovered after a server failure at "), shown);
                assertTrue(shown.contains("last command: before-1"), shown);
                keyboard.write("after-1\n".getBytes(StandardCharsets.UTF_8));
                keyboard.flush();
                out.await("after-1", 1);
                assertTrue(ssh.isAlive(), "ssh is still connected: " + out.text());
            } finally {
                ssh.destroy();
                if (!ssh.waitFor(5, TimeUnit.SECONDS)) {
                    ssh.destroyForcibly();
                }
            }
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
}
