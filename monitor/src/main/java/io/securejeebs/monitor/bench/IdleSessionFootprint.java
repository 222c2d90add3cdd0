package io.securejeebs.monitor.bench;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordCodec;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.TcpSegment;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelShell;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.kex.KexProposalOption;

/**
 * Heap per idle SSH session in the monitor. One real session is recorded in this JVM (a MINA client
 * logs in through a tapping relay to a {@link BenchSshServer} that exports its KEX record to memory,
 * opens a shell with a pty, types two commands, then goes quiet), then replayed into one
 * {@link ConnectionTable} as N connections that differ only in their client address and port: every
 * byte framed as Ethernet/IPv4/TCP segments of at most 1448 bytes, each acknowledged, through the live
 * {@link FrameDecoder}, one {@link SshSessionTracker} per connection, each given its own decoded copy of
 * the record (as from the database). The retained heap (used heap after a full GC, with the table alive,
 * minus the same before the replay) divided by N is the figure: TCP state, reassemblers, SSH tracker,
 * keys and ciphers, the replay prefix and the first KEX record, per session.
 */
public final class IdleSessionFootprint {
    private static final int MSS = 1448;
    private static final int SERVER = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, 1});
    private static final Duration T = Duration.ofSeconds(10);

    private IdleSessionFootprint() {}

    /** What was measured. */
    public record Result(int sessions, int recoverable, String cipher, long recordedClientBytes, long recordedServerBytes,
                         long heapBefore, long heapAfter) {
        public double kibPerSession() {
            return (heapAfter - heapBefore) / 1024.0 / sessions;
        }

        public String line() {
            return String.format("FOOTPRINT sessions=%d recoverable=%d cipher=%s session_c2s_bytes=%d session_s2c_bytes=%d"
                            + " heap_before_mib=%.1f heap_after_mib=%.1f kib_per_session=%.1f",
                    sessions, recoverable, cipher, recordedClientBytes, recordedServerBytes, heapBefore / 1048576.0,
                    heapAfter / 1048576.0, kibPerSession());
        }
    }

    /**
     * @param cipher the client's only cipher (so the session's), or null for MINA's default choice
     */
    public static void run(int sessions, String cipher, PrintStream out) throws Exception {
        out.println(measure(sessions, cipher).line());
    }

    public static Result measure(int sessions, String cipher) throws Exception {
        if (sessions < 1 || sessions > 1_000_000) {
            throw new IllegalArgumentException("sessions must be between 1 and 1000000, got " + sessions);
        }
        BuiltinCiphers only = null;
        if (cipher != null) {
            only = BuiltinCiphers.fromFactoryName(cipher);
            if (only == null || !only.isSupported()) {
                throw new IllegalArgumentException("cipher '" + cipher + "' is not one MINA SSHD supports here");
            }
        }
        Recording rec = record(only);
        byte[] record = KexRecordCodec.encode(rec.record);
        // Each tracker gets its own copy, as each would from the database; on the caller's thread.
        KexRecordSource source = (key, ordinal, delivery) -> {
            try {
                delivery.record(KexRecordCodec.decode(record));
            } catch (MalformedEncodingException e) {
                delivery.failed(e.getMessage());
            }
        };
        FrameCounters counters = new FrameCounters();
        List<SshSessionTracker> trackers = new ArrayList<>(sessions);
        ConnectionTable table = new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)), (key, updates) -> {
            SshSessionTracker t = new SshSessionTracker(key, source, updates, SshSessionTracker.Limits.DEFAULT);
            trackers.add(t);
            return t;
        }, 4L << 20, sessions + 1, counters);
        FrameDecoder decoder = new FrameDecoder(FrameDecoder.DLT_EN10MB, counters);
        // Warm up the code paths (class loading, JIT) on one connection outside the measurement.
        replay(rec, new ConnectionTable(new WatchedServices(List.of(SERVER), List.of(22)),
                (key, updates) -> new SshSessionTracker(key, source, updates, SshSessionTracker.Limits.DEFAULT),
                4L << 20, 2, new FrameCounters()), decoder, Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, (byte) 254}), 9);

        long before = usedHeapAfterGc();
        for (int i = 0; i < sessions; i++) {
            int client = Endpoint.ipv4(new byte[] {10, (byte) 213, (byte) 200, (byte) (2 + i / 40_000)});
            replay(rec, table, decoder, client, 20_000 + i % 40_000);
        }
        long after = usedHeapAfterGc();

        int recoverable = 0;
        for (ConnectionSnapshot s : table.snapshotOpenConnections()) {
            if (s.recoverable() && s.resume() instanceof SshSessionModel m && m.user() != null) {
                recoverable++;
            }
        }
        Reference.reachabilityFence(trackers);
        Reference.reachabilityFence(table);
        return new Result(sessions, recoverable, rec.cipher, rec.clientBytes(), rec.serverBytes(), before, after);
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    // ---------------------------------------------------------------- the recorded session

    /** Both directions' bytes in the order the relay saw them, and the session's KEX record. */
    private record Chunk(boolean fromClient, byte[] data) {}

    private static final class Recording {
        final List<Chunk> chunks = new ArrayList<>();
        KexRecord record;
        String cipher;

        long clientBytes() {
            return chunks.stream().filter(Chunk::fromClient).mapToLong(c -> c.data.length).sum();
        }

        long serverBytes() {
            return chunks.stream().filter(c -> !c.fromClient).mapToLong(c -> c.data.length).sum();
        }
    }

    private static Recording record(BuiltinCiphers cipher) throws Exception {
        Recording rec = new Recording();
        boolean[] recording = {true}; // what follows the idle point is not part of the recording
        List<KexRecord> exported = new ArrayList<>();
        try (BenchSshServer server = BenchSshServer.start("127.0.0.1", 0, "footprint", r -> {
                    synchronized (exported) {
                        exported.add(r);
                    }
                }, "pw", null, System.out);
             TappedRelay relay = new TappedRelay(server.port(), (fromClient, data, length) -> {
                 synchronized (rec) {
                     if (recording[0]) {
                         rec.chunks.add(new Chunk(fromClient, Arrays.copyOf(data, length)));
                     }
                 }
             });
             SshClient client = SshClient.setUpDefaultClient()) {
            if (cipher != null) {
                client.setCipherFactories(List.of(cipher));
            }
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                ChannelShell shell = session.createShellChannel();
                shell.setPtyType("xterm-256color");
                shell.setPtyColumns(80);
                shell.setPtyLines(24);
                PipedOutputStream typing = new PipedOutputStream();
                shell.setIn(new PipedInputStream(typing, 1 << 16));
                ByteArrayOutputStream echoed = new ByteArrayOutputStream();
                shell.setOut(echoed);
                shell.open().verify(T);
                for (String line : List.of("ls -l\n", "echo hello\n")) {
                    type(typing, echoed, line);
                }
                relay.awaitQuiet(300);
                synchronized (rec) {
                    recording[0] = false;
                }
                rec.cipher = session.getNegotiatedKexParameter(KexProposalOption.S2CENC);
            }
        }
        synchronized (exported) {
            if (exported.size() != 1) {
                throw new IllegalStateException("expected one KEX record, got " + exported.size());
            }
            rec.record = exported.get(0);
        }
        return rec;
    }

    private static void type(PipedOutputStream in, ByteArrayOutputStream out, String text) throws Exception {
        int before = out.size();
        in.write(text.getBytes(StandardCharsets.UTF_8));
        in.flush();
        long deadline = System.currentTimeMillis() + T.toMillis();
        while (out.size() < before + text.length()) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the shell did not echo '" + text.strip() + "'");
            }
            Thread.sleep(5);
        }
    }

    // ---------------------------------------------------------------- replay as TCP

    /** Feeds the recording to the table as one connection from {@code clientAddress:clientPort}. */
    private static void replay(Recording rec, ConnectionTable table, FrameDecoder decoder, int clientAddress,
                               int clientPort) {
        Wire w = new Wire(table, decoder, clientAddress, clientPort);
        w.handshake();
        for (Chunk c : rec.chunks) {
            for (int off = 0; off < c.data.length; off += MSS) {
                w.data(c.fromClient, c.data, off, Math.min(MSS, c.data.length - off));
            }
            w.ack(!c.fromClient);
        }
    }

    /** Builds and decodes the frames of one synthetic connection, both sequence spaces kept. */
    private static final class Wire {
        private final ConnectionTable table;
        private final FrameDecoder decoder;
        private final int clientAddress;
        private final int clientPort;
        private int clientSeq = 0x1000_0000;
        private int serverSeq = 0x7000_0000;
        private int ts = 1000;
        private long micros = 1_700_000_000_000_000L;

        Wire(ConnectionTable table, FrameDecoder decoder, int clientAddress, int clientPort) {
            this.table = table;
            this.decoder = decoder;
            this.clientAddress = clientAddress;
            this.clientPort = clientPort;
        }

        void handshake() {
            send(true, clientSeq, 0, TcpSegment.SYN, true, null, 0, 0);
            clientSeq++;
            send(false, serverSeq, clientSeq, TcpSegment.SYN | TcpSegment.ACK, true, null, 0, 0);
            serverSeq++;
            ack(true);
        }

        void data(boolean fromClient, byte[] b, int off, int len) {
            int seq = fromClient ? clientSeq : serverSeq;
            send(fromClient, seq, fromClient ? serverSeq : clientSeq, TcpSegment.ACK | TcpSegment.PSH, false, b, off, len);
            if (fromClient) {
                clientSeq += len;
            } else {
                serverSeq += len;
            }
        }

        void ack(boolean fromClient) {
            send(fromClient, fromClient ? clientSeq : serverSeq, fromClient ? serverSeq : clientSeq, TcpSegment.ACK,
                    false, null, 0, 0);
        }

        private void send(boolean fromClient, int seq, int ack, int flags, boolean syn, byte[] b, int off, int len) {
            int optLen = syn ? 20 : 12; // SYN: MSS, SACK-permitted, timestamps, window scale; else timestamps
            int tcpLen = 20 + optLen;
            byte[] f = new byte[14 + 20 + tcpLen + len];
            f[12] = 0x08; // IPv4
            int ip = 14;
            int total = 20 + tcpLen + len;
            f[ip] = 0x45;
            f[ip + 2] = (byte) (total >> 8);
            f[ip + 3] = (byte) total;
            f[ip + 6] = 0x40; // DF
            f[ip + 8] = 64;
            f[ip + 9] = 6;
            put32(f, ip + 12, fromClient ? clientAddress : SERVER);
            put32(f, ip + 16, fromClient ? SERVER : clientAddress);
            int t = ip + 20;
            int src = fromClient ? clientPort : 22;
            int dst = fromClient ? 22 : clientPort;
            f[t] = (byte) (src >> 8);
            f[t + 1] = (byte) src;
            f[t + 2] = (byte) (dst >> 8);
            f[t + 3] = (byte) dst;
            put32(f, t + 4, seq);
            put32(f, t + 8, ack);
            f[t + 12] = (byte) ((tcpLen / 4) << 4);
            f[t + 13] = (byte) flags;
            f[t + 14] = (byte) 0x01; // window 502 << 7
            f[t + 15] = (byte) 0xf6;
            int o = t + 20;
            if (syn) {
                f[o] = 2; f[o + 1] = 4; f[o + 2] = (byte) (MSS + 12 >> 8); f[o + 3] = (byte) (MSS + 12);
                f[o + 4] = 4; f[o + 5] = 2;
                o += 6;
            } else {
                f[o] = 1; f[o + 1] = 1;
                o += 2;
            }
            f[o] = 8; f[o + 1] = 10;
            put32(f, o + 2, ts++);
            put32(f, o + 6, ts - 2);
            o += 10;
            if (syn) {
                f[o] = 1; f[o + 1] = 3; f[o + 2] = 3; f[o + 3] = 7;
            }
            if (len > 0) {
                System.arraycopy(b, off, f, t + tcpLen, len);
            }
            TcpSegment s = decoder.decode(f, micros += 10);
            if (s == null) {
                throw new IllegalStateException("a synthetic frame did not decode");
            }
            table.onSegment(s);
        }

        private static void put32(byte[] b, int i, int v) {
            b[i] = (byte) (v >>> 24);
            b[i + 1] = (byte) (v >>> 16);
            b[i + 2] = (byte) (v >>> 8);
            b[i + 3] = (byte) v;
        }
    }
}
