package io.securejeebs.e2e;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.ExchangeHash;
import io.securejeebs.keyexport.kex.NegotiatedAlgorithms;
import io.securejeebs.keyexport.kex.SessionKeys;
import io.securejeebs.keyexport.keys.KeyFiles;
import io.securejeebs.keyexport.seal.ExpectedBinding;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.store.DatabaseSettings;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.StoredKexRecord;
import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.TcpSegment;
import io.securejeebs.monitor.tcp.WatchedServices;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.Pcaps;

/**
 * The appliance's view of the primary's key export, run inside sj-appliance by {@code KeyExportIT}:
 * for every SSH connection in a capture of the lab wire, it fetches the sealed KEX records from MariaDB
 * as sj_appliance, opens and verifies them, recomputes H from each record's transcript and checks the
 * host signature over it, checks the record against the client's bytes on the wire (version line,
 * KEXINIT, KEX messages), derives the session keys, and decrypts the first encrypted client packet.
 * One line per connection: {@code PROOF ...} or {@code PROOF_FAIL ... reason=...}.
 */
public final class KexProofMain {
    /** Keeps a whole client-to-server stream: for this check only (the monitor never does). */
    private static final class ClientStreamRecorder implements ApplicationTracker {
        final ByteArrayOutputStream clientBytes = new ByteArrayOutputStream();

        @Override
        public String protocol() {
            return "ssh-capture";
        }

        @Override
        public StreamSink clientStream() {
            return (offset, data, off, len) -> clientBytes.write(data, off, len);
        }

        @Override
        public StreamSink serverStream() {
            return StreamSink.NONE;
        }

        @Override
        public long clientConsumedOffset() {
            return Long.MAX_VALUE; // retain nothing in the table: the recorder has it all
        }

