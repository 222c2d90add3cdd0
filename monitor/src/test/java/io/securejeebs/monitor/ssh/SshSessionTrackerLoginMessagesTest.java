package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.KexInitProposal;
import io.securejeebs.monitor.app.CheckpointUnavailableException;
import io.securejeebs.monitor.bench.TappedRelay;
import io.securejeebs.monitor.bench.TypedChannel;
import io.securejeebs.monitor.ssh.TrackerReplay.Delivery;
import io.securejeebs.monitor.ssh.TrackerReplay.Outcome;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.signature.Signature;
import org.apache.sshd.common.io.IoWriteFuture;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.kex.KeyExchangeFactory;
import org.apache.sshd.common.kex.extension.DefaultClientKexExtensionHandler;
import org.apache.sshd.common.kex.extension.KexExtensions;
import org.apache.sshd.common.session.ReservedSessionMessagesHandler;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10, item 1: what a conforming client may send around its login. Each session is a real one (a MINA
 * client made to behave as Dropbear, asyncssh or OpenSSH do, through {@link TappedRelay} to the exporting
 * {@link RecordedSshServer}), followed by the tracker from its bytes and records alone.
 * <ul>
 * <li>A wrongly guessed first KEX packet (RFC 4253 §7.1; Dropbear always guesses): the server ignores it and
 *     its record lacks it, so the tracker leaves it out of the match. It used to fail with "the client's
 *     key-exchange messages differ from the wire".</li>
 * <li>A right guess is the first message, matched as any other.</li>
 * <li>EXT_INFO right after the client's NEWKEYS (RFC 8308; asyncssh), IGNORE, DEBUG and UNIMPLEMENTED before
 *     the login, ping@openssh.com after it: all part of the replay prefix, which still holds the login. EXT_INFO
 *     used to end the prefix there, and the replay failed at failover with "no USERAUTH_SUCCESS".</li>
 * <li>A login after the prefix ended (here: the client rekeys before it logs in) cannot be replayed: the
 *     session says so, with the reason, at once.</li>
 * </ul>
 */
class SshSessionTrackerLoginMessagesTest {
    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @Test
    void aWronglyGuessedFirstKexPacketIsLeftOutOfTheMatchAsTheServerIgnoredIt() throws Exception {
        RecordedSession s = record(dir, SshSessionTrackerLoginMessagesTest::guessWrong, session -> { });
        KexRecord r = s.records().get(0);
        KexInitProposal client = KexInitProposal.parse(r.clientKexInit());
        assertTrue(client.firstKexPacketFollows(), "the client's KEXINIT says a packet follows");
        assertTrue(client.guessIgnoredBy(KexInitProposal.parse(r.serverKexInit())), "and its guess is wrong");
        assertEquals(r.clientKexMessages().size() + 1, plaintextKexMessages(s.c2s()),
                "the wire holds one client KEX message more than the record");
        for (Delivery delivery : new Delivery[] {Delivery.SYNC, Delivery.ASYNC, Delivery.LATE}) {
            Outcome o = new TrackerReplay(s.records(), delivery, SshSessionTracker.Limits.DEFAULT)
                    .replay(s.c2s(), s.s2c(), s, new Random(7));
            assertTrue(o.clean(), delivery + ": " + o.failure() + " " + o.bug());
            assertNull(o.unrecoverableReason(), delivery.toString());
            assertEquals("alice", o.model().user());
        }
    }

    @Test
    void theSamePacketWithoutTheGuessFlagIsAMismatch() throws Exception {
        // The server would have taken it as the real KEX_ECDH_INIT: the record could not be the wire's.
        RecordedSession s = record(dir, SshSessionTrackerLoginMessagesTest::guessWrong, session -> { });
        RecordedSession unflagged = withGuessFlag(s, false);
        Outcome o = TrackerReplay.replay(unflagged, Delivery.SYNC, new Random(8));
        assertNotNull(o.failure(), "accepted");
        assertTrue(o.failure().getMessage().contains("the client's key-exchange messages differ from the wire"),
                o.failure().getMessage());
    }

