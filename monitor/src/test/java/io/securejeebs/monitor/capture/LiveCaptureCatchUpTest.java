package io.securejeebs.monitor.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.monitor.app.OpaqueStreamTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The live capture hands frames over a ring block at a time (TPACKET_V3): with a block timeout of 400 ms,
 * bytes just sent sit in a half-filled block for up to that long (run by hand, the frames followed at the
 * call were those of the previous round), and only {@link LiveCapture#awaitCaughtUp} makes sure they have
 * been followed. On {@code lo} it is the quiet-ring rule that applies (libpcap drops the outgoing copy of
 * each packet after the kernel counted it). Real capture on loopback: needs root (CI runs as root).
 */
class LiveCaptureCatchUpTest {
    private static final Duration BLOCK_TIMEOUT = Duration.ofMillis(400);

    @Test
    void awaitCaughtUpReturnsOnlyOnceEveryCapturedByteWasFollowed() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = listener.getLocalPort();
            FrameCounters counters = new FrameCounters();
            ConnectionTable table = new ConnectionTable(new WatchedServices(
                    List.of(Endpoint.ipv4(InetAddress.getLoopbackAddress().getAddress())), List.of(port)),
                    (key, updates) -> new OpaqueStreamTracker(), 4L << 20, 10, counters);
            CaptureSettings settings = new CaptureSettings("lo", 262_144, 8 << 20, false, BLOCK_TIMEOUT);
            try (LiveCapture capture = LiveCapture.start(settings, table, counters);
                 Socket client = new Socket(InetAddress.getLoopbackAddress(), port);
                 Socket server = listener.accept()) {
                OutputStream out = client.getOutputStream();
                InputStream in = server.getInputStream();
                byte[] data = new byte[5000];
                for (int round = 1; round <= 3; round++) {
                    out.write(data);
                    out.flush();
                    in.readNBytes(data.length);
                    long sent = (long) round * data.length;
                    assertTrue(capture.awaitCaughtUp(Duration.ofSeconds(5)), "caught up");
                    ConnectionSnapshot s = table.snapshotOpenConnections().get(0);
                    assertEquals(sent, s.clientBytes(), "round " + round + ": every byte sent was followed");
                }
                assertEquals(0, capture.stats().dropped(), "no frame dropped");
            }
        }
    }

    @Test
    void blockTimeoutOutsideItsRangeIsRefused() {
        for (Duration bad : new Duration[] {Duration.ZERO, Duration.ofSeconds(2), null}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> new CaptureSettings("lo", 262_144, 8 << 20, false, bad));
            assertTrue(e.getMessage().contains("block timeout"), e.getMessage());
        }
    }
}
