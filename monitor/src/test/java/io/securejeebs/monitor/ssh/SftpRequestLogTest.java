package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelSubsystem;
import org.apache.sshd.client.channel.ClientChannelEvent;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.apache.sshd.sftp.client.SftpVersionSelector;
import org.apache.sshd.sftp.client.impl.DefaultSftpClient;
import org.apache.sshd.sftp.common.SftpConstants;
import org.apache.sshd.sftp.common.SftpException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SFTP hook of the replay log ({@link SftpRequestLog}) on real SFTP sessions: MINA's SftpClient against
 * MINA's SFTP subsystem ({@link RecordedSshServer}), the SSH bytes tapped off a relay and followed by a
 * tracker. The tracker's model must list exactly the handles the client holds (identifiers, paths, kinds,
 * flags, offsets), in every SFTP version MINA speaks and after a version-select. The same SFTP streams,
 * taken from the subsystem, are then fed to a log directly, split and merged every way (byte by byte,
 * random chunks): same result. Garbage, limits and huge writes stop the log or are skipped, never thrown,
 * and the SSH session stays recoverable.
 */
class SftpRequestLogTest {
    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    /** The version of INIT, and the version a version-select then asks for (-1: none). */
    static Stream<Arguments> versions() {
        return Stream.of(Arguments.of(3, -1), Arguments.of(4, -1), Arguments.of(5, -1), Arguments.of(6, -1),
                Arguments.of(6, 3), Arguments.of(6, 5));
    }

    /** What one scripted SFTP session left: the tracker's model, what the client holds, and the raw streams. */
    record Session(SshSessionModel model, ChannelModel channel, List<Expected> expected, int version,
                   TeedSftpSubsystemFactory.Streams streams) {}

    /** A handle as the client holds it, and what the log must say of it. */
    record Expected(byte[] identifier, SftpHandle.Kind kind, String path, long offset) {}

    @ParameterizedTest(name = "INIT {0}, version-select {1}")
    @MethodSource("versions")
    void theTrackerListsExactlyTheHandlesTheClientHolds(int initVersion, int selectVersion) throws Exception {
        Session s = runScript(initVersion, selectVersion, SshSessionTracker.Limits.DEFAULT);
        SftpModel sftp = s.channel().sftp();
        assertNotNull(sftp, "an sftp subsystem channel is followed");
        assertNull(sftp.stoppedReason());
        assertEquals(initVersion, sftp.clientVersion());
        assertEquals(s.version(), sftp.version());
        assertEquals(selectVersion < 0 ? initVersion : selectVersion, sftp.version());
        assertEquals(List.of(), sftp.pendingRequests(), "every open was answered");
        assertEquals(SftpModel.PartialPacket.NONE, sftp.fromClient());
        assertEquals(SftpModel.PartialPacket.NONE, sftp.fromServer());

        assertEquals(s.expected().size(), sftp.handles().size(), () -> sftp.handles().toString());
        for (int i = 0; i < s.expected().size(); i++) {
            Expected e = s.expected().get(i);
            SftpHandle h = sftp.handles().get(i);
            assertArrayEquals(e.identifier(), h.identifier(), "the handle the client holds, " + e.path());
            assertEquals(e.kind(), h.kind());
            assertEquals(e.path(), h.path());
            assertEquals(e.offset(), h.offset(), e.path());
        }
        SftpHandle source = sftp.handles().get(0);
        SftpHandle target = sftp.handles().get(1);
        SftpHandle photos = sftp.handles().get(2);
        if (sftp.version() < 5) {
            assertNull(source.desiredAccess());
            assertEquals(SftpConstants.SSH_FXF_READ, source.openFlags());
            assertEquals(SftpConstants.SSH_FXF_WRITE | SftpConstants.SSH_FXF_CREAT | SftpConstants.SSH_FXF_TRUNC,
                    target.openFlags());
        } else {
            assertTrue((source.desiredAccess() & SftpConstants.ACE4_READ_DATA) != 0, source::toString);
            assertTrue((target.desiredAccess() & SftpConstants.ACE4_WRITE_DATA) != 0, target::toString);
        }
        assertEquals(0, photos.openFlags());
        assertNull(photos.desiredAccess());

        // The same streams, followed by a log alone: whole, byte by byte, and in random chunks.
        String expected = TrackerReplay.describe(sftp);
        TeedSftpSubsystemFactory.Streams st = s.streams();
        assertEquals(expected, TrackerReplay.describe(feed(st, new Random(1), 0, SshSessionTracker.Limits.DEFAULT).model()));
        assertEquals(expected, TrackerReplay.describe(feed(st, new Random(2), 1, SshSessionTracker.Limits.DEFAULT).model()));
        for (int seed = 3; seed < 40; seed++) {
            assertEquals(expected, TrackerReplay.describe(feed(st, new Random(seed), -1, SshSessionTracker.Limits.DEFAULT)
                    .model()), "chunking seed " + seed);
        }
    }

