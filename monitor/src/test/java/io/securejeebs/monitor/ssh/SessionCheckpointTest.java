package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.checkpoint.CheckpointCodec;
import io.securejeebs.monitor.checkpoint.CheckpointFormatException;
import io.securejeebs.monitor.tcp.CheckpointWork;
import io.securejeebs.monitor.tcp.ConnectionCheckpoint;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.TcpConnection;
import io.securejeebs.monitor.tcp.TcpFlow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checkpoints of real SSH sessions (MINA client and server in this JVM, {@link RecordedSession}) carried in real
 * TCP frames ({@link TcpFlow}) through a {@link ConnectionTable}: taken at every frame of the session, encoded,
 * decoded, and resumed by a new table that gets the rest of the frames: it must end exactly where a table that
 * never stopped ends (an SFTP channel's open handles included, whatever SFTP packet the checkpoint cut). And
 * blobs that are cut, corrupt or of an unknown version are refused with the reason; blobs of format version 1
 * (before SFTP state was checkpointed) are still read.
 */
class SessionCheckpointTest {

    static Stream<RecordedSession.Script> scripts() {
        return Stream.of( // the fuzz test's recordings: made once per run
                new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false),
                new RecordedSession.Script("aes128-gcm@openssh.com", null, true),
                new RecordedSession.Script("aes128-ctr", "hmac-sha2-256-etm@openssh.com", false),
                new RecordedSession.Script("aes256-ctr", "hmac-sha2-256", false),
                new RecordedSession.Script("aes256-gcm@openssh.com", null, false, true));
    }

    /** The recording as captured frames, its chunks in the order the relay saw them, cut into random segments. */
    static List<TcpFlow.Frame> frames(RecordedSession s, long seed) {
        TcpFlow flow = new TcpFlow(0xFFFF_F000 + (int) seed, 0x7000_0000, 1_700_000_000_000_000L, 1448, new Random(seed));
        flow.handshake();
        int a = 0;
        int b = 0;
        for (int turn : s.tapOrder()) {
            if (turn > 0) {
                flow.send(true, s.c2s(), a, turn);
                a += turn;
            } else {
                flow.send(false, s.s2c(), b, -turn);
                b -= turn;
            }
        }
        return flow.take();
    }

    static ConnectionTable table(List<KexRecord> records) {
        KexRecordSource source = (key, ordinal, delivery) -> records.stream().filter(r -> r.ordinal() == ordinal)
                .findFirst().ifPresentOrElse(delivery::record, () -> delivery.failed("no such record"));
        return new ConnectionTable(TcpFlow.watched(), SshSessionTracker.factory(source, SshSessionTracker.Limits.DEFAULT,
                true), 4 << 20, 100, new FrameCounters());
    }

    /** The checkpoint a writer would take now, or null when the connection cannot be checkpointed just now. */
    static ConnectionCheckpoint checkpoint(ConnectionTable table) {
        table.queueChangedCheckpoints();
        List<CheckpointWork> work = table.takeCheckpoints(10);
        assertTrue(work.size() <= 1);
        return work.isEmpty() ? null : work.get(0).checkpoint();
    }

    /** Everything a failover takes from a connection, as text. */
    static String describe(ConnectionSnapshot s) {
        HexFormat hex = HexFormat.of();
        String tcp = s.key() + " " + s.protocol() + " opened=" + s.openedMicros() + " seen=" + s.lastSeenMicros() + " "
                + s.options() + " unacked=" + Integer.toUnsignedString(s.serverUnackedSeq()) + ":"
                + (s.serverUnacked() == null ? null : hex.formatHex(s.serverUnacked()))
                + " unconsumed=" + Integer.toUnsignedString(s.clientUnconsumedSeq()) + ":"
                + (s.clientUnconsumed() == null ? null : hex.formatHex(s.clientUnconsumed()))
                + " ack=" + Integer.toUnsignedString(s.serverAckSeq()) + " windows=" + s.clientWindow() + "/"
                + s.serverWindow() + " " + s.timestamps() + " bytes=" + s.clientBytes() + "/" + s.serverBytes()
                + " reason=" + s.unrecoverableReason();
        return tcp + "\n" + (s.resume() == null ? null : TrackerReplay.describe((SshSessionModel) s.resume(), false, false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scripts")
    void resumingFromACheckpointAtAnyFrameEndsWhereTheUninterruptedTableEnds(RecordedSession.Script script)
            throws Exception {
        RecordedSession session = RecordedSession.shared(script);
        List<TcpFlow.Frame> frames = frames(session, script.hashCode());
        TcpFlow.Feed reference = new TcpFlow.Feed(table(session.records()));
        reference.feed(frames);
        ConnectionSnapshot expected = reference.table().snapshot(TcpFlow.KEY);
        assertNull(expected.unrecoverableReason(), "the recording ends idle and recoverable");

        TcpFlow.Feed live = new TcpFlow.Feed(table(session.records()));
        int taken = 0;
        int resumedMidPacket = 0;
        int resumedWithUnacked = 0;
        int resumedMidSftpPacket = 0;
        int resumedWithSftpHandles = 0;
        boolean keysNeverStored = true;
        boolean fileDataNeverStored = true;
        for (int i = 0; i < frames.size(); i++) {
            live.feed(frames.get(i));
            ConnectionCheckpoint cp = checkpoint(live.table());
            if (cp == null) {
                continue; // a handshake or key exchange in progress
            }
            taken++;
            byte[] blob = CheckpointCodec.encode(cp);
            ConnectionCheckpoint decoded = CheckpointCodec.decode(blob);
            assertArrayEquals(blob, CheckpointCodec.encode(decoded), "decoding and encoding again gives the same bytes");
            keysNeverStored &= !containsAnyKey(blob, session.records());
            SshCheckpoint ssh = (SshCheckpoint) decoded.application();
            for (ChannelModel ch : ssh.channels()) {
                if (ch.sftp() != null) {
                    assertNull(ch.sftp().stoppedReason(), "frame " + i);
                    resumedMidSftpPacket += ch.sftp().fromClient().consumed() + ch.sftp().fromServer().consumed() > 0 ? 1 : 0;
                    resumedWithSftpHandles += ch.sftp().handles().isEmpty() ? 0 : 1;
                    fileDataNeverStored &= !containsAnyFileData(blob);
                }
            }
            resumedMidPacket += ssh.clientToServer().tail().length + ssh.serverToClient().tail().length > 0 ? 1 : 0;
            resumedWithUnacked += ssh.clientUnacknowledged() > 0 ? 1 : 0;

            TcpFlow.Feed resumed = new TcpFlow.Feed(table(session.records()));
            assertNull(resumed.table().resume(decoded, frames.get(i).micros()));
            assertEquals(TcpConnection.State.RESUMING, resumed.table().state(TcpFlow.KEY));
            if (i == frames.size() - 1) {
                // Idle from here on: still resuming, and restorable as it is.
                ConnectionSnapshot s = resumed.table().snapshot(TcpFlow.KEY);
                assertTrue(s.resuming());
                assertEquals(describe(expected), describe(s));
                continue;
            }
            List<TcpFlow.Frame> rest = frames.subList(i + 1, frames.size());
            resumed.feed(rest);
            boolean bothSides = rest.stream().anyMatch(TcpFlow.Frame::fromClient)
                    && rest.stream().anyMatch(f -> !f.fromClient());
            assertEquals(bothSides ? TcpConnection.State.ESTABLISHED : TcpConnection.State.RESUMING,
                    resumed.table().state(TcpFlow.KEY), () -> resumed.table().snapshot(TcpFlow.KEY).unrecoverableReason());
            assertEquals(describe(expected), describe(resumed.table().snapshot(TcpFlow.KEY)),
                    "resumed from the checkpoint after frame " + i + " of " + frames.size());
        }
        assertTrue(taken > frames.size() / 3, taken + " checkpoints in " + frames.size() + " frames");
        assertTrue(resumedMidPacket > 0, "some checkpoints end inside a packet");
        assertTrue(resumedWithUnacked > 0, "some checkpoints hold client bytes the server has not acknowledged");
        assertTrue(keysNeverStored, "no key, IV, MAC key, K or H is ever in a checkpoint");
        if (script.sftp()) {
            assertTrue(resumedMidSftpPacket > 0, "some checkpoints end inside an SFTP packet");
            assertTrue(resumedWithSftpHandles > 0, "some checkpoints hold open SFTP handles");
            assertTrue(fileDataNeverStored, "no file data read or written over SFTP is ever in a checkpoint");
            assertEquals(3, sftpOf(expected).handles().size(), "source, target and photos are open at the end");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scripts")
    void aFormatVersion1BlobIsStillReadAndItsSftpChannelsAreNotFollowed(RecordedSession.Script script) throws Exception {
        RecordedSession session = RecordedSession.shared(script);
        List<TcpFlow.Frame> frames = frames(session, script.hashCode() + 1);
        TcpFlow.Feed reference = new TcpFlow.Feed(table(session.records()));
        reference.feed(frames);
        ConnectionSnapshot expected = reference.table().snapshot(TcpFlow.KEY);

        TcpFlow.Feed live = new TcpFlow.Feed(table(session.records()));
        int resumed = 0;
        int withSftp = 0;
        for (int i = 0; i < frames.size(); i++) {
            live.feed(frames.get(i));
            ConnectionCheckpoint cp = checkpoint(live.table());
            if (cp == null || (i % 7 != 0 && i != frames.size() - 1)) {
                continue;
            }
            byte[] v1 = asFormatVersion1(cp);
            assertEquals(1, v1[0]);
            ConnectionCheckpoint decoded = CheckpointCodec.decode(v1);
            SshCheckpoint ssh = (SshCheckpoint) decoded.application();
            boolean sftpChannel = ssh.channels().stream().anyMatch(c -> "sftp".equals(c.commandArgument()));
            assertTrue(ssh.channels().stream().allMatch(c -> c.sftp() == null), "version 1 holds no SFTP state");
            assertArrayEquals(CheckpointCodec.encode(withChannels(cp, withoutSftp(
                    ((SshCheckpoint) cp.application()).channels()))), CheckpointCodec.encode(decoded),
                    "read as version 1, written as version 2: the same checkpoint, without its SFTP state");

            TcpFlow.Feed resumedFeed = new TcpFlow.Feed(table(session.records()));
            assertNull(resumedFeed.table().resume(decoded, frames.get(i).micros()));
            resumedFeed.feed(frames.subList(i + 1, frames.size()));
            ConnectionSnapshot s = resumedFeed.table().snapshot(TcpFlow.KEY);
            assertNull(s.unrecoverableReason(), "frame " + i);
            assertEquals(withoutSftp(describe(expected)), withoutSftp(describe(s)), "frame " + i);
            if (sftpChannel) {
                assertEquals("resumed from a checkpoint that holds no SFTP state", sftpOf(s).stoppedReason());
                assertEquals(List.of(), sftpOf(s).handles());
                withSftp++;
            } else {
                assertEquals(describe(expected), describe(s), "frame " + i + ": the SFTP channel was opened after it");
            }
            resumed++;
        }
        assertTrue(resumed > 3, resumed + " resumed");
        assertEquals(script.sftp(), withSftp > 0);
    }

    /**
     * The blob format version 1 had for {@code cp}: version 2 without the "SFTP followed" boolean each channel
     * ends with (the SFTP states are left out). Each channel's end is found by encoding the channels before it
     * alone: the channels are the blob's last field.
     */
    static byte[] asFormatVersion1(ConnectionCheckpoint cp) {
        List<ChannelModel> channels = withoutSftp(((SshCheckpoint) cp.application()).channels());
        byte[] v2 = CheckpointCodec.encode(withChannels(cp, channels));
        java.util.Set<Integer> flags = new java.util.HashSet<>();
        for (int k = 1; k <= channels.size(); k++) {
            int end = CheckpointCodec.encode(withChannels(cp, channels.subList(0, k))).length;
            assertEquals(0, v2[end - 1], "the SFTP boolean of channel " + (k - 1));
            flags.add(end - 1);
        }
        java.io.ByteArrayOutputStream v1 = new java.io.ByteArrayOutputStream();
        v1.write(1);
        for (int i = 1; i < v2.length; i++) {
            if (!flags.contains(i)) {
                v1.write(v2[i]);
            }
        }
        return v1.toByteArray();
    }

    static List<ChannelModel> withoutSftp(List<ChannelModel> channels) {
        return channels.stream().map(c -> new ChannelModel(c.serverId(), c.clientId(), c.type(), c.serverWindow(),
                c.serverMaxPacket(), c.clientWindow(), c.clientMaxPacket(), c.pty(), c.env(), c.command(),
                c.commandArgument(), c.openedInPrefix(), c.eofFromClient(), c.eofFromServer(), c.closeFromClient(),
                c.closeFromServer(), c.openPayload(), c.requestsAfterPrefix(), c.commandLines(), null)).toList();
    }

    static ConnectionCheckpoint withChannels(ConnectionCheckpoint cp, List<ChannelModel> channels) {
        SshCheckpoint s = (SshCheckpoint) cp.application();
        return new ConnectionCheckpoint(cp.tcp(), new SshCheckpoint(s.clientVersion(), s.serverVersion(), s.strictKex(),
                s.sessionIdDigest(), s.keyExchanges(), s.clientToServer(), s.serverToClient(), s.awaitServerAck(),
                s.clientUnacknowledged(), s.user(), s.authMethod(), s.lastRequestUser(), s.lastRequestMethod(),
                s.authAttempts(), channels, s.nextServerChannelId(), s.prefixMaxChannelId(), s.globalRequests(),
                s.prefixComplete(), s.prefix(), s.prefixPackets(), s.prefixEndPosition()));
    }

    /** A description without its SFTP lines. */
    static String withoutSftp(String description) {
        return description.replaceAll("\n  sftp [^\n]*", "");
    }

    static SftpModel sftpOf(ConnectionSnapshot s) {
        return ((SshSessionModel) s.resume()).channels().stream().filter(c -> c.sftp() != null).findFirst()
                .orElseThrow().sftp();
    }

    /** Whether any 16 bytes of the files the SFTP script read or wrote appear in {@code blob}. */
    static boolean containsAnyFileData(byte[] blob) {
        for (byte[] file : RecordedSession.sftpFileData()) {
            for (int at = 0; at + 16 <= file.length; at += 997) {
                for (int i = 0; i + 16 <= blob.length; i++) {
                    if (Arrays.equals(blob, i, i + 16, file, at, at + 16)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scripts")
    void trafficMissedWhileDownMakesTheSessionUnrecoverable(RecordedSession.Script script) throws Exception {
        RecordedSession session = RecordedSession.shared(script);
        List<TcpFlow.Frame> frames = frames(session, 7);
        int missedClient = 0;
        int missedServer = 0;
        TcpFlow.Feed live = new TcpFlow.Feed(table(session.records()));
        for (int i = 0; i + 2 < frames.size(); i++) {
            live.feed(frames.get(i));
            ConnectionCheckpoint cp = checkpoint(live.table());
            TcpFlow.Frame lost = frames.get(i + 1);
            if (cp == null || lost.payloadLength() == 0) {
                continue;
            }
            TcpFlow.Feed resumed = new TcpFlow.Feed(table(session.records()));
            assertNull(resumed.table().resume(CheckpointCodec.decode(CheckpointCodec.encode(cp)), lost.micros()));
            resumed.feed(frames.subList(i + 2, frames.size())); // frame i + 1 came while the appliance was down
            ConnectionSnapshot s = resumed.table().snapshot(TcpFlow.KEY);
            assertEquals(TcpConnection.State.UNRECOVERABLE, resumed.table().state(TcpFlow.KEY));
            assertTrue(s.unrecoverableReason().startsWith("traffic while the appliance was down ("
                    + (lost.fromClient() ? "c->s" : "s->c") + " expected seq "), s.unrecoverableReason());
            // The stored checkpoint is replaced by the reason, once; later segments change nothing more.
            resumed.table().queueChangedCheckpoints();
            List<CheckpointWork> work = resumed.table().takeCheckpoints(10);
            assertEquals(1, work.size());
            assertEquals(s.unrecoverableReason(), work.get(0).unrecoverableReason());
            resumed.feed(frames.get(frames.size() - 1)); // a retransmission
            resumed.table().queueChangedCheckpoints();
            assertEquals(List.of(), resumed.table().takeCheckpoints(10));
            if (lost.fromClient()) {
                missedClient++;
            } else {
                missedServer++;
            }
        }
        assertTrue(missedClient > 0 && missedServer > 0);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scripts")
    void cutCorruptOrUnknownBlobsAreRefusedWithTheReason(RecordedSession.Script script) throws Exception {
        RecordedSession session = RecordedSession.shared(script);
        TcpFlow.Feed live = new TcpFlow.Feed(table(session.records()));
        live.feed(frames(session, 3));
        byte[] blob = CheckpointCodec.encode(checkpoint(live.table()));

        for (int n = 0; n < blob.length; n++) {
            byte[] cut = Arrays.copyOf(blob, n);
            CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> CheckpointCodec.decode(cut));
            assertTrue(e.getMessage().startsWith("session checkpoint: "), e.getMessage());
        }
        byte[] longer = Arrays.copyOf(blob, blob.length + 1);
        assertTrue(assertThrows(CheckpointFormatException.class, () -> CheckpointCodec.decode(longer))
                .getMessage().contains("trailing"));
        byte[] future = blob.clone();
        future[0] = 3;
        assertEquals("session checkpoint: unsupported format version 3 (this build reads version 1 to 2)",
                assertThrows(CheckpointFormatException.class, () -> CheckpointCodec.decode(future)).getMessage());

        // Any single corrupt byte: refused with a reason, or (a byte no check covers, e.g. in a window)
        // decoded; never another exception, and never a tracker that throws while resuming.
        Random rnd = new Random(script.hashCode());
        int refused = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] bad = blob.clone();
            int at = rnd.nextInt(bad.length);
            bad[at] ^= (byte) (1 + rnd.nextInt(255));
            try {
                ConnectionCheckpoint cp = CheckpointCodec.decode(bad);
                String reason = table(session.records()).resume(cp, 0);
                assertTrue(reason == null || reason.startsWith("cannot resume from its checkpoint: "), reason);
            } catch (CheckpointFormatException e) {
                assertNotNull(e.getMessage());
                refused++;
            }
        }
        assertTrue(refused > 100, refused + " of 3000 corruptions refused");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scripts")
    void aCheckpointOfAnotherSessionOrWithoutItsRecordsIsUnrecoverable(RecordedSession.Script script) throws Exception {
        RecordedSession session = RecordedSession.shared(script);
        TcpFlow.Feed live = new TcpFlow.Feed(table(session.records()));
        live.feed(frames(session, 5));
        ConnectionCheckpoint cp = checkpoint(live.table());

        RecordedSession other = RecordedSession.shared(scripts().filter(s -> !s.equals(script)).findFirst().orElseThrow());
        ConnectionTable wrongRecords = table(other.records());
        String reason = wrongRecords.resume(cp, 0);
        assertNotNull(reason);
        assertTrue(reason.contains("belongs to another session") || reason.contains("identification lines differ"),
                reason);
        assertEquals(TcpConnection.State.UNRECOVERABLE, wrongRecords.state(TcpFlow.KEY));

        ConnectionTable noRecords = table(List.of());
        String missing = noRecords.resume(cp, 0);
        assertEquals("cannot resume from its checkpoint: KEX record #0: no such record", missing);
        assertFalse(noRecords.snapshot(TcpFlow.KEY).recoverable());
    }

    /** Whether any secret of the records (K, H, a derived key, IV or MAC key) appears in {@code blob}. */
    static boolean containsAnyKey(byte[] blob, List<KexRecord> records) throws Exception {
        List<byte[]> secrets = new ArrayList<>();
        for (KexRecord r : records) {
            secrets.add(r.sharedSecret());
            secrets.add(r.exchangeHash());
            secrets.add(r.sessionId());
            var keys = io.securejeebs.keyexport.kex.SessionKeys.derive(r,
                    io.securejeebs.keyexport.kex.NegotiatedAlgorithms.of(r.clientKexInit(), r.serverKexInit()));
            for (var d : List.of(keys.clientToServer(), keys.serverToClient())) {
                secrets.add(d.key());
                secrets.add(d.iv());
                if (d.macKey() != null) {
                    secrets.add(d.macKey());
                }
            }
        }
        for (byte[] secret : secrets) {
            byte[] probe = Arrays.copyOf(secret, Math.min(secret.length, 12));
            for (int i = 0; i + probe.length <= blob.length; i++) {
                if (Arrays.equals(blob, i, i + probe.length, probe, 0, probe.length)) {
                    return true;
                }
            }
        }
        return false;
    }
}
