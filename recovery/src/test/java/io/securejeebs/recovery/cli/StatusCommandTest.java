package io.securejeebs.recovery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonClient;
import io.securejeebs.localsocket.LocalJsonServer;
import io.securejeebs.recovery.status.ControlServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code securejeebs status} against real UNIX sockets: a control server, none, one that never answers. */
class StatusCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int status(Path defaultConfig, Duration timeout, String... args) {
        return StatusCommand.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), defaultConfig, timeout);
    }

    private int status(String... args) {
        return status(dir.resolve("no-default.conf"), Duration.ofSeconds(30), args);
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private static Map<String, Object> document() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", "9.9");
        m.put("sessions", List.of());
        return m;
    }

    @Test
    void printsTablesOrTheDaemonsJson() throws Exception {
        Path socket = dir.resolve("state/control.sock");
        try (ControlServer server = ControlServer.start(socket, true, LocalJsonServer.Limits.DEFAULT,
                StatusCommandTest::document)) {
            assertEquals(0, status("--socket", server.path().toString()), err());
            assertTrue(out().startsWith("SecureJeebs appliance 9.9\n"), out());
            assertTrue(out().contains("SESSIONS (0)\nnone tracked\n"), out());
            out.reset();
            assertEquals(0, status("--socket", socket.toString(), "--json"), err());
            assertEquals("{\"version\":\"9.9\",\"sessions\":[]}\n", out());
        }
    }

    @Test
    void findsTheSocketThroughTheConfig() throws Exception {
        Path socket = dir.resolve("run/c.sock");
        Path conf = dir.resolve("appliance.conf");
        Files.writeString(conf, "capture.interface = eth0\nservice.vip = 10.213.0.100/24\nservice.protocol = line-echo\n"
                + "primary.heartbeat = 10.213.0.2:22\ncontrol.socket = " + socket + "\n");
        try (ControlServer server = ControlServer.start(socket, false, LocalJsonServer.Limits.DEFAULT,
                StatusCommandTest::document)) {
            assertEquals(socket, server.path());
            assertEquals(0, status("--config", conf.toString(), "--json"), err());
            assertEquals(0, status(conf, Duration.ofSeconds(30), "--json"), "the default config names it too");
            assertEquals("{\"version\":\"9.9\",\"sessions\":[]}\n{\"version\":\"9.9\",\"sessions\":[]}\n", out());
        }
    }

    @Test
    void noDaemonIsAClearRuntimeError() {
        Path socket = dir.resolve("control.sock");
        assertEquals(1, status("--socket", socket.toString()));
        assertEquals("securejeebs: is the appliance running? expected its control socket at " + socket
                + " (control.socket in its config; --config FILE or --socket PATH to look elsewhere)\n", err());
    }

    @Test
    void aDaemonThatDoesNotAnswerTimesOut() throws Exception {
        Path socket = dir.resolve("stuck.sock");
        try (ServerSocketChannel stuck = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            stuck.bind(UnixDomainSocketAddress.of(socket)); // listens, never accepts, never answers
            assertEquals(1, status(dir.resolve("none.conf"), Duration.ofMillis(200), "--socket", socket.toString()));
            assertEquals("securejeebs: the appliance did not answer within 0.2 s on " + socket + "\n", err());
        }
    }

    @Test
    void aStaleSocketSaysNothingAnswers() throws Exception {
        Path socket = dir.resolve("stale.sock");
        try (ServerSocketChannel gone = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            gone.bind(UnixDomainSocketAddress.of(socket));
        }
        assertEquals(1, status("--socket", socket.toString()));
        assertEquals("securejeebs: is the appliance running? nothing answers on " + socket + " (a stale socket)\n", err());
    }

    @Test
    void anErrorDocumentIsARuntimeErrorWithItsMessage() throws Exception {
        Path socket = dir.resolve("refusing.sock");
        try (LocalJsonServer server = LocalJsonServer.start("t", socket, true, LocalJsonServer.Mode.REQUEST_LINE,
                LocalJsonServer.Limits.DEFAULT, new ObjectMapper(), request -> {
                    throw new LocalJsonServer.RequestException("permission denied: only root may use this socket, not sj");
                })) {
            assertEquals(1, status("--socket", server.path().toString()));
            assertEquals("securejeebs: the appliance refused: permission denied: only root may use this socket, not sj"
                    + " (run as root)\n", err());
        }
    }

    @Test
    void permissionDeniedSaysRunAsRoot() {
        Path socket = Path.of("/var/lib/securejeebs/control.sock");
        LocalJsonClient.ExchangeException e = new LocalJsonClient.ExchangeException(
                LocalJsonClient.Failure.PERMISSION_DENIED, "permission denied", null);
        assertEquals("permission denied on /var/lib/securejeebs/control.sock: run as root",
                StatusCommand.explain(e, socket, Duration.ofSeconds(5)));
    }

    @Test
    void usageErrorsExitTwo() throws Exception {
        assertEquals(2, status("--bogus"));
        assertTrue(err().contains(StatusCommand.USAGE), err());
        assertEquals(2, status("--config", "a.conf", "--socket", "/run/x.sock"));
        assertEquals(2, status("--socket"));
        err.reset();
        assertEquals(2, status("--config", dir.resolve("missing.conf").toString()));
        assertTrue(err().startsWith("securejeebs: bad config: " + dir.resolve("missing.conf") + ": cannot read"), err());
        assertEquals(0, status("--help"));
    }
}
