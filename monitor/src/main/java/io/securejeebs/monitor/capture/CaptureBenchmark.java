package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.app.OpaqueStreamTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;
import io.securejeebs.monitor.tcp.TcpConnection;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Runs the live capture and the reassembler for a fixed time on whatever traffic flows, and prints one
 * machine-readable line: what was processed, and what the kernel dropped. scripts/bench-capture drives it
 * next to tcpdump on the same traffic, with an opaque tracker; scripts/bench-monitor with the SSH tracker,
 * which decrypts every packet (then the connections' end states matter: a session the tracker could not
 * follow is unrecoverable, and a {@code NOT_RECOVERABLE} line says why).
 */
public final class CaptureBenchmark {
    private CaptureBenchmark() {}

    public static void run(CaptureSettings settings, WatchedServices watched, Duration duration, PrintStream out)
            throws CaptureException, InterruptedException {
        run(settings, watched, (key, updates) -> new OpaqueStreamTracker(), duration, out);
    }

    /** Prints {@code READY} once capturing, then after {@code duration} the {@code CAPTURE} line. */
    public static void run(CaptureSettings settings, WatchedServices watched, ApplicationTrackerFactory trackers,
                           Duration duration, PrintStream out) throws CaptureException, InterruptedException {
        FrameCounters counters = new FrameCounters();
        ConnectionTable table = new ConnectionTable(watched, trackers, 64L << 20, 10_000, counters);
        LiveCapture capture = LiveCapture.start(settings, table, counters);
        out.println("READY capturing on " + settings.interfaceName());
        out.flush();
        long t0 = System.nanoTime();
        Thread.sleep(duration.toMillis());
        LiveCapture.Stats stats = capture.stats();
        double seconds = (System.nanoTime() - t0) / 1e9;
        long frames = counters.frames.sum();
        long bytes = counters.bytes.sum();
        capture.close();
        Map<TcpConnection.State, Integer> states = table.countByState();
        out.printf("CAPTURE seconds=%.3f frames=%d bytes=%d tcp_segments=%d connections=%d kernel_received=%d "
                        + "kernel_dropped=%d if_dropped=%d pkts_per_s=%.0f mbit_per_s=%.1f established=%d closed=%d "
                        + "unrecoverable=%d%n",
                seconds, frames, bytes, counters.tcpSegments.sum(), table.size(),
                stats == null ? -1 : stats.received(), stats == null ? -1 : stats.dropped(),
                stats == null ? -1 : stats.droppedByInterface(), frames / seconds, bytes * 8 / seconds / 1e6,
                states.getOrDefault(TcpConnection.State.ESTABLISHED, 0), states.getOrDefault(TcpConnection.State.CLOSED, 0),
                states.getOrDefault(TcpConnection.State.UNRECOVERABLE, 0));
        for (ConnectionSnapshot s : table.snapshotOpenConnections()) {
            if (!s.recoverable()) {
                out.println("NOT_RECOVERABLE " + s.key() + " " + s.unrecoverableReason());
            }
        }
    }

    /**
     * The tracking alone, without the kernel's capture: a capture file's frames, loaded into memory
     * first, fed through the decoder, the table and the trackers on this one thread, {@code passes} + 1
     * times with fresh trackers ({@code trackers} is asked once per pass). The first pass warms the JIT and
     * the record path and is not timed; the others are, and the median one is printed as
     * {@code REPLAY seconds=.. frames=.. bytes=.. mbit_per_s=.. passes=.. min_mbit_per_s=.. max_mbit_per_s=..},
     * with the last pass's connection end states, as {@link #run} does.
     */
    public static void replay(CaptureFile file, WatchedServices watched, Supplier<ApplicationTrackerFactory> trackers,
                              int passes, PrintStream out) throws CaptureException {
        if (passes < 1) {
            throw new IllegalArgumentException("passes must be at least 1, not " + passes);
        }
        List<byte[]> frames = new ArrayList<>();
        List<Long> times = new ArrayList<>();
        long bytes = 0;
        CaptureFile.Pass read = file.forEachFrame((frame, micros) -> {
            frames.add(frame);
            times.add(micros);
        });
        for (byte[] f : frames) {
            bytes += f.length;
        }
        ConnectionTable table = null;
        long[] timed = new long[passes];
        for (int pass = 0; pass <= passes; pass++) {
            FrameCounters counters = new FrameCounters();
            table = new ConnectionTable(watched, trackers.get(), 64L << 20, 10_000, counters);
            FrameDecoder decoder = new FrameDecoder(file.linkType(), counters);
            long t0 = System.nanoTime();
            for (int i = 0; i < frames.size(); i++) {
                TcpSegment s = decoder.decode(frames.get(i), times.get(i));
                if (s != null) {
                    table.onSegment(s);
                }
            }
            if (pass > 0) {
                timed[pass - 1] = System.nanoTime() - t0;
            }
        }
        java.util.Arrays.sort(timed);
        double seconds = timed[passes / 2] / 1e9;
        double slowest = timed[passes - 1] / 1e9;
        double fastest = timed[0] / 1e9;
        Map<TcpConnection.State, Integer> states = table.countByState();
        out.printf("REPLAY seconds=%.3f frames=%d bytes=%d connections=%d mbit_per_s=%.1f passes=%d min_mbit_per_s=%.1f"
                        + " max_mbit_per_s=%.1f established=%d closed=%d unrecoverable=%d%s%n", seconds, frames.size(), bytes,
                table.size(), bytes * 8 / seconds / 1e6, passes, bytes * 8 / slowest / 1e6, bytes * 8 / fastest / 1e6,
                states.getOrDefault(TcpConnection.State.ESTABLISHED, 0), states.getOrDefault(TcpConnection.State.CLOSED, 0),
                states.getOrDefault(TcpConnection.State.UNRECOVERABLE, 0),
                read.complete() ? "" : " truncated=yes");
        for (ConnectionSnapshot s : table.snapshotOpenConnections()) {
            if (!s.recoverable()) {
                out.println("NOT_RECOVERABLE " + s.key() + " " + s.unrecoverableReason());
            }
        }
    }
}