    @Test
    void aRightGuessIsTheFirstKexMessageAndIsMatched() throws Exception {
        // a client whose preferred host-key algorithm is the server's (its key exchange already is)
        RecordedSession first = record(dir.resolve("first"), c -> { }, session -> { });
        String hostKey = KexInitProposal.parse(first.records().get(0).serverKexInit()).hostKey().get(0);
        RecordedSession plain = record(dir.resolve("same"), c -> {
            List<NamedFactory<Signature>> mine = new ArrayList<>(c.getSignatureFactories());
            mine.sort(Comparator.comparing(f -> f.getName().equals(hostKey) ? 0 : 1));
            c.setSignatureFactories(mine);
        }, session -> { });
        RecordedSession guessed = withGuessFlag(plain, true);
        KexRecord r = guessed.records().get(0);
        assertFalse(KexInitProposal.parse(r.clientKexInit()).guessIgnoredBy(KexInitProposal.parse(r.serverKexInit())),
                "client and server prefer the same algorithms: the guess is right");
        Outcome o = TrackerReplay.replay(guessed, Delivery.SYNC, new Random(9));
        assertTrue(o.clean(), o.failure() + " " + o.bug());
        assertNull(o.unrecoverableReason());
        // and a right guess followed by a second KEX_ECDH_INIT the record lacks is caught
        RecordedSession extra = withExtraClientKexMessage(guessed);
        Outcome bad = TrackerReplay.replay(extra, Delivery.SYNC, new Random(10));
        assertNotNull(bad.failure(), "accepted");
        assertTrue(bad.failure().getMessage().contains("the client's key-exchange messages differ from the wire"),
                bad.failure().getMessage());
    }

    @Test
    void extInfoIgnoreDebugUnimplementedAndPingAroundTheLoginStayInTheReplayPrefix() throws Exception {
        RecordedSession plain = record(dir.resolve("plain"), c -> { }, session -> { });
        RecordedSession chatty = record(dir.resolve("chatty"), SshSessionTrackerLoginMessagesTest::sendExtInfo, session -> {
            session.sendIgnoreMessage(new byte[] {1, 2, 3}).verify(T);
            session.sendDebugMessage(false, "sj test", "").verify(T);
            Buffer unimplemented = session.createBuffer(SshConstants.SSH_MSG_UNIMPLEMENTED, 8);
            unimplemented.putUInt(1);
            session.writePacket(unimplemented).verify(T);
        }, session -> {
            // after the login only: before it MINA hands every message but IGNORE, DEBUG, UNIMPLEMENTED, EXT_INFO and
            // USERAUTH_REQUEST to the authentication in progress (and closes the session if none is), and a
            // conforming client pings only a server that offered ping@openssh.com; MINA answers UNIMPLEMENTED
            Buffer ping = session.createBuffer((byte) SshSessionTracker.MSG_PING, 16);
            ping.putString("sj");
            session.writePacket(ping).verify(T);
        });
        for (Delivery delivery : new Delivery[] {Delivery.SYNC, Delivery.ASYNC, Delivery.LATE}) {
            Outcome base = new TrackerReplay(plain.records(), delivery, SshSessionTracker.Limits.DEFAULT)
                    .replay(plain.c2s(), plain.s2c(), plain, new Random(11));
            Outcome o = new TrackerReplay(chatty.records(), delivery, SshSessionTracker.Limits.DEFAULT)
                    .replay(chatty.c2s(), chatty.s2c(), chatty, new Random(11));
            assertTrue(base.clean() && o.clean(), delivery + ": " + o.failure() + " " + o.bug());
            assertNull(o.unrecoverableReason(), delivery.toString());
            assertEquals("alice", o.model().user());
            assertTrue(o.model().prefixComplete(), "the typed line ends the prefix");
            // the same setup as the plain session's, plus the five messages: the prefix ends at the typed line
            assertEquals(base.model().prefixPackets() + 5, o.model().prefixPackets(), delivery.toString());
            assertEquals(base.model().prefixEndPosition().sequence() + 5, o.model().prefixEndPosition().sequence());
        }
    }

    @Test
    void aLoginAfterTheReplayPrefixEndedMakesTheSessionUnrecoverableAtOnce() throws Exception {
        RecordedSession s = record(dir, c -> { }, session -> session.reExchangeKeys().verify(T));
        assertEquals(2, s.records().size());
        Outcome o = TrackerReplay.replay(s, Delivery.SYNC, new Random(12));
        assertTrue(o.clean(), o.failure() + " " + o.bug());
        assertEquals("alice", o.model().user());
        assertEquals("the login came after the replay prefix ended (at client message SSH_MSG_KEXINIT)",
                o.unrecoverableReason());
        CheckpointUnavailableException e = assertThrows(CheckpointUnavailableException.class, o.tracker()::checkpoint);
        assertEquals(o.unrecoverableReason(), e.getMessage());
    }

