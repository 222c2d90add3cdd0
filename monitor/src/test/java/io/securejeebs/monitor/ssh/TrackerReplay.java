package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TrackingException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * TEST FIXTURE: feeds two byte streams into a fresh {@link SshSessionTracker} the way {@code TcpConnection}
 * does (one lock for the capture path and for record deliveries; after a {@link TrackingException} the
 * tracker is abandoned and gets nothing more), with records from a list, delivered synchronously on the
 * calling thread or from another thread, or never, or failing.
 */
final class TrackerReplay {
    static final ConnectionKey KEY = new ConnectionKey(new Endpoint(Endpoint.ipv4(new byte[] {10, 0, 0, 1}), 40000),
            new Endpoint(Endpoint.ipv4(new byte[] {10, 0, 0, 2}), 22));

    /** How the record source answers (a record missing from the list never arrives, whatever the mode). */
    enum Delivery {
        /** On the calling thread, inside {@code request()} (the offline mode). */
        SYNC,
        /** Later, from another thread (the live appliance, fetching from the database). */
        ASYNC,
        /**
         * From another thread, but only once both streams were fed: the worst latency, a database that
         * answers after the client has logged in and opened its channels.
         */
        LATE,
        /** Never: the record does not arrive. */
        NEVER,
        /** {@code failed()}: the record could not be opened. */
        FAIL
    }

