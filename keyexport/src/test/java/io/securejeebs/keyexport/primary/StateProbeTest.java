package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.keyexport.probe.ProbeDocument;
import io.securejeebs.localsocket.LocalJsonClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelDirectTcpip;
import org.apache.sshd.client.channel.ChannelExec;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.client.session.ClientSessionImpl;
import org.apache.sshd.client.session.SessionFactory;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.common.keyprovider.FileKeyPairProvider;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.util.net.SshdSocketAddress;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The primary's test-only state probe against a real MINA client: after data both ways and after a rekey, what
 * the probe reads from the primary's session (under its locks, from its cipher objects) must be the mirror of
 * what the client's own session holds, counted by MINA's client-side code: the client's outbound sequence number
 * is the primary's inbound one, the client's outbound CTR blocks (GCM/chacha packets) since NEWKEYS are the
 * primary's inbound cipher position, and so on; each channel's windows mirror the other side's.
 *
 * <p>"A quiet moment" is found without timing: the client's view is read before and after the probe, and the
 * test waits (up to a generous bound) until the two client views are equal and the probe mirrors them.
 */
class StateProbeTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static PrimaryFixture primary;
    static Path probeSocket;
    static SshClient client;
    static KeyPair clientKey;

    @BeforeAll
    static void start() throws Exception {
        probeSocket = dir.resolve("run/probe.sock");
        primary = PrimaryFixture.start(dir, "probe.socket = " + probeSocket + "\nforwarding.direct-tcpip = yes\n",
                new RecordingSink());
        clientKey = new FileKeyPairProvider(primary.clientKey).loadKeys(null).iterator().next();
    }

    @AfterAll
    static void stop() throws IOException {
        if (primary != null) {
            primary.close();
        }
    }

    /** A client session that shows its own transport counters, read under its own locks. */
    static final class ObservedClientSession extends ClientSessionImpl {
        ObservedClientSession(SshClient client, IoSession io) throws Exception {
            super(client, io);
        }

        ClientView view() {
            decodeLock.lock();
            try {
                encodeLock.lock();
                try {
                    return new ClientView(seqi, seqo, inBlocksCount.get(), outBlocksCount.get(), inPacketsCount.get(),
                            outPacketsCount.get(), decoderState != 0);
                } finally {
                    encodeLock.unlock();
                }
            } finally {
                decodeLock.unlock();
            }
        }
    }

    record ClientView(long seqi, long seqo, long inBlocks, long outBlocks, long inPackets, long outPackets,
                      boolean partialPacket) {}

    private static SshClient client(String cipher, String mac) {
        SshClient c = SshClient.setUpDefaultClient();
        c.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(cipher)));
        c.setMacFactories(List.of(BuiltinMacs.fromFactoryName(mac)));
        c.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
        c.setSessionFactory(new SessionFactory(c) {
            @Override
            protected ClientSessionImpl doCreateSession(IoSession io) throws Exception {
                return new ObservedClientSession(c, io);
            }
        });
        c.start();
        return c;
    }

    private static ProbeDocument probe() throws IOException {
        return JSON.readValue(LocalJsonClient.exchange(probeSocket, null, WAIT), ProbeDocument.class);
    }

    @Test
    void theProbeSocketIsRootOnlyAndAnswersWithJson() throws Exception {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(probeSocket)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(probeSocket.getParent())));
        JsonNode doc = JSON.readTree(LocalJsonClient.exchange(probeSocket, null, WAIT));
        assertEquals("test-primary", doc.get("primaryId").asText());
        assertTrue(doc.get("sessions").isArray());
    }

    @ParameterizedTest
    @CsvSource({
            "aes128-ctr, hmac-sha2-256",
            "aes256-ctr, hmac-sha2-512-etm@openssh.com",
            "aes128-gcm@openssh.com, hmac-sha2-256-etm@openssh.com",
            "aes256-gcm@openssh.com, hmac-sha2-256-etm@openssh.com",
            "chacha20-poly1305@openssh.com, hmac-sha2-256-etm@openssh.com"})
    void theProbeMirrorsTheClientAfterDataAndARekey(String cipher, String mac) throws Exception {
        boolean aead = !cipher.endsWith("-ctr");
        try (SshClient c = client(cipher, mac);
             ClientSession session = c.connect(primary.user.name, "127.0.0.1", primary.server.port())
                     .verify(WAIT).getSession();
             ServerSocket target = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            session.addPublicKeyIdentity(clientKey);
            session.auth().verify(WAIT);
            ObservedClientSession observed = (ObservedClientSession) session;

            ChannelExec cat = session.createExecChannel("cat");
            cat.open().verify(WAIT);
            echo(cat, 100_000, 1);

            ProbeDocument.Session s = awaitMirror(session, observed, cipher, aead ? null : mac, List.of(cat), 1);
            long c2sBlocksBeforeRekey = s.c2s().blocks();
            assertTrue(c2sBlocksBeforeRekey > (aead ? 10 : 100_000 / 16), "data went through the inbound cipher: "
                    + c2sBlocksBeforeRekey);

            session.reExchangeKeys().verify(WAIT);
            echo(cat, 5_000, 2);
            s = awaitMirror(session, observed, cipher, aead ? null : mac, List.of(cat), 2);
            assertTrue(s.c2s().blocks() < c2sBlocksBeforeRekey, "positions restart at the new keys");

            if (cipher.equals("aes128-ctr")) {
                // a second channel, of another type, that the client half-closes: EOF received, nothing closed
                ChannelDirectTcpip forward = session.createDirectTcpipChannel(
                        new SshdSocketAddress("127.0.0.1", 0), new SshdSocketAddress("127.0.0.1", target.getLocalPort()));
                forward.open().verify(WAIT);
                try (Socket far = target.accept()) {
                    forward.getInvertedIn().write(new byte[] {1, 2, 3});
                    forward.getInvertedIn().close(); // CHANNEL_EOF
                    assertEquals(3, far.getInputStream().readNBytes(3).length);
                    assertEquals(-1, far.getInputStream().read(), "the primary passed the EOF on");
                    s = awaitMirror(session, observed, cipher, mac, List.of(cat, forward), 2);
                    ProbeDocument.Channel f = s.channels().get(1);
                    assertEquals("direct-tcpip", f.type());
                    assertTrue(f.eofReceived(), "EOF from the client");
                    assertTrue(!f.eofSent() && !f.closeSent() && !f.closeReceived(), f.toString());
                }
            }
        }
    }

    /** Sends {@code n} random bytes through {@code cat} and reads them back. */
    private static void echo(ChannelExec cat, int n, long seed) throws IOException {
        byte[] data = new byte[n];
        new Random(seed).nextBytes(data);
        OutputStream in = cat.getInvertedIn();
        InputStream out = cat.getInvertedOut();
        Thread writer = new Thread(() -> {
            try {
                in.write(data);
                in.flush();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        writer.start();
        assertArrayEquals(data, out.readNBytes(n));
    }

    /** Waits until the probe's view of this session mirrors the client's, then checks every field and returns it. */
    private static ProbeDocument.Session awaitMirror(ClientSession session, ObservedClientSession observed, String cipher,
                                                     String mac, List<Channel> channels, int kexCount) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        List<String> mismatch = List.of();
        while (System.nanoTime() < deadline) {
            ClientView before = observed.view();
            ProbeDocument.Session s = sessionOf(probe(), session);
            ClientView after = observed.view();
            if (s != null && before.equals(after) && !after.partialPacket()) {
                mismatch = compare(s, session, after, cipher, mac, channels, kexCount);
                if (mismatch.isEmpty()) {
                    return s;
                }
            }
            Thread.sleep(20);
        }
        fail("the probe never mirrored the client within " + WAIT.toSeconds() + " s: " + mismatch);
        return null;
    }

    private static ProbeDocument.Session sessionOf(ProbeDocument doc, ClientSession session) {
        int port = ((InetSocketAddress) session.getIoSession().getLocalAddress()).getPort();
        for (ProbeDocument.Session s : doc.sessions()) {
            if (s.clientPort() == port) {
                return s;
            }
        }
        return null;
    }

    private static List<String> compare(ProbeDocument.Session s, ClientSession session, ClientView c, String cipher,
                                        String mac, List<Channel> channels, int kexCount) throws Exception {
        List<String> bad = new ArrayList<>();
        check(bad, "error", null, s.error());
        check(bad, "user", primary.user.name, s.user());
        check(bad, "client ip", "127.0.0.1", s.clientIp());
        check(bad, "server port", primary.server.port(), s.serverPort());
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(session.getSessionId());
        check(bad, "session id fingerprint", HexFormat.of().formatHex(digest, 0, 4), s.sessionId());
        check(bad, "kex count", kexCount, s.kexCount());
        check(bad, "inbound packet in progress", false, s.inboundPacketInProgress());
        check(bad, "seqi = client seqo", c.seqo(), s.seqi());
        check(bad, "seqo = client seqi", c.seqi(), s.seqo());
        check(bad, "c2s.sequence", c.seqo(), s.c2s().sequence());
        check(bad, "s2c.sequence", c.seqi(), s.s2c().sequence());
        for (ProbeDocument.Direction d : List.of(s.c2s(), s.s2c())) {
            check(bad, "cipher", cipher, d.cipher());
            check(bad, "mac", mac, d.mac());
        }
        boolean ctr = cipher.endsWith("-ctr");
        // CTR: 16-byte blocks; GCM and chacha20-poly1305: packets, since this direction's NEWKEYS
        check(bad, "c2s.blocks", ctr ? c.outBlocks() : c.outPackets(), s.c2s().blocks());
        check(bad, "s2c.blocks", ctr ? c.inBlocks() : c.inPackets(), s.s2c().blocks());
        if (cipher.startsWith("chacha20")) {
            check(bad, "chacha: strict KEX makes packets since NEWKEYS the sequence number", s.c2s().sequence(),
                    s.c2s().blocks());
        }
        check(bad, "channel count", channels.size(), s.channels().size());
        for (int i = 0; i < Math.min(channels.size(), s.channels().size()); i++) {
            Channel mine = channels.get(i);
            ProbeDocument.Channel theirs = s.channels().get(i);
            String n = "channel " + i + " ";
            check(bad, n + "local id = client's recipient", mine.getRecipient(), theirs.localId());
            check(bad, n + "remote id = client's id", mine.getChannelId(), theirs.remoteId());
            check(bad, n + "local window = client's remote window", mine.getRemoteWindow().getSize(), theirs.localWindow());
            check(bad, n + "remote window = client's local window", mine.getLocalWindow().getSize(), theirs.remoteWindow());
            check(bad, n + "local max packet", mine.getRemoteWindow().getPacketSize(), theirs.localMaxPacket());
            check(bad, n + "remote max packet", mine.getLocalWindow().getPacketSize(), theirs.remoteMaxPacket());
            check(bad, n + "eof received = client's eof sent",
                    ((org.apache.sshd.common.channel.AbstractChannel) mine).isEofSent(), theirs.eofReceived());
        }
        if (!s.channels().isEmpty()) {
            check(bad, "first channel type", "session", s.channels().get(0).type());
        }
        return bad;
    }

    private static void check(List<String> bad, String what, Object expected, Object actual) {
        if (!Objects.equals(expected, actual)) {
            bad.add(what + ": expected " + expected + ", probe says " + actual);
        }
    }

    @Test
    void theProbeListsTheSftpHandlesTheClientHolds() throws Exception {
        try (SshClient c = client("aes128-ctr", "hmac-sha2-256");
             ClientSession session = c.connect(primary.user.name, "127.0.0.1", primary.server.port())
                     .verify(WAIT).getSession()) {
            session.addPublicKeyIdentity(clientKey);
            session.auth().verify(WAIT);
            try (SftpClient sftp = SftpClientFactory.instance().createSftpClient(session)) {
                SftpClient.Handle a = sftp.open("probe-a.bin", SftpClient.OpenMode.Read, SftpClient.OpenMode.Write,
                        SftpClient.OpenMode.Create);
                byte[] data = new byte[5000];
                new Random(3).nextBytes(data);
                sftp.write(a, 0, data);
                assertEquals(2000, sftp.read(a, 1000, new byte[2000], 0, 2000));
                SftpClient.Handle b = sftp.open("probe-b.bin", SftpClient.OpenMode.Write, SftpClient.OpenMode.Create);
                sftp.write(b, 0, data, 0, 100);
                sftp.close(b);
                SftpClient.Handle d = sftp.openDir(".");
                List<String> expected = List.of(
                        HexFormat.of().formatHex(a.getIdentifier()) + " file " + primary.user.home.resolve("probe-a.bin")
                                + " 3000",
                        HexFormat.of().formatHex(d.getIdentifier()) + " directory " + primary.user.home + " 0");
                long deadline = System.nanoTime() + WAIT.toNanos();
                List<String> seen = null;
                while (System.nanoTime() < deadline && !expected.equals(seen)) {
                    seen = sessionOf(probe(), session).sftpHandles().stream()
                            .map(h -> h.handle() + " " + h.kind() + " " + h.path() + " " + h.offset()).toList();
                    Thread.sleep(20);
                }
                assertEquals(expected, seen, "the open handles, the latest read on a file, the closed one gone");
                sftp.close(a);
                sftp.close(d);
                sftp.remove("probe-a.bin");
                sftp.remove("probe-b.bin");
            }
        }
    }

    @Test
    void aSessionBeforeAuthenticationHasNoUserAndNoChannels() throws Exception {
        try (SshClient c = client("aes128-ctr", "hmac-sha2-256");
             ClientSession session = c.connect(primary.user.name, "127.0.0.1", primary.server.port())
                     .verify(WAIT).getSession()) {
            ObservedClientSession observed = (ObservedClientSession) session;
            // the key exchange finishes without authentication; wait for it through the client's own state
            long deadline = System.nanoTime() + WAIT.toNanos();
            ProbeDocument.Session s = null;
            while (System.nanoTime() < deadline) {
                s = sessionOf(probe(), session);
                if (s != null && s.kexCount() == 1 && "aes128-ctr".equals(s.c2s().cipher())
                        && "aes128-ctr".equals(s.s2c().cipher()) && observed.view().seqo() == s.seqi()) {
                    break;
                }
                Thread.sleep(20);
            }
            assertNotNull(s);
            assertNull(s.user());
            assertEquals(List.of(), s.channels());
            assertEquals(List.of(), s.sftpHandles());
            assertEquals("aes128-ctr", s.c2s().cipher());
            assertEquals("hmac-sha2-256", s.c2s().mac());
        }
    }
}