    // ---------------------------------------------------------------- clients

    /**
     * Dropbear's habit: first_kex_packet_follows set, and a guessed KEX_ECDH_INIT right after KEXINIT, for a
     * key exchange the server does not prefer (the client's first choice is the server's second), so the
     * server ignores the guess and the client sends its real KEX_ECDH_INIT once it has the server's KEXINIT.
     */
    private static void guessWrong(SshClient client) {
        List<KeyExchangeFactory> server = client.getKeyExchangeFactories(); // MINA's defaults, the server's too
        List<KeyExchangeFactory> mine = new ArrayList<>(server);
        mine.set(0, server.get(1));
        mine.set(1, server.get(0));
        client.setKeyExchangeFactories(mine);
        AtomicBoolean first = new AtomicBoolean(true);
        client.setReservedSessionMessagesHandler(new ReservedSessionMessagesHandler() {
            @Override
            public IoWriteFuture sendKexInitRequest(Session session, Map<KexProposalOption, String> proposal, Buffer buffer)
                    throws Exception {
                if (!first.getAndSet(false)) {
                    return null;
                }
                byte[] payload = buffer.getCompactData();
                payload[payload.length - 5] = 1; // first_kex_packet_follows
                buffer.wpos(buffer.wpos() - 5);
                buffer.putBoolean(true);
                buffer.putUInt(0); // MINA takes I_C from this buffer
                Buffer kexInit = session.createBuffer(SshConstants.SSH_MSG_KEXINIT, payload.length);
                kexInit.putRawBytes(payload, 1, payload.length - 1);
                session.writePacket(kexInit);
                Buffer guess = session.createBuffer(SshConstants.SSH_MSG_KEX_FIRST, 40);
                guess.putBytes(new byte[32]); // a Q_C for the guessed exchange
                return session.writePacket(guess);
            }
        });
    }

    /** asyncssh's habit: EXT_INFO ("global-requests-ok") as the next packet after the client's first NEWKEYS. */
    private static void sendExtInfo(SshClient client) {
        AtomicBoolean sent = new AtomicBoolean();
        client.setKexExtensionHandler(new DefaultClientKexExtensionHandler() {
            @Override
            public boolean isKexExtensionsAvailable(Session session, AvailabilityPhase phase) throws java.io.IOException {
                return phase == AvailabilityPhase.NEWKEYS ? !sent.get() : super.isKexExtensionsAvailable(session, phase);
            }

            @Override
            public void sendKexExtensions(Session session, KexPhase phase) throws Exception {
                if (phase == KexPhase.NEWKEYS && !sent.getAndSet(true)) {
                    Buffer b = session.createBuffer(KexExtensions.SSH_MSG_EXT_INFO, 32);
                    b.putUInt(1);
                    b.putString("global-requests-ok");
                    b.putString("");
                    session.writePacket(b);
                }
            }
        });
    }

    // ---------------------------------------------------------------- recording

    @FunctionalInterface
    private interface BeforeLogin {
        void run(ClientSession session) throws Exception;
    }

    /** A session as {@link RecordedSession#record} makes it, with the client set up and acting before its login. */
    private static RecordedSession record(Path dir, Consumer<SshClient> setUp, BeforeLogin beforeLogin) throws Exception {
        return record(dir, setUp, beforeLogin, session -> { });
    }

