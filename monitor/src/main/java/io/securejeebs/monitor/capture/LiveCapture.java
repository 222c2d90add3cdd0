package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;
import java.sql.Timestamp;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.pcap4j.core.BpfProgram;
import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.PcapNetworkInterface.PromiscuousMode;
import org.pcap4j.core.PcapStat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live pcap4j capture on one interface, feeding every TCP segment of the watched services into the
 * {@link ConnectionTable} on one dedicated thread. Frames are decoded by hand ({@link FrameDecoder}).
 */
public final class LiveCapture implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LiveCapture.class);

    private final CaptureSettings settings;
    private final ConnectionTable table;
    private final FrameCounters counters;
    private final PcapHandle handle;
    private final FrameDecoder decoder;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private long lastReportedDrops;

    /** A snapshot of the kernel's capture counters. */
    public record Stats(long received, long dropped, long droppedByInterface) {}

    private LiveCapture(CaptureSettings settings, ConnectionTable table, FrameCounters counters, PcapHandle handle) {
        this.settings = settings;
        this.table = table;
        this.counters = counters;
        this.handle = handle;
        this.decoder = new FrameDecoder(handle.getDlt().value(), counters);
        this.thread = new Thread(this::run, "sj-capture-" + settings.interfaceName());
        this.thread.setDaemon(true);
    }

    /** Opens the interface, installs the BPF filter built from the watched services, and starts capturing. */
    public static LiveCapture start(CaptureSettings settings, ConnectionTable table, FrameCounters counters)
            throws CaptureException {
        long t0 = System.nanoTime();
        String filter = table.watched().bpfFilter();
        PcapHandle handle;
        try {
            handle = new PcapHandle.Builder(settings.interfaceName())
                    .snaplen(settings.snaplen())
                    .promiscuousMode(settings.promiscuous() ? PromiscuousMode.PROMISCUOUS : PromiscuousMode.NONPROMISCUOUS)
                    .bufferSize(settings.bufferBytes())
                    .timeoutMillis(50)
                    .immediateMode(true)
                    .build();
        } catch (PcapNativeException | RuntimeException e) {
            throw new CaptureException("cannot open capture on interface '" + settings.interfaceName() + "': "
                    + e.getMessage(), e);
        }
        try {
            handle.setFilter(filter, BpfProgram.BpfCompileMode.OPTIMIZE);
        } catch (PcapNativeException | NotOpenException e) {
            handle.close();
            throw new CaptureException("cannot install capture filter '" + filter + "': " + e.getMessage(), e);
        }
        LiveCapture c;
        try {
            c = new LiveCapture(settings, table, counters, handle);
        } catch (IllegalArgumentException e) {
            handle.close();
            throw new CaptureException(settings.interfaceName() + ": " + e.getMessage(), e);
        }
        c.thread.start();
        log.info("capture started on {} (filter '{}', snaplen {}, buffer {} KiB, {}) in {} ms",
                settings.interfaceName(), filter, settings.snaplen(), settings.bufferBytes() / 1024,
                settings.promiscuous() ? "promiscuous" : "not promiscuous",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        return c;
    }

    private void run() {
        try {
            while (running) {
                byte[] frame = handle.getNextRawPacket();
                if (frame == null) {
                    checkDrops();
                    continue;
                }
                TcpSegment s = decoder.decode(frame, micros(handle.getTimestamp()));
                if (s != null) {
                    table.onSegment(s);
                }
            }
        } catch (NotOpenException e) {
            if (running) {
                log.error("capture on {} closed unexpectedly", settings.interfaceName(), e);
            }
        } catch (RuntimeException e) {
            log.error("capture on {} stopped by an unexpected error", settings.interfaceName(), e);
        } finally {
            stopped.countDown();
        }
    }

    private void checkDrops() {
        Stats s = stats();
        if (s != null && s.dropped() > lastReportedDrops) {
            log.warn("capture on {}: the kernel dropped {} frame(s) so far; sessions that lost bytes "
                    + "become unrecoverable when the loss is seen", settings.interfaceName(), s.dropped());
            lastReportedDrops = s.dropped();
        }
    }

    private static long micros(Timestamp t) {
        return t == null ? System.currentTimeMillis() * 1000 : (t.getTime() / 1000) * 1_000_000L + t.getNanos() / 1000;
    }

    public Stats stats() {
        try {
            PcapStat s = handle.getStats();
            return new Stats(s.getNumPacketsReceived(), s.getNumPacketsDropped(), s.getNumPacketsDroppedByIf());
        } catch (PcapNativeException | NotOpenException e) {
            return null;
        }
    }

    public boolean isRunning() {
        return running && thread.isAlive();
    }

    @Override
    public void close() {
        running = false;
        try {
            // In immediate mode libpcap's read timeout does not apply: with no traffic, pcap_next waits for
            // ever, holding pcap4j's read lock, and handle.close() would wait behind it. pcap_breakloop
            // wakes it (libpcap >= 1.10 polls an eventfd for this); the loop then sees running == false.
            handle.breakLoop();
        } catch (NotOpenException e) {
            // already closed
        }
        try {
            if (!stopped.await(2, TimeUnit.SECONDS)) {
                log.warn("capture thread did not stop within 2 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        handle.close();
        log.info("capture on {} stopped: {}", settings.interfaceName(), counters);
    }
}