    /** Daemon threads for ASYNC deliveries, shared by all replays. */
    private static final ExecutorService DELIVERER = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "kex-record-delivery");
        t.setDaemon(true);
        return t;
    });

    /** What came of one replay. */
    record Outcome(SshSessionTracker tracker, TrackingException failure, Throwable bug, SshSessionModel model,
                   String unrecoverableReason, long c2sFed, long s2cFed) {
        boolean clean() {
            return failure == null && bug == null;
        }
    }

    private final Object lock = new Object();
    private final List<KexRecord> records;
    private final Delivery delivery;
    /** Written under the lock (requests come from feeding or from a delivery), read by {@link #finish()}. */
    private final List<Future<?>> deliveries = new CopyOnWriteArrayList<>();
    /** LATE deliveries not yet under way (under the lock). */
    private final List<Runnable> late = new ArrayList<>();
    private boolean finishing;
    final SshSessionTracker tracker;
    private final StreamSink c2sSink;
    private final StreamSink s2cSink;
    private TrackingException failure;
    private Throwable bug;
    private long c2sFed;
    private long s2cFed;

    TrackerReplay(List<KexRecord> records, Delivery delivery, SshSessionTracker.Limits limits) {
        this.records = records;
        this.delivery = delivery;
        this.tracker = new SshSessionTracker(KEY, this::request, (key, app, update) -> {
            synchronized (lock) {
                if (failure != null || bug != null) {
                    return; // abandoned, as TcpConnection does once the connection is unrecoverable
                }
                try {
                    update.apply();
                } catch (TrackingException e) {
                    failure = e;
                } catch (Throwable t) {
                    bug = t;
                }
            }
        }, limits);
        this.c2sSink = tracker.clientStream();
        this.s2cSink = tracker.serverStream();
    }

    private void request(ConnectionKey key, int ordinal, KexRecordSource.Delivery d) {
        KexRecord found = records.stream().filter(r -> r.ordinal() == ordinal).findFirst().orElse(null);
        if (found == null && delivery != Delivery.FAIL) {
            return; // a record missing from the list never arrives
        }
        switch (delivery) {
            case SYNC -> d.record(found);
            case ASYNC -> deliveries.add(DELIVERER.submit(() -> d.record(found)));
            case LATE -> {
                if (finishing) {
                    deliveries.add(DELIVERER.submit(() -> d.record(found)));
                } else {
                    late.add(() -> d.record(found));
                }
            }
            case NEVER -> { }
            case FAIL -> d.failed("the sealed record did not open");
        }
    }

    /** Feeds {@code len} bytes of one direction; false once the tracker is abandoned. */
    boolean feed(boolean fromClient, byte[] data, int off, int len) {
        synchronized (lock) {
            if (failure != null || bug != null) {
                return false;
            }
            try {
                if (fromClient) {
                    c2sSink.onData(c2sFed, data, off, len);
                    c2sFed += len;
                } else {
                    s2cSink.onData(s2cFed, data, off, len);
                    s2cFed += len;
                }
            } catch (TrackingException e) {
                failure = e;
            } catch (Throwable t) {
                bug = t;
            }
            return failure == null && bug == null;
        }
    }

    /** Waits for deliveries under way, then reads the tracker (only if it was not abandoned). */
    Outcome finish() {
        synchronized (lock) {
            finishing = true;
            late.forEach(r -> deliveries.add(DELIVERER.submit(r)));
            late.clear();
        }
        for (int i = 0; i < deliveries.size(); i++) { // a delivery may lead to further requests
            try {
                deliveries.get(i).get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                synchronized (lock) {
                    if (bug == null) {
                        bug = e;
                    }
                }
            }
        }
        synchronized (lock) {
            SshSessionModel model = null;
            String reason = null;
            if (failure == null && bug == null) {
                try {
                    model = tracker.resumeState();
                    reason = tracker.unrecoverableReason();
                } catch (Throwable t) {
                    bug = t;
                }
            }
            return new Outcome(tracker, failure, bug, model, reason, c2sFed, s2cFed);
        }
    }

    /**
     * Replays both streams in interleaved chunks of random size, never feeding a byte before what it
     * answers in {@code causality} (which may be longer or shorter than the streams; past its end, or
     * when it would block, any order goes).
     */
    Outcome replay(byte[] c2s, byte[] s2c, RecordedSession causality, Random rnd) {
        int a = 0;
        int b = 0;
        while (a < c2s.length || b < s2c.length) {
            int limitA = Math.min(c2s.length, causality.c2sLimit(b));
            int limitB = Math.min(s2c.length, causality.s2cLimit(a));
            if (a >= limitA && b >= limitB) { // mutated lengths: the recorded order no longer says
                limitA = c2s.length;
                limitB = s2c.length;
            }
            boolean client = a < limitA && (b >= limitB || rnd.nextBoolean());
            int n = Math.min(chunk(rnd), client ? limitA - a : limitB - b);
            if (!feed(client, client ? c2s : s2c, client ? a : b, n)) {
                break;
            }
            if (client) {
                a += n;
            } else {
                b += n;
            }
        }
        return finish();
    }

    /** Chunk sizes from single bytes to whole segments, now and then an empty one. */
    static int chunk(Random rnd) {
        int k = rnd.nextInt(100);
        if (k < 2) {
            return 0;
        } else if (k < 30) {
            return 1 + rnd.nextInt(16);
        } else if (k < 70) {
            return 17 + rnd.nextInt(500);
        }
        return 517 + rnd.nextInt(16 << 10);
    }

    /** Replays a recording into a fresh tracker with default limits. */
    static Outcome replay(RecordedSession s, Delivery delivery, Random rnd) {
        return new TrackerReplay(s.records(), delivery, SshSessionTracker.Limits.DEFAULT).replay(s.c2s(), s.s2c(), s, rnd);
    }

    /**
     * Every field of a model, byte arrays included (as digests), so that two models compare as text; the
     * partial packet of a direction can be left out.
     */
    static String describe(SshSessionModel m, boolean skipC2sPartial, boolean skipS2cPartial) {
        StringBuilder b = new StringBuilder();
        b.append(m.clientVersion()).append('|').append(m.serverVersion()).append('|').append(m.sessionIdFingerprint())
                .append("|strict=").append(m.strictKex()).append("|kex=").append(m.keyExchanges())
                .append("\nc2s ").append(describe(m.clientToServer(), skipC2sPartial))
                .append("\ns2c ").append(describe(m.serverToClient(), skipS2cPartial))
                .append("\nuser=").append(m.user()).append(' ').append(m.authMethod()).append(" attempts=").append(m.authAttempts())
                .append(" next=").append(m.nextServerChannelId()).append(" global=").append(m.globalRequests().stream().map(TrackerReplay::digest).toList())
                .append("\nprefix complete=").append(m.prefixComplete()).append(" length=").append(m.prefixLength())
                .append(" packets=").append(m.prefixPackets()).append(" end=").append(m.prefixEndPosition())
                .append(" maxChannel=").append(m.prefixMaxChannelId()).append(" bytes=").append(digest(m.prefix()))
                .append(" firstKex=").append(m.firstKex() == null ? null : m.firstKex().ordinal() + ":" + digest(m.firstKex().sessionId()));
        if (!skipS2cPartial) {
            b.append(" s2cPartial=").append(digest(m.serverPartialPacket()));
        }
        for (ChannelModel ch : m.channels()) {
            b.append("\nchannel ").append(ch.serverId()).append('/').append(ch.clientId()).append(' ').append(ch.type())
                    .append(" windows=").append(ch.serverWindow()).append('/').append(ch.serverMaxPacket()).append(' ')
                    .append(ch.clientWindow()).append('/').append(ch.clientMaxPacket())
                    .append(" pty=").append(ch.pty() == null ? null : ch.pty().term() + " " + ch.pty().columns() + "x"
                            + ch.pty().rows() + " " + ch.pty().widthPixels() + "x" + ch.pty().heightPixels() + " " + digest(ch.pty().modes()))
                    .append(" env=").append(ch.env()).append(' ').append(ch.command()).append(' ').append(ch.commandArgument())
                    .append(" inPrefix=").append(ch.openedInPrefix()).append(" eof=").append(ch.eofFromClient()).append(ch.eofFromServer())
                    .append(" close=").append(ch.closeFromClient()).append(ch.closeFromServer())
                    .append(" open=").append(digest(ch.openPayload()))
                    .append(" requests=").append(ch.requestsAfterPrefix().stream().map(TrackerReplay::digest).toList())
                    .append(" lines=").append(ch.commandLines());
            if (ch.sftp() != null) {
                b.append("\n  ").append(describe(ch.sftp()));
            }
        }
        return b.toString();
    }

    /** Every field of an SFTP channel's state, the partial packets included. */
    static String describe(SftpModel s) {
        StringBuilder b = new StringBuilder();
        b.append("sftp ").append(s.clientVersion()).append('/').append(s.version()).append(" stopped=")
                .append(s.stoppedReason()).append(" c2s=").append(digest(s.fromClient().head())).append('+')
                .append(s.fromClient().consumed()).append(" s2c=").append(digest(s.fromServer().head())).append('+')
                .append(s.fromServer().consumed());
        for (SftpHandle h : s.handles()) {
            b.append(" [").append(describe(h)).append(']');
        }
        for (SftpModel.PendingRequest p : s.pendingRequests()) {
            b.append(" {").append(Integer.toUnsignedString(p.requestId())).append(' ')
                    .append(p.opening() == null ? "select " + p.selectsVersion() : describe(p.opening())).append('}');
        }
        return b.toString();
    }

    static String describe(SftpHandle h) {
        return h.handleHex() + " " + h.kind() + " " + h.path() + " flags=" + h.openFlags() + " access="
                + h.desiredAccess() + " attrs=" + digest(h.attrs()) + " offset=" + h.offset();
    }

    private static String describe(DirectionModel d, boolean skipPartial) {
        return d.cipher() + "/" + d.mac() + " epoch=" + d.keyEpoch() + " seq=" + d.sequence() + " blocks=" + d.blocks()
                + " packets=" + d.packets() + (skipPartial ? "" : " partial=" + d.partialPacketBytes())
                + " keys=" + (d.keys() == null ? null : digest(d.keys().key()) + digest(d.keys().iv())
                + (d.keys().macKey() == null ? "" : digest(d.keys().macKey())));
    }

    private static String digest(byte[] b) {
        if (b == null) {
            return "null";
        }
        return b.length + ":" + Integer.toHexString(Arrays.hashCode(b));
    }
}
