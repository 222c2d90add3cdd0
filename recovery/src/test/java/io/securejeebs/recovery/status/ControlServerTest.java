package io.securejeebs.recovery.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonClient;
import io.securejeebs.localsocket.LocalJsonServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control channel over a real UNIX socket in a temp dir. No test depends on how long anything takes: a
 * client that is meant to be slow simply never sends, and the test reads what the server does about it.
 */
class ControlServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();
    private final AtomicInteger asked = new AtomicInteger();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private ControlServer start(Path socket, LocalJsonServer.Limits limits) throws IOException {
        ControlServer s = ControlServer.start(socket, true, limits,
                () -> Map.of("version", "test", "asked", asked.incrementAndGet()));
        open.add(s);
        return s;
    }

    private static String ask(Path socket, String request) throws IOException {
        return LocalJsonClient.exchange(socket, request, WAIT);
    }

    /** A raw client: sends {@code bytes} as they are, then reads until the server closes. */
    private static String raw(Path socket, byte[] bytes) throws IOException {
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            try {
                ch.write(ByteBuffer.wrap(bytes));
            } catch (IOException closedEarly) {
                // the server answered (an oversize request) and closed before taking all of it
            }
            return readAll(ch);
        }
    }

    private static String readAll(SocketChannel ch) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        try {
            while (ch.read(buf) >= 0) {
                out.write(buf.array(), 0, buf.position());
                buf.clear();
            }
        } catch (IOException reset) {
            // the server may close with our surplus bytes unread: what it said before still counts
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void statusIsOneJsonDocumentOnARootOnlySocket() throws Exception {
        Path socket = dir.resolve("state/control.sock");
        start(socket, LocalJsonServer.Limits.DEFAULT);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())));
        JsonNode doc = JSON.readTree(ask(socket, "status"));
        assertEquals("test", doc.path("version").asText());
        assertEquals("{\"error\":\"unknown request 'statuses': the requests are: status\"}\n",
                raw(socket, "statuses\n".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void badRequestsAreAnsweredWithAnErrorDocument() throws Exception {
        Path socket = dir.resolve("control.sock");
        start(socket, LocalJsonServer.Limits.DEFAULT);
        assertEquals("unknown request 'frobnicate': the requests are: status",
                JSON.readTree(ask(socket, "frobnicate")).path("error").asText());
        assertEquals("empty request: send one line, 'status'", JSON.readTree(ask(socket, "")).path("error").asText());
        assertEquals("test", JSON.readTree(raw(socket, "status\r\n".getBytes(StandardCharsets.UTF_8)))
                .path("version").asText(), "CR LF is a newline too");
        String binary = raw(socket, new byte[] {0, (byte) 0xff, 7, '\n'});
        assertTrue(JSON.readTree(binary).path("error").asText().startsWith("unknown request"), binary);
        assertEquals(1, asked.get(), "only the one good request was answered with a status");
    }

    @Test
    void anOversizeRequestIsRefusedWithoutReadingItAll() throws Exception {
        Path socket = dir.resolve("control.sock");
        start(socket, LocalJsonServer.Limits.DEFAULT);
        byte[] huge = new byte[64 << 10];
        java.util.Arrays.fill(huge, (byte) 's');
        String answer = raw(socket, huge);
        assertEquals("request too long: at most 1024 bytes, then a newline",
                JSON.readTree(answer).path("error").asText(), answer);
        byte[] longLine = ("x".repeat(1025) + "\n").getBytes(StandardCharsets.UTF_8);
        assertTrue(raw(socket, longLine).contains("request too long"));
        assertEquals("test", JSON.readTree(ask(socket, "status")).path("version").asText(), "still serving");
    }

    @Test
    void aSlowClientNeitherBlocksOthersNorStaysForever() throws Exception {
        Path socket = dir.resolve("control.sock");
        start(socket, new LocalJsonServer.Limits(1024, Duration.ofMillis(300), 32));
        try (SocketChannel slow = SocketChannel.open(UnixDomainSocketAddress.of(socket));
             SocketChannel silent = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            slow.write(ByteBuffer.wrap("sta".getBytes(StandardCharsets.UTF_8))); // and never the rest
            for (int i = 0; i < 5; i++) {
                assertEquals("test", JSON.readTree(ask(socket, "status")).path("version").asText(),
                        "answered while two clients stall");
            }
            String dropped = readAll(slow);
            assertTrue(dropped.startsWith("{\"error\":\"no complete request within 300 ms\"}"), dropped);
            assertTrue(readAll(silent).contains("no complete request"));
        }
    }

    @Test
    void concurrentClientsAllGetTheirAnswer() throws Exception {
        Path socket = dir.resolve("control.sock");
        start(socket, LocalJsonServer.Limits.DEFAULT);
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Callable<JsonNode>> calls = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                calls.add(() -> JSON.readTree(ask(socket, "status")));
            }
            List<Integer> seen = new ArrayList<>();
            for (Future<JsonNode> f : pool.invokeAll(calls)) {
                JsonNode doc = f.get();
                assertEquals("test", doc.path("version").asText(), doc.toString());
                seen.add(doc.path("asked").asInt());
            }
            assertEquals(200, seen.stream().distinct().count(), "each client got its own answer");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void clientsBeyondTheLimitAreToldToRetry() throws Exception {
        Path socket = dir.resolve("control.sock");
        start(socket, new LocalJsonServer.Limits(1024, Duration.ofMinutes(5), 2));
        try (SocketChannel a = SocketChannel.open(UnixDomainSocketAddress.of(socket));
             SocketChannel b = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            assertTrue(a.isConnected() && b.isConnected());
            String third = ask(socket, "status");
            assertEquals("too many clients at once (at most 2); try again", JSON.readTree(third).path("error").asText());
        }
    }

    @Test
    void aStaleSocketIsReplacedAndALiveOneRefused() throws Exception {
        Path socket = dir.resolve("control.sock");
        // a socket file nobody listens on any more
        try (ServerSocketChannel gone = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            gone.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket));
        start(socket, LocalJsonServer.Limits.DEFAULT);
        assertEquals("test", JSON.readTree(ask(socket, "status")).path("version").asText());
        IOException e = assertThrows(IOException.class, () -> start(socket, LocalJsonServer.Limits.DEFAULT));
        assertTrue(e.getMessage().contains("is in use"), e.getMessage());

        Path notSocket = dir.resolve("file.sock");
        Files.writeString(notSocket, "data");
        e = assertThrows(IOException.class, () -> start(notSocket, LocalJsonServer.Limits.DEFAULT));
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
    }

    @Test
    void anOpenDirectoryIsTightenedOnlyWhenItIsOursAndNeverWhenOthersMayWriteIt() throws Exception {
        Path own = Files.createDirectory(dir.resolve("own"));
        Files.setPosixFilePermissions(own, PosixFilePermissions.fromString("rwxr-xr-x"));
        start(own.resolve("control.sock"), LocalJsonServer.Limits.DEFAULT);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(own)));

        Path shared = Files.createDirectory(dir.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException e = assertThrows(IOException.class, () -> start(shared.resolve("c.sock"), LocalJsonServer.Limits.DEFAULT));
        assertTrue(e.getMessage().contains("only its owner may enter"), e.getMessage());
        assertEquals("rwxrwxrwx", PosixFilePermissions.toString(Files.getPosixFilePermissions(shared)));

        Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
        Files.setPosixFilePermissions(elsewhere, PosixFilePermissions.fromString("rwxr-xr-x"));
        e = assertThrows(IOException.class, () -> ControlServer.start(elsewhere.resolve("c.sock"), false,
                LocalJsonServer.Limits.DEFAULT, () -> "x"));
        assertTrue(e.getMessage().contains("chmod 700"), e.getMessage());
    }

    @Test
    void closingRemovesTheSocket() throws Exception {
        Path socket = dir.resolve("control.sock");
        ControlServer s = ControlServer.start(socket, true, LocalJsonServer.Limits.DEFAULT, () -> "x");
        s.close();
        assertTrue(!Files.exists(socket));
        LocalJsonClient.ExchangeException e = assertThrows(LocalJsonClient.ExchangeException.class,
                () -> ask(socket, "status"));
        assertEquals(LocalJsonClient.Failure.NO_SOCKET, e.failure());
    }
}