    @Test
    void aStreamThatIsNotSftpStopsTheLogAndTheSessionStaysRecoverable() throws Exception {
        try (RecordedSshServer server = new RecordedSshServer(dir);
             SshSessionTrackerTest.Harness h = new SshSessionTrackerTest.Harness(server);
             SshClient client = SshClient.setUpDefaultClient()) {
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", h.relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                ChannelSubsystem channel = session.createSubsystemChannel("sftp");
                channel.setOut(new ByteArrayOutputStream());
                channel.setErr(new ByteArrayOutputStream());
                channel.open().verify(T);
                OutputStream in = channel.getInvertedIn();
                in.write("GET / HTTP/1.1\r\nHost: example\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                in.flush();
                h.awaitTracked(m -> !m.channels().isEmpty() && m.channels().get(0).sftp() != null
                        && m.channels().get(0).sftp().stoppedReason() != null);
                SshSessionModel m;
                synchronized (h.lock) {
                    assertNull(h.failure);
                    m = h.tracker.resumeState();
                    assertNull(h.tracker.unrecoverableReason(), "the SSH state is still exact");
                }
                SftpModel sftp = m.channels().get(0).sftp();
                assertEquals("not SFTP: a client packet length of " + 0x47455420L, sftp.stoppedReason());
                assertEquals(List.of(), sftp.handles());
                channel.close(true);
            }
        }
    }

    @Test
    void notFollowedWhenTheLimitsSaySo() throws Exception {
        Session s = runScript(3, -1, SshSessionTracker.Limits.DEFAULT.withSftp(false));
        assertNull(s.channel().sftp(), "SFTP requests are not followed");
        assertEquals("subsystem", s.channel().command());
        assertEquals("sftp", s.channel().commandArgument());
    }

    @Test
    void limitsStopTheLogWithTheReason() throws Exception {
        TeedSftpSubsystemFactory.Streams st = runScript(3, -1, SshSessionTracker.Limits.DEFAULT).streams();
        SftpRequestLog two = feed(st, new Random(5), -1, limits(2, 8));
        assertEquals("more than 2 open SFTP handles", two.stoppedReason());
        assertEquals(List.of(), two.model().handles(), "a stopped log holds nothing");
        SftpRequestLog none = feed(st, new Random(6), -1, limits(8, 0));
        assertEquals("more than 0 SFTP requests waiting for their reply", none.stoppedReason());
        SftpRequestLog three = feed(st, new Random(7), -1, limits(3, 1));
        assertEquals("more than 3 open SFTP handles", three.stoppedReason(), "the scratch file is the fourth");
        SftpRequestLog enough = feed(st, new Random(8), -1, limits(4, 1));
        assertNull(enough.stoppedReason());
        assertEquals(3, enough.model().handles().size());
    }

    @Test
    void writeAndReadDataIsSkippedNotBuffered() throws Exception {
        TeedSftpSubsystemFactory.Streams st = runScript(3, -1, SshSessionTracker.Limits.DEFAULT).streams();
        SftpRequestLog log = new SftpRequestLog(256, 1024);
        int most = 0;
        int a = 0;
        int b = 0;
        Random rnd = new Random(11);
        for (int turn : st.order()) {
            boolean client = turn > 0;
            int n = Math.abs(turn);
            for (int done = 0; done < n; ) {
                int k = Math.min(n - done, 1 + rnd.nextInt(700));
                if (client) {
                    log.fromClient(st.c2s(), a + done, k);
                } else {
                    log.fromServer(st.s2c(), b + done, k);
                }
                done += k;
                most = Math.max(most, log.bufferedBytes());
            }
            if (client) {
                a += n;
            } else {
                b += n;
            }
        }
        assertNull(log.stoppedReason());
        assertTrue(st.c2s().length > 70_000 && st.s2c().length > 5_000, "the script moves file data both ways");
        assertTrue(most <= 128, "at most an OPEN's or a WRITE's header is kept, not data: " + most + " bytes");
    }

