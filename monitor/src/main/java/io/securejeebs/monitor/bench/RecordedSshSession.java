package io.securejeebs.monitor.bench;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordCodec;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.FrameDecoder;
import io.securejeebs.monitor.warmup.IsolatedSshClient;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.kex.KexProposalOption;

/**
 * One real SSH session recorded in this JVM, on loopback: a MINA client logs in with a password through a
 * {@link TappedRelay} to a {@link BenchSshServer} that exports its KEX records to memory, and does what
 * its {@link Script} says; every byte both ways is kept in the order the relay forwarded it, up to the
 * quiet point that ends the script. Replayed as TCP frames ({@link SyntheticTcpWire}), it is what the
 * monitor would have captured of that session.
 */
public final class RecordedSshSession {
    /** What the client does once logged in; the recording stops when it returns and the relay is quiet. */
    @FunctionalInterface
    public interface Script {
        void run(ClientSession session) throws Exception;
    }

    /** Bytes of one direction, as one read of the relay. */
    public record Chunk(boolean fromClient, byte[] data) {}

    private static final Duration T = Duration.ofSeconds(10);
    private static final String PASSWORD = "recorded";

    private final List<Chunk> chunks;
    private final List<KexRecord> records;
    private final String cipher;

    private RecordedSshSession(List<Chunk> chunks, List<KexRecord> records, String cipher) {
        this.chunks = chunks;
        this.records = records;
        this.cipher = cipher;
    }

    /**
     * @param cipher the client's only cipher (so the session's), or null for MINA's default choice
     * @param quietMillis how long the relay must have been quiet after the script for the recording to end
     */
    public static RecordedSshSession record(BuiltinCiphers cipher, Script script, long quietMillis) throws Exception {
        List<Chunk> chunks = new ArrayList<>();
        boolean[] recording = {true}; // what follows the quiet point is not part of the recording
        List<KexRecord> exported = new ArrayList<>();
        String negotiated;
        try (BenchSshServer server = BenchSshServer.start("127.0.0.1", 0, "recorded", r -> {
                    synchronized (exported) {
                        exported.add(r);
                    }
                }, PASSWORD, null, new PrintStream(PrintStream.nullOutputStream()));
             TappedRelay relay = new TappedRelay(server.port(), (fromClient, data, length) -> {
                 synchronized (chunks) {
                     if (recording[0]) {
                         chunks.add(new Chunk(fromClient, Arrays.copyOf(data, length)));
                     }
                 }
             });
             SshClient client = IsolatedSshClient.create()) {
            if (cipher != null) {
                client.setCipherFactories(List.of(cipher));
            }
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity(PASSWORD);
                session.auth().verify(T);
                script.run(session);
                relay.awaitQuiet(quietMillis);
                synchronized (chunks) {
                    recording[0] = false;
                }
                negotiated = session.getNegotiatedKexParameter(KexProposalOption.S2CENC);
            }
        }
        synchronized (exported) {
            if (exported.isEmpty()) {
                throw new IllegalStateException("no KEX record was exported");
            }
            synchronized (chunks) {
                return new RecordedSshSession(List.copyOf(chunks), List.copyOf(exported), negotiated);
            }
        }
    }

    public List<Chunk> chunks() {
        return chunks;
    }

    /** The cipher the server sent with. */
    public String cipher() {
        return cipher;
    }

    public long clientBytes() {
        return chunks.stream().filter(Chunk::fromClient).mapToLong(c -> c.data().length).sum();
    }

    public long serverBytes() {
        return chunks.stream().filter(c -> !c.fromClient()).mapToLong(c -> c.data().length).sum();
    }

    /**
     * Hands every tracker its own decoded copy of the record it asks for (the first, or a rekey's), as the database
     * would, on the caller's thread.
     */
    public KexRecordSource recordSource() {
        List<byte[]> encoded = records.stream().map(KexRecordCodec::encode).toList();
        List<Integer> ordinals = records.stream().map(KexRecord::ordinal).toList();
        return (key, ordinal, delivery) -> {
            int i = ordinals.indexOf(ordinal);
            if (i < 0) {
                delivery.failed("no KEX record #" + ordinal + " in the recording");
                return;
            }
            try {
                delivery.record(KexRecordCodec.decode(encoded.get(i)));
            } catch (MalformedEncodingException e) {
                delivery.failed(e.getMessage());
            }
        };
    }

    /**
     * Feeds the recording to {@code table} as one connection from {@code clientAddress:clientPort} to
     * {@code server:22}: each chunk cut into segments of at most {@code segmentSize} bytes, then acknowledged.
     * The receiver also acknowledges whenever half its window (64 KiB, see {@link SyntheticTcpWire}) is in
     * flight: the tracker ignores a segment beyond the window, as the receiver's kernel does.
     */
    public void replay(ConnectionTable table, FrameDecoder decoder, int server, int clientAddress, int clientPort,
                       int segmentSize) {
        SyntheticTcpWire w = new SyntheticTcpWire(table, decoder, server, clientAddress, clientPort);
        w.handshake();
        for (Chunk c : chunks) {
            byte[] data = c.data();
            int inFlight = 0;
            for (int off = 0; off < data.length; off += segmentSize) {
                if (inFlight >= SyntheticTcpWire.WINDOW / 2) {
                    w.ack(!c.fromClient());
                    inFlight = 0;
                }
                int n = Math.min(segmentSize, data.length - off);
                w.data(c.fromClient(), data, off, n);
                inFlight += n;
            }
            w.ack(!c.fromClient());
        }
    }
}
