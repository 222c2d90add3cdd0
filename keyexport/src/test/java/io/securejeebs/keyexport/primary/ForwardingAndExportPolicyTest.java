package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Settings that need a server of their own: direct-tcpip switched on, and the export failure policies. */
class ForwardingAndExportPolicyTest {
    @TempDir
    Path dir;

    @Test
    void directTcpipWorksWhenSwitchedOn() throws Exception {
        RecordingSink sink = new RecordingSink();
        try (PrimaryFixture primary = PrimaryFixture.start(dir, "forwarding.direct-tcpip = yes\n", sink);
                ServerSocket echo = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
            Thread echoer = new Thread(() -> {
                while (!echo.isClosed()) {
                    try (Socket s = echo.accept()) {
                        s.getInputStream().transferTo(s.getOutputStream());
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
            echoer.setDaemon(true);
            echoer.start();
            PrimaryServerTest.Forward forward = PrimaryServerTest.Forward.open(primary, echo.getLocalPort());
            try (Socket s = forward.connect()) {
                s.setSoTimeout(10_000);
                OutputStream out = s.getOutputStream();
                out.write("through the tunnel\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                byte[] back = in.readNBytes("through the tunnel\n".length());
                assertEquals("through the tunnel\n", new String(back, StandardCharsets.US_ASCII));
            } finally {
                forward.close();
            }
        }
    }

    @Test
    void aFailingSinkLeavesTheLoginWorkingAndCountsTheSessionUnprotected() throws Exception {
        RecordingSink sink = new RecordingSink();
        sink.failWith("storage is down (test)");
        try (PrimaryFixture primary = PrimaryFixture.start(dir, "", sink); LogCapture log = new LogCapture()) {
            Proc.Result r = primary.runSsh(List.of(), "id -un");
            assertEquals(0, r.exit(), r.toString());
            assertEquals(primary.user.name + "\n", r.out());
            assertEquals(1, primary.server.unprotectedSessions());
            assertEquals(1, primary.server.exportStatistics().failedExports());
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("UNPROTECTED") && l.contains("storage is down (test)")),
                    String.join("\n", log.lines()));
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("the UNPROTECTED session is user " + primary.user.name)),
                    String.join("\n", log.lines()));

            sink.failWith(null);
            r = primary.runSsh(List.of(), "true");
            assertEquals(0, r.exit(), r.toString());
            assertEquals(1, primary.server.unprotectedSessions(), "a protected session is not counted");
            assertEquals(1, sink.records().size());
        }
    }

    @Test
    void aSlowSinkCountsAsFailedAfterTheTimeout() throws Exception {
        RecordingSink sink = new RecordingSink();
        sink.delay(3000);
        try (PrimaryFixture primary = PrimaryFixture.start(dir, "export.timeout = 200ms\n", sink);
                LogCapture log = new LogCapture()) {
            long start = System.nanoTime();
            Proc.Result r = primary.runSsh(List.of(), "id -un");
            assertEquals(0, r.exit(), r.toString());
            assertTrue(System.nanoTime() - start < 2_500_000_000L, "the login waited for the slow sink");
            assertEquals(1, primary.server.unprotectedSessions());
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("did not answer within 200 ms")),
                    String.join("\n", log.lines()));
        }
    }

    @Test
    void failClosedRefusesTheSessionWhenTheSinkFails() throws Exception {
        RecordingSink sink = new RecordingSink();
        sink.failWith("storage is down (test)");
        try (PrimaryFixture primary = PrimaryFixture.start(dir, "export.fail-closed = yes\n", sink)) {
            Proc.Result r = primary.runSsh(List.of("-o", "LogLevel=INFO"), "id -un");
            assertEquals(255, r.exit(), r.toString());
            assertEquals("", r.out(), "nothing ran");
            assertTrue(r.err().contains("key exchange could not be exported"), r.err());
            assertEquals(0, primary.server.unprotectedSessions());
            assertEquals(1, primary.server.exportStatistics().refusedSessions());
        }
    }
}