    @Test
    void garbageAndMutationsStopTheLogWithAReasonAndNeverThrow() throws Exception {
        TeedSftpSubsystemFactory.Streams st = runScript(4, -1, SshSessionTracker.Limits.DEFAULT).streams();
        Random rnd = new Random(0x5f7b);
        int stopped = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] c2s = st.c2s().clone();
            byte[] s2c = st.s2c().clone();
            String what;
            switch (i % 5) {
                case 0 -> { // random bytes, in either direction
                    c2s = random(rnd, rnd.nextInt(2000));
                    s2c = random(rnd, rnd.nextInt(2000));
                    what = "random";
                }
                case 1 -> { // a flipped byte in the client's stream
                    int at = rnd.nextInt(c2s.length);
                    c2s[at] ^= (byte) (1 + rnd.nextInt(255));
                    what = "c2s flip at " + at;
                }
                case 2 -> {
                    int at = rnd.nextInt(s2c.length);
                    s2c[at] ^= (byte) (1 + rnd.nextInt(255));
                    what = "s2c flip at " + at;
                }
                case 3 -> { // a valid start, then garbage
                    c2s = concat(Arrays.copyOf(c2s, rnd.nextInt(c2s.length)), random(rnd, rnd.nextInt(500)));
                    what = "c2s garbage after " + c2s.length;
                }
                default -> { // an insertion
                    int at = rnd.nextInt(s2c.length);
                    s2c = concat(concat(Arrays.copyOf(s2c, at), random(rnd, 1 + rnd.nextInt(40))),
                            Arrays.copyOfRange(s2c, at, s2c.length));
                    what = "s2c insertion at " + at;
                }
            }
            SftpRequestLog log = feed(new TeedSftpSubsystemFactory.Streams(c2s, s2c, st.order()), rnd, -1,
                    SshSessionTracker.Limits.DEFAULT);
            String reason = log.stoppedReason();
            assertTrue(reason == null || !reason.startsWith("internal error"), what + ": " + reason);
            if (reason != null) {
                stopped++;
                assertEquals(List.of(), log.model().handles(), what);
                assertEquals(List.of(), log.model().pendingRequests(), what);
            }
            log.model(); // and the model can be taken, stopped or not
        }
        assertTrue(stopped > 1000, stopped + " of 3000 mutated streams stopped the log");
        SftpRequestLog garbage = new SftpRequestLog(256, 1024);
        assertTrue(garbage.fromServer(new byte[] {0, 0, 0, 5, 101, 0, 0, 0, 1}, 0, 9), "stopping is a change");
        assertEquals("not SFTP: the server's first packet is of type 101, not VERSION", garbage.stoppedReason());
    }

    // ---------------------------------------------------------------- helpers

    private static SshSessionTracker.Limits limits(int handles, int pending) {
        SshSessionTracker.Limits d = SshSessionTracker.Limits.DEFAULT;
        return new SshSessionTracker.Limits(d.maxPrefixBytes(), d.maxPendingBytes(), d.maxChannels(),
                d.maxRequestsPerChannel(), d.commandLinesKept(), handles, pending);
    }

    /**
     * Feeds both streams to a fresh log in their recorded order (a reply never before its request), each
     * direction's consecutive chunks merged, then cut again: into single bytes ({@code size} 1), not at all
     * (0), or at random (-1), past the recorded order's end in any order.
     */
    static SftpRequestLog feed(TeedSftpSubsystemFactory.Streams st, Random rnd, int size, SshSessionTracker.Limits limits) {
        SftpRequestLog log = new SftpRequestLog(limits.sftpOpenHandles(), limits.sftpPendingRequests());
        List<int[]> runs = new ArrayList<>(); // {direction 1 client / 0 server, length}
        for (int turn : st.order()) {
            int d = turn > 0 ? 1 : 0;
            if (!runs.isEmpty() && runs.get(runs.size() - 1)[0] == d) {
                runs.get(runs.size() - 1)[1] += Math.abs(turn);
            } else {
                runs.add(new int[] {d, Math.abs(turn)});
            }
        }
        int a = 0;
        int b = 0;
        for (int[] run : runs) {
            boolean client = run[0] == 1;
            byte[] stream = client ? st.c2s() : st.s2c();
            int from = client ? a : b;
            int to = Math.min(stream.length, from + run[1]);
            cut(log, client, stream, from, to, rnd, size);
            if (client) {
                a = to;
            } else {
                b = to;
            }
        }
        cut(log, true, st.c2s(), a, st.c2s().length, rnd, size); // mutated streams may be longer than recorded
        cut(log, false, st.s2c(), b, st.s2c().length, rnd, size);
        return log;
    }

    private static void cut(SftpRequestLog log, boolean client, byte[] stream, int from, int to, Random rnd, int size) {
        for (int at = from; at < to; ) {
            int n = size == 1 ? 1 : size == 0 ? to - at : Math.min(to - at, rnd.nextInt(4) == 0 ? rnd.nextInt(3)
                    : 1 + rnd.nextInt(rnd.nextBoolean() ? 40 : 40_000));
            if (client) {
                log.fromClient(stream, at, n);
            } else {
                log.fromServer(stream, at, n);
            }
            at += n;
        }
    }

    /**
     * One SFTP session through the relay, with the files "/source.bin" (100 000 bytes) and "/photos": read
     * from source, write 70 123 bytes to a new target, list photos, open and close a scratch file, fail to
     * open a missing one; source, target and photos stay open. Checked against the server's own SSH state.
     */
    private Session runScript(int initVersion, int selectVersion, SshSessionTracker.Limits limits) throws Exception {
        Path serverDir = Files.createTempDirectory(dir, "server");
        try (RecordedSshServer server = new RecordedSshServer(serverDir);
             SshSessionTrackerTest.Harness h = new SshSessionTrackerTest.Harness(server, limits);
             SshClient client = SshClient.setUpDefaultClient()) {
            client.start();
            Random rnd = new Random(initVersion * 31L + selectVersion);
            Files.write(server.sftpRoot.resolve("source.bin"), random(rnd, 100_000));
            Files.createDirectories(server.sftpRoot.resolve("photos"));
            Files.write(server.sftpRoot.resolve("photos/cat.jpg"), random(rnd, 10));
            try (ClientSession session = client.connect("alice", "127.0.0.1", h.relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                try (SftpClient sftp = SftpClientFactory.instance().createSftpClient(session,
                        SftpVersionSelector.fixedVersionSelector(initVersion))) {
                    if (selectVersion >= 0) {
                        assertEquals(selectVersion, ((DefaultSftpClient) sftp).negotiateVersion(
                                SftpVersionSelector.fixedVersionSelector(selectVersion)));
                    }
                    byte[] buf = new byte[4096];
                    SftpClient.Handle source = sftp.open("/source.bin", SftpClient.OpenMode.Read);
                    assertEquals(4096, sftp.read(source, 0, buf, 0, 4096));
                    assertEquals(1000, sftp.read(source, 20_000, buf, 0, 1000));
                    SftpClient.Handle target = sftp.open("/target.bin", SftpClient.OpenMode.Write,
                            SftpClient.OpenMode.Create, SftpClient.OpenMode.Truncate);
                    byte[] data = random(rnd, 70_000);
                    sftp.write(target, 0, data, 0, data.length); // spans several SSH packets
                    sftp.write(target, 70_000, data, 0, 123);
                    SftpClient.Handle photos = sftp.openDir("/photos");
                    assertNotNull(sftp.readDir(photos));
                    SftpClient.Handle scratch = sftp.open("/scratch.txt", SftpClient.OpenMode.Write,
                            SftpClient.OpenMode.Create);
                    sftp.write(scratch, 0, data, 0, 10);
                    sftp.close(scratch);
                    assertThrows(SftpException.class, () -> sftp.open("/missing.txt", SftpClient.OpenMode.Read));
                    SshSessionModel m = h.assertMatches(server);
                    ChannelModel channel = m.channels().stream().filter(c -> "sftp".equals(c.commandArgument()))
                            .findFirst().orElseThrow();
                    return new Session(m, channel, List.of(
                            new Expected(source.getIdentifier(), SftpHandle.Kind.FILE, "/source.bin", 21_000),
                            new Expected(target.getIdentifier(), SftpHandle.Kind.FILE, "/target.bin", 70_123),
                            new Expected(photos.getIdentifier(), SftpHandle.Kind.DIRECTORY, "/photos", 0)),
                            sftp.getVersion(), server.sftp.streams());
                }
            } finally {
                assertNull(h.failure, () -> "tracking failed: " + h.failure.getMessage());
            }
        }
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
