package io.securejeebs.monitor.ssh;

import io.securejeebs.monitor.bench.TappedRelay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TrackingException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import io.securejeebs.monitor.bench.TypedChannel;
import java.util.stream.Stream;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The tracker follows real MINA sessions (client and server in this JVM, the bytes tapped off a relay
 * between them) and its model equals the server's own state, field by field, at quiet moments: after
 * login, after typing, after a window change, after a rekey and bulk data, and with a second channel.
 */
class SshSessionTrackerTest {
    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    static Stream<Arguments> transports() {
        return Stream.of(
                Arguments.of("chacha20-poly1305@openssh.com", null),
                Arguments.of("aes128-gcm@openssh.com", null),
                Arguments.of("aes256-gcm@openssh.com", null),
                Arguments.of("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
                Arguments.of("aes256-ctr", "hmac-sha2-256"),
                Arguments.of("aes192-ctr", "hmac-sha2-512-etm@openssh.com"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("transports")
    void modelEqualsTheServersStateAtQuietMoments(String cipher, String mac) throws Exception {
        try (RecordedSshServer server = new RecordedSshServer(dir);
             Harness h = new Harness(server);
             SshClient client = SshClient.setUpDefaultClient()) {
            client.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(cipher)));
            if (mac != null) {
                client.setMacFactories(List.of(BuiltinMacs.fromFactoryName(mac)));
            }
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", h.relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                h.assertMatches(server);

                TypedChannel typed = TypedChannel.shell(session, "xterm-256color", 100, 30, Map.of(), 1 << 20);
                ChannelShell shell = (ChannelShell) typed.channel();
                typed.type("echo hello\n");
                SshSessionModel m = h.assertMatches(server);
                assertEquals("alice", m.user());
                assertEquals("password", m.authMethod());
                assertEquals(cipher, m.clientToServer().cipher());
                assertEquals(cipher, m.serverToClient().cipher());
                ChannelModel ch = m.channels().get(0);
                assertEquals("session", ch.type());
                assertEquals("shell", ch.command());
                assertEquals("xterm-256color", ch.pty().term());
                assertEquals(100, ch.pty().columns());
                assertTrue(m.prefixComplete(), "typing ends the setup prefix");
                assertEquals(0, ch.serverId());
                assertEquals(0, m.prefixMaxChannelId());

                shell.sendWindowChange(132, 43); // sent asynchronously: wait until it has crossed the relay
                h.awaitTracked(model -> model.channels().get(0).pty().columns() == 132);
                m = h.assertMatches(server);
                assertEquals(132, m.channels().get(0).pty().columns());
                assertEquals(43, m.channels().get(0).pty().rows());
                assertEquals(1, m.channels().get(0).requestsAfterPrefix().size(), "the window-change, to replay");

                session.reExchangeKeys().verify(T);
                String bulk = "x".repeat(200_000) + "\n";
                typed.type(bulk);
                m = h.assertMatches(server);
                assertEquals(2, m.keyExchanges());
                assertEquals(1, m.clientToServer().keyEpoch());

                TypedChannel exec = TypedChannel.exec(session, "cat");
                exec.type("exec data\n");
                m = h.assertMatches(server);
                assertEquals(2, m.channels().size());
                ChannelModel second = m.channels().get(1);
                assertEquals("exec", second.command());
                // the command line is never kept (status, checkpoints): its length and a digest only, and the request
                // kept for the replay has it blanked
                assertEquals(SshSessionTracker.redacted("cat", "character command"), second.commandArgument());
                assertTrue(second.commandArgument().startsWith("3-character command, sha256 "), second.commandArgument());
                assertEquals(1, second.requestsAfterPrefix().size());
                String kept = new String(second.requestsAfterPrefix().get(0), java.nio.charset.StandardCharsets.ISO_8859_1);
                assertTrue(kept.contains("exec"), "the exec request is kept for the replay");
                assertTrue(kept.endsWith("xxx") && !kept.contains("cat"), "its command is blanked");
                assertTrue(!second.openedInPrefix() && second.openPayload().length > 0);

                exec.endInputAndAwaitClose();
                m = h.assertMatches(server);
                assertEquals(1, m.channels().size(), "a channel closed by both sides is forgotten");
                assertEquals(2, m.nextServerChannelId());
            }
            assertNull(h.failure, () -> "tracking failed: " + h.failure.getMessage());
        }
    }


    /** A tracker fed from the relay's tap, with records from the server's export, under one lock. */
    static final class Harness implements AutoCloseable {
        final Object lock = new Object();
        final SshSessionTracker tracker;
        final TappedRelay relay;
        final StreamSink c2s;
        final StreamSink s2c;
        long c2sOffset;
        long s2cOffset;
        volatile TrackingException failure;

        Harness(RecordedSshServer server) throws Exception {
            this(server, SshSessionTracker.Limits.DEFAULT);
        }

        Harness(RecordedSshServer server, SshSessionTracker.Limits limits) throws Exception {
            ConnectionKey key = new ConnectionKey(new Endpoint(Endpoint.ipv4(new byte[] {127, 0, 0, 1}), 40000),
                    new Endpoint(Endpoint.ipv4(new byte[] {127, 0, 0, 1}), 22));
            KexRecordSource source = (k, ordinal, delivery) -> {
                Thread t = new Thread(() -> {
                    try {
                        KexRecord r = server.awaitRecord(ordinal);
                        if (r == null) {
                            delivery.failed("not exported within 5 s");
                        } else {
                            delivery.record(r);
                        }
                    } catch (InterruptedException e) {
                        delivery.failed("interrupted");
                    }
                });
                t.setDaemon(true);
                t.start();
            };
            tracker = new SshSessionTracker(key, source, (k, app, update) -> {
                synchronized (lock) {
                    try {
                        update.apply();
                    } catch (TrackingException e) {
                        failure = e;
                    }
                }
            }, limits);
            c2s = tracker.clientStream();
            s2c = tracker.serverStream();
            relay = new TappedRelay(server.port(), (fromClient, data, length) -> {
                synchronized (lock) {
                    if (failure != null) {
                        return;
                    }
                    try {
                        if (fromClient) {
                            c2s.onData(c2sOffset, data, 0, length);
                            c2sOffset += length;
                        } else {
                            s2c.onData(s2cOffset, data, 0, length);
                            s2cOffset += length;
                        }
                    } catch (TrackingException e) {
                        failure = e;
                    }
                }
            });
        }

        void awaitTracked(java.util.function.Predicate<SshSessionModel> condition) throws InterruptedException {
            long deadline = System.currentTimeMillis() + T.toMillis();
            while (System.currentTimeMillis() < deadline) {
                synchronized (lock) {
                    if (condition.test(tracker.resumeState())) {
                        return;
                    }
                }
                Thread.sleep(10);
            }
        }

        SshSessionModel assertMatches(RecordedSshServer server) throws Exception {
            relay.awaitQuiet(150);
            SshSessionModel m;
            synchronized (lock) {
                assertNull(failure, () -> "tracking failed: " + failure.getMessage());
                m = tracker.resumeState();
                assertNull(tracker.unrecoverableReason());
            }
            assertNotNull(m.sessionIdFingerprint());
            assertEquals(RecordedSshServer.serverView(server.onlySession()), RecordedSshServer.trackerView(m));
            return m;
        }

        @Override
        public void close() throws Exception {
            relay.close();
        }
    }
}