        @Override
        public Object resumeState() {
            return null;
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i], args[i + 1]);
        }
        Map<String, String> db = readEnv(Path.of(a.get("--db-env")));
        String primaryId = a.get("--primary-id");
        InetAddress vip = InetAddress.getByName(a.get("--vip"));
        int port = Integer.parseInt(a.get("--port"));
        RecordOpener opener = new RecordOpener(KeyFiles.readAppliancePrivateKey(Path.of(a.get("--appliance-key"))),
                KeyFiles.readExportPublicKey(Path.of(a.get("--export-pub"))));

        Map<ConnectionKey, ClientStreamRecorder> streams = new LinkedHashMap<>();
        FrameCounters counters = new FrameCounters();
        ConnectionTable table = new ConnectionTable(
                new WatchedServices(List.of(Endpoint.ipv4(vip.getAddress())), List.of(port)),
                (key, updates) -> streams.computeIfAbsent(key, k -> new ClientStreamRecorder()), 64L << 20, 10_000, counters);
        try (PcapHandle h = Pcaps.openOffline(a.get("--pcap"))) {
            FrameDecoder decoder = new FrameDecoder(h.getDlt().value(), counters);
            byte[] frame;
            while ((frame = h.getNextRawPacket()) != null) {
                Timestamp t = h.getTimestamp();
                TcpSegment s = decoder.decode(frame, t.getTime() * 1000);
                if (s != null) {
                    table.onSegment(s);
                }
            }
        }
        System.out.println("CAPTURE connections=" + streams.size() + " " + counters);

        DatabaseSettings settings = DatabaseSettings.of(db.get("SJ_DB_JDBC_URL"), db.get("SJ_DB_APPLIANCE_USER"),
                db.get("SJ_DB_APPLIANCE_PASSWORD"), Duration.ofSeconds(5));
        try (KexRecordRepository repository = new KexRecordRepository(settings)) {
            for (Map.Entry<ConnectionKey, ClientStreamRecorder> e : streams.entrySet()) {
                ConnectionKey key = e.getKey();
                try {
                    System.out.println("PROOF client=" + key.client() + " "
                            + prove(key, e.getValue().clientBytes.toByteArray(), repository, opener, primaryId));
                } catch (Exception x) {
                    System.out.println("PROOF_FAIL client=" + key.client() + " reason=" + String.valueOf(x.getMessage()).replace(' ', '_'));
                }
            }
        }
    }

    private static String prove(ConnectionKey key, byte[] wire, KexRecordRepository repository, RecordOpener opener,
                                String primaryId) throws Exception {
        List<StoredKexRecord> stored = repository.findByConnection(key.client().toSocketAddress(), key.server().toSocketAddress());
        if (stored.isEmpty()) {
            throw new IllegalStateException("no KEX record stored for this connection");
        }
        List<KexRecord> records = new ArrayList<>();
        byte[] sessionId = null;
        StringBuilder ordinals = new StringBuilder();
        for (StoredKexRecord s : stored) {
            ExpectedBinding expected = ExpectedBinding.of(primaryId, key.client().toSocketAddress(),
                    key.server().toSocketAddress(), s.ordinal());
            KexRecord r = opener.open(s.sealed(), sessionId == null ? expected : expected.inSession(sessionId));
            if (r.ordinal() != records.size()) {
                throw new IllegalStateException("ordinals are not 0,1,2...: got " + r.ordinal() + " at position " + records.size());
            }
            byte[] h = ExchangeHash.recompute(r);
            if (!Arrays.equals(h, r.exchangeHash())) {
                throw new IllegalStateException("record " + r.ordinal() + ": recomputed H differs from the recorded H");
            }
            ExchangeHash.verifyHostSignature(r, h);
            if (sessionId == null) {
                sessionId = r.sessionId();
                if (!Arrays.equals(sessionId, h)) {
                    throw new IllegalStateException("first record's session id is not its H");
                }
            } else if (!Arrays.equals(sessionId, r.sessionId())) {
                throw new IllegalStateException("record " + r.ordinal() + " has another session id");
            }
            records.add(r);
            ordinals.append(ordinals.length() == 0 ? "" : ",").append(r.ordinal());
        }
        KexRecord first = records.get(0);

        // The record must say what the client really sent: version line, KEXINIT, KEX messages.
        int eol = indexOf(wire, (byte) '\n');
        String versionLine = new String(wire, 0, eol, StandardCharsets.US_ASCII).replace("\r", "");
        if (!versionLine.equals(first.clientVersion())) {
            throw new IllegalStateException("V_C on the wire differs from the record");
        }
        int pos = eol + 1;
        List<byte[]> plaintext = new ArrayList<>();
        while (true) {
            int len = ((wire[pos] & 0xff) << 24) | ((wire[pos + 1] & 0xff) << 16) | ((wire[pos + 2] & 0xff) << 8) | (wire[pos + 3] & 0xff);
            int pad = wire[pos + 4] & 0xff;
            byte[] payload = Arrays.copyOfRange(wire, pos + 5, pos + 4 + len - pad);
            plaintext.add(payload);
            pos += 4 + len;
            if (payload[0] == 21) { // NEWKEYS
                break;
            }
        }
        if (!Arrays.equals(plaintext.get(0), first.clientKexInit())) {
            throw new IllegalStateException("I_C on the wire differs from the record");
        }
        List<byte[]> kexOnWire = plaintext.subList(1, plaintext.size() - 1);
        if (kexOnWire.size() != first.clientKexMessages().size()) {
            throw new IllegalStateException("the wire has " + kexOnWire.size() + " client KEX messages, the record "
                    + first.clientKexMessages().size());
        }
        for (int i = 0; i < kexOnWire.size(); i++) {
            if (!Arrays.equals(kexOnWire.get(i), first.clientKexMessages().get(i))) {
                throw new IllegalStateException("client KEX message " + i + " on the wire differs from the record");
            }
        }

        NegotiatedAlgorithms algorithms = NegotiatedAlgorithms.of(first.clientKexInit(), first.serverKexInit());
        if (!algorithms.kex().equals(first.kexName())) {
            throw new IllegalStateException("negotiated kex " + algorithms.kex() + " but the record says " + first.kexName());
        }
        SessionKeys keys = SessionKeys.derive(first, algorithms);
        long seq = first.strictKex() ? 0 : plaintext.size();
        SshPacketDecoder decoder = new SshPacketDecoder(keys.clientToServer(), seq);
        String[] firstPacket = new String[1];
        decoder.feed(wire, pos, Math.min(wire.length - pos, 4096), (s, p, o, l, w) -> {
            if (firstPacket[0] == null) {
                int msg = p[o] & 0xff;
                int strLen = ((p[o + 1] & 0xff) << 24) | ((p[o + 2] & 0xff) << 16) | ((p[o + 3] & 0xff) << 8) | (p[o + 4] & 0xff);
                firstPacket[0] = msg + ":" + new String(p, o + 5, Math.min(strLen, l - 5), StandardCharsets.US_ASCII);
            }
            return true;
        });
        if (firstPacket[0] == null) {
            throw new IllegalStateException("no whole encrypted client packet after NEWKEYS");
        }
        return "kex=" + first.kexName() + " cipher=" + algorithms.cipherC2S() + " mac=" + algorithms.macC2S()
                + " strict=" + first.strictKex() + " records=" + records.size() + " ordinals=" + ordinals
                + " h=ok hostsig=ok transcript=ok first_packet=" + firstPacket[0];
    }

    private static int indexOf(byte[] b, byte v) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == v) {
                return i;
            }
        }
        throw new IllegalStateException("no version line in the client stream");
    }

    private static Map<String, String> readEnv(Path f) throws Exception {
        Map<String, String> m = new HashMap<>();
        for (String line : Files.readAllLines(f)) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.startsWith("#")) {
                m.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim().replaceAll("^['\"]|['\"]$", ""));
            }
        }
        return m;
    }
}
