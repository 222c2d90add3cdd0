package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;
import java.sql.Timestamp;
import java.time.Duration;
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
 *
 * <p>The capture is not in libpcap's immediate mode: on Linux, immediate mode makes libpcap fall back from
 * TPACKET_V3 to TPACKET_V2, whose ring has one fixed-size slot per frame, sized for the largest frame
 * (TSO/GRO super-frames need the 256 KiB snaplen). A 64 MiB ring then held a few hundred frames, ACKs
 * included: tens of milliseconds of bulk SSH, so any pause of the JVM (a GC, a JIT compilation, a busy
 * CPU) dropped frames at 1 Gbit/s (scripts/bench-monitor measured drops within the first second). TPACKET_V3 packs frames into blocks by their real size, so the same ring holds
 * 64 MiB of traffic; the price is that a block is handed over when full or after the
 * {@linkplain CaptureSettings#blockTimeout() block timeout} (and a read waits for a block, without timeout:
 * an idle capture costs no wake-ups). {@link #awaitCaughtUp} waits until the frames captured so far are
 * followed, when the state must be current (a failover).
 */
public final class LiveCapture implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LiveCapture.class);

    private final CaptureSettings settings;
    private final ConnectionTable table;
    private final FrameCounters counters;
    private final PcapHandle handle;
    private final FrameDecoder decoder;
    private final Thread thread;
    private static final long DROP_CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** The kernel's block timer fires on a jiffy, and the capture thread must be scheduled: a margin for both. */
    static final Duration QUIET_SLACK = Duration.ofMillis(20);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private long lastReportedDrops;
    /** Frames read from the ring and followed (written by the capture thread only). */
    private volatile long framesFollowed;
    private volatile long lastFollowedNanos = System.nanoTime();
    private long lastDropCheckNanos = System.nanoTime();

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
                    .timeoutMillis((int) settings.blockTimeout().toMillis())
                    .immediateMode(false)
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
        log.info("capture started on {} (filter '{}', snaplen {}, buffer {} KiB, block timeout {} ms, {}) in {} ms",
                settings.interfaceName(), filter, settings.snaplen(), settings.bufferBytes() / 1024,
                settings.blockTimeout().toMillis(),
                settings.promiscuous() ? "promiscuous" : "not promiscuous",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        return c;
    }

    private void run() {
        try {
            while (running) {
                byte[] frame = handle.getNextRawPacket();
                if (frame != null) {
                    TcpSegment s = decoder.decode(frame, micros(handle.getTimestamp()));
                    if (s != null) {
                        table.onSegment(s);
                    }
                    framesFollowed = framesFollowed + 1;
                    lastFollowedNanos = System.nanoTime();
                }
                long now = System.nanoTime();
                if (now - lastDropCheckNanos > DROP_CHECK_INTERVAL_NANOS) {
                    lastDropCheckNanos = now;
                    checkDrops();
                }
            }
        } catch (NotOpenException e) {
            if (running) { // a process that stopped capturing must not live on: it is restarted instead
                FatalErrorExit.exit("capture on " + settings.interfaceName() + " (the handle closed unexpectedly)", e);
            }
        } catch (RuntimeException | Error e) { // out of memory, a stack overflow, a bug in pcap4j…
            FatalErrorExit.exit("capture on " + settings.interfaceName(), e);
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

    /**
     * Waits until every frame the kernel put in the capture ring before this call has been followed. The
     * block that was filling at the call is handed over within the block timeout (plus the kernel timer's
     * slack); it is certainly followed once either
     * <ul>
     * <li>the frames read from the ring reach what the kernel's counters said at the call (received minus
     *     dropped): exact where libpcap passes on every frame the kernel counts, as on a mirror port or a
     *     bridge (on {@code lo} libpcap drops the outgoing copy of each packet after the kernel counted it);</li>
     *     <li>or the ring has been quiet (no frame followed) for a block timeout and {@link #QUIET_SLACK}, ending
     *     two block timeouts after the call or later.</li>
     * </ul>
     * Frames arriving without pause on {@code lo}, or a stopped capture, make it give up after {@code max}.
     *
     * @return whether the capture caught up within {@code max}
     */
    public boolean awaitCaughtUp(Duration max) throws InterruptedException {
        long t = System.nanoTime();
        long deadline = t + max.toNanos();
        long timeout = settings.blockTimeout().toNanos();
        long slack = QUIET_SLACK.toNanos();
        Stats at = stats();
        long inRing = at == null ? Long.MAX_VALUE : at.received() - at.dropped();
        while (true) {
            long now = System.nanoTime();
            if (framesFollowed >= inRing) {
                return true;
            }
            if (now - (t + 2 * timeout + slack) >= 0 && now - lastFollowedNanos >= timeout + slack) {
                return true;
            }
            if (!isRunning() || now - deadline > 0) {
                return false;
            }
            Thread.sleep(1);
        }
    }

    public boolean isRunning() {
        return running && thread.isAlive();
    }

    @Override
    public void close() {
        running = false;
        try {
            // A read waits for the next block without timeout (libpcap leaves TPACKET_V3's timing to the
            // kernel), holding pcap4j's read lock, and handle.close() would wait behind it. pcap_breakloop
            // wakes it at once (libpcap >= 1.10 polls an eventfd for this); the loop then sees running == false.
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
