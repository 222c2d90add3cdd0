package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.app.OpaqueStreamTracker;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.PrintStream;
import java.time.Duration;

/**
 * Runs the live capture and the reassembler for a fixed time on whatever traffic flows, and prints one
 * machine-readable line: what was processed, and what the kernel dropped. scripts/bench-capture drives it
 * next to tcpdump on the same traffic.
 */
public final class CaptureBenchmark {
    private CaptureBenchmark() {}

    public static void run(CaptureSettings settings, WatchedServices watched, Duration duration, PrintStream out)
            throws CaptureException, InterruptedException {
        FrameCounters counters = new FrameCounters();
        ConnectionTable table = new ConnectionTable(watched, (key, updates) -> new OpaqueStreamTracker(), 64L << 20, 10_000, counters);
        LiveCapture capture = LiveCapture.start(settings, table, counters);
        long t0 = System.nanoTime();
        Thread.sleep(duration.toMillis());
        LiveCapture.Stats stats = capture.stats();
        double seconds = (System.nanoTime() - t0) / 1e9;
        long frames = counters.frames.sum();
        long bytes = counters.bytes.sum();
        capture.close();
        out.printf("CAPTURE seconds=%.3f frames=%d bytes=%d tcp_segments=%d connections=%d kernel_received=%d "
                        + "kernel_dropped=%d if_dropped=%d pkts_per_s=%.0f mbit_per_s=%.1f%n",
                seconds, frames, bytes, counters.tcpSegments.sum(), table.size(),
                stats == null ? -1 : stats.received(), stats == null ? -1 : stats.dropped(),
                stats == null ? -1 : stats.droppedByInterface(), frames / seconds, bytes * 8 / seconds / 1e6);
    }
}