    /** @param afterLogin what the client does once logged in, before it opens the shell */
    private static RecordedSession record(Path dir, Consumer<SshClient> setUp, BeforeLogin beforeLogin,
                                          BeforeLogin afterLogin) throws Exception {
        Files.createDirectories(dir);
        Tap tap = new Tap();
        try (RecordedSshServer server = new RecordedSshServer(dir);
             TappedRelay relay = new TappedRelay(server.port(), tap);
             SshClient client = SshClient.setUpDefaultClient()) {
            setUp.accept(client);
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", relay.port()).verify(T).getSession()) {
                session.waitFor(java.util.EnumSet.of(ClientSession.ClientSessionEvent.WAIT_AUTH), T); // KEX done
                beforeLogin.run(session);
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                afterLogin.run(session);
                TypedChannel shell = TypedChannel.shell(session, "xterm-256color", 100, 30, Map.of(), 1 << 16);
                shell.type("echo hello\n");
                relay.awaitQuiet(200);
                return tap.stop(server);
            }
        }
    }

    private static final class Tap implements TappedRelay.Tap {
        private final ByteArrayOutputStream c2s = new ByteArrayOutputStream();
        private final ByteArrayOutputStream s2c = new ByteArrayOutputStream();
        private final List<Integer> order = new ArrayList<>();
        private boolean stopped;

        @Override
        public synchronized void onBytes(boolean fromClient, byte[] data, int length) {
            if (!stopped && length > 0) {
                (fromClient ? c2s : s2c).write(data, 0, length);
                order.add(fromClient ? length : -length);
            }
        }

        synchronized RecordedSession stop(RecordedSshServer server) {
            stopped = true;
            List<KexRecord> records;
            synchronized (server.records) {
                records = new ArrayList<>(server.records);
            }
            records.sort(Comparator.comparingInt(KexRecord::ordinal));
            return new RecordedSession(c2s.toByteArray(), s2c.toByteArray(), records,
                    order.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    // ---------------------------------------------------------------- the wire

    /** The plaintext packets of a stream before its first NEWKEYS: {offset, length incl. the length field, command}. */
    private static List<int[]> plaintextPackets(byte[] s) {
        List<int[]> out = new ArrayList<>();
        int i = 0;
        while (s[i++] != '\n') { /* the identification line */ }
        while (true) {
            int length = new ByteArrayBuffer(s, i, 4).getInt();
            int cmd = s[i + 5] & 0xff;
            out.add(new int[] {i, 4 + length, cmd});
            if (cmd == SshConstants.SSH_MSG_NEWKEYS) {
                return out;
            }
            i += 4 + length;
        }
    }

    private static int plaintextKexMessages(byte[] c2s) {
        return (int) plaintextPackets(c2s).stream()
                .filter(p -> p[2] >= SshConstants.SSH_MSG_KEX_FIRST && p[2] <= SshConstants.SSH_MSG_KEX_LAST).count();
    }

    /** The session with the client's first_kex_packet_follows set or cleared, on the wire and in record #0's I_C. */
    private static RecordedSession withGuessFlag(RecordedSession s, boolean follows) {
        byte[] c2s = s.c2s().clone();
        int[] kexInit = plaintextPackets(c2s).stream().filter(p -> p[2] == SshConstants.SSH_MSG_KEXINIT).findFirst()
                .orElseThrow();
        int padding = c2s[kexInit[0] + 4] & 0xff;
        int payloadEnd = kexInit[0] + kexInit[1] - padding;
        c2s[payloadEnd - 5] = (byte) (follows ? 1 : 0);
        KexRecord r = s.records().get(0);
        byte[] ic = r.clientKexInit().clone();
        ic[ic.length - 5] = (byte) (follows ? 1 : 0);
        List<KexRecord> records = new ArrayList<>(s.records());
        records.set(0, new KexRecord(r.primaryId(), r.client(), r.server(), r.ordinal(), r.kexName(), r.hashAlgorithm(),
                r.clientVersion(), r.serverVersion(), ic, r.serverKexInit(), r.clientKexMessages(), r.serverKexMessages(),
                r.sharedSecret(), r.sharedSecretEncoding(), r.exchangeHash(), r.sessionId(), r.strictKex()));
        return new RecordedSession(c2s, s.s2c(), records, s.tapOrder());
    }

    /**
     * The client's first KEX message sent twice (strict KEX: the sequence numbers restart at NEWKEYS, so the
     * encrypted part still decrypts).
     */
    private static RecordedSession withExtraClientKexMessage(RecordedSession s) {
        assertTrue(s.records().get(0).strictKex(), "the recording uses strict KEX");
        byte[] c2s = s.c2s();
        int[] first = plaintextPackets(c2s).stream().filter(p -> p[2] == SshConstants.SSH_MSG_KEX_FIRST).findFirst()
                .orElseThrow();
        byte[] out = new byte[c2s.length + first[1]];
        System.arraycopy(c2s, 0, out, 0, first[0] + first[1]);
        System.arraycopy(c2s, first[0], out, first[0] + first[1], first[1]);
        System.arraycopy(c2s, first[0] + first[1], out, first[0] + 2 * first[1], c2s.length - first[0] - first[1]);
        int[] order = s.tapOrder().clone(); // the client chunk that held the message holds both copies
        for (int i = 0, fed = 0; i < order.length; i++) {
            if (order[i] > 0 && (fed += order[i]) > first[0]) {
                order[i] += first[1];
                break;
            }
        }
        return new RecordedSession(out, s.s2c(), s.records(), order);
    }
}
