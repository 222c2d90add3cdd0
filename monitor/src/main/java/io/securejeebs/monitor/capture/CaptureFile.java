package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;
import java.io.EOFException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.Pcaps;
import org.pcap4j.packet.namednumber.DataLinkType;

/**
 * A capture file (pcap, or pcapng with one link type) read with libpcap through pcap4j, decoded by the
 * same {@link FrameDecoder} as the live capture, segment by segment, in file order. Opening checks
 * everything that can be checked before reading: the file exists, libpcap takes it as a capture, and its
 * link type is one the decoder understands; each failure is a {@link CaptureException} that says which.
 */
public final class CaptureFile {
    private final Path file;
    private final int linkType;
    private final String linkTypeName;

    /** What one pass over the file saw. */
    public record Pass(long frames, String truncation) {
        /** Whether the file ended cleanly; otherwise {@link #truncation()} says how it broke off. */
        public boolean complete() {
            return truncation == null;
        }
    }

    private CaptureFile(Path file, int linkType, String linkTypeName) {
        this.file = file;
        this.linkType = linkType;
        this.linkTypeName = linkTypeName;
    }

    public static CaptureFile open(Path file) throws CaptureException {
        if (!Files.exists(file)) {
            throw new CaptureException(file + ": no such file", null);
        }
        if (!Files.isRegularFile(file)) {
            throw new CaptureException(file + ": not a regular file", null);
        }
        if (!Files.isReadable(file)) {
            throw new CaptureException(file + ": not readable (permission denied)", null);
        }
        PcapHandle h = openHandle(file);
        try {
            DataLinkType dlt = h.getDlt();
            try {
                new FrameDecoder(dlt.value(), new FrameCounters());
            } catch (IllegalArgumentException e) {
                throw new CaptureException(file + ": link type " + dlt.value() + " (" + dlt.name() + ") is not "
                        + "supported: only Ethernet, Linux cooked (SLL) and raw IPv4 captures are", e);
            }
            return new CaptureFile(file, dlt.value(), dlt.name());
        } finally {
            h.close();
        }
    }

    private static PcapHandle openHandle(Path file) throws CaptureException {
        try {
            return Pcaps.openOffline(file.toString());
        } catch (PcapNativeException e) {
            throw new CaptureException(file + ": not a pcap or pcapng capture file (libpcap: " + e.getMessage() + ")", e);
        }
    }

    public Path path() {
        return file;
    }

    public int linkType() {
        return linkType;
    }

    /** e.g. {@code EN10MB (1)}. */
    public String linkTypeDescription() {
        return linkTypeName + " (" + linkType + ")";
    }

    /**
     * Decodes every frame and hands each well-formed IPv4/TCP segment to {@code segments} (a reused
     * instance, valid during the call). Frames that are not TCP are counted in {@code counters}. A file
     * cut short (a capture that was killed mid-write) is read up to the break, which the result reports.
     */
    public Pass forEachSegment(FrameCounters counters, Consumer<TcpSegment> segments) throws CaptureException {
        FrameDecoder decoder = new FrameDecoder(linkType, counters);
        PcapHandle h = openHandle(file);
        long frames = 0;
        try {
            while (true) {
                byte[] frame;
                try {
                    frame = h.getNextRawPacketEx();
                } catch (EOFException e) {
                    return new Pass(frames, null);
                } catch (TimeoutException e) {
                    continue; // not for files; harmless
                } catch (PcapNativeException e) {
                    return new Pass(frames, "the file breaks off after frame " + frames + ": " + e.getMessage());
                }
                frames++;
                TcpSegment s = decoder.decode(frame, micros(h.getTimestamp()));
                if (s != null) {
                    segments.accept(s);
                }
            }
        } catch (NotOpenException e) {
            throw new CaptureException(file + ": closed while reading", e);
        } finally {
            h.close();
        }
    }

    static long micros(Timestamp t) {
        return t == null ? 0 : Math.floorDiv(t.getTime(), 1000) * 1_000_000L + t.getNanos() / 1000;
    }

    @Override
    public String toString() {
        return file + " (" + linkTypeDescription() + ")";
    }
}
