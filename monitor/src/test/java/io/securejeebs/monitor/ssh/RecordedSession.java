package io.securejeebs.monitor.ssh;

import io.securejeebs.monitor.bench.TappedRelay;

import io.securejeebs.keyexport.KexRecord;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import io.securejeebs.monitor.bench.TypedChannel;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.apache.sshd.sftp.client.SftpVersionSelector;

/**
 * TEST FIXTURE: one real SSH session (MINA client and server in this JVM, see {@link RecordedSshServer}),
 * kept in memory as the tracker would get it: both reassembled byte streams and the exported KEX records.
 * Every recording ends at an idle point: user "alice" logged in, one shell channel open with a pty, a
 * little typing echoed back, nothing in flight; with {@link Script#sftp()} also an SFTP channel with files
 * and a directory open.
 *
 * @param c2s the whole client-to-server stream, as captured
 * @param s2c the whole server-to-client stream
 * @param records the session's KEX records, by ordinal
 * @param tapOrder the chunks as the relay saw them, in order: +n for n client bytes, -n for n server
 *                 bytes. Replays that keep this order's causality (a reply is never fed before what it
 *                 answers) are what a capture can produce; see {@link #c2sLimit} and {@link #s2cLimit}.
 */
record RecordedSession(byte[] c2s, byte[] s2c, List<KexRecord> records, int[] tapOrder) {
    private static final Duration T = Duration.ofSeconds(10);
    private static final Map<Script, RecordedSession> SHARED = new ConcurrentHashMap<>();

    /**
     * What to record: the client's only cipher (and MAC), whether to rekey and run an exec channel, and
     * whether to run an SFTP channel ({@link #sftpScript}).
     */
    record Script(String cipher, String mac, boolean rekeyAndExec, boolean sftp) {
        Script(String cipher, String mac, boolean rekeyAndExec) {
            this(cipher, mac, rekeyAndExec, false);
        }

        @Override
        public String toString() {
            return cipher + (mac == null ? "" : "+" + mac) + (rekeyAndExec ? " rekey+exec" : "") + (sftp ? " sftp" : "");
        }
    }

    /** The contents of the files the SFTP script reads ("/source.bin") and writes ("/target.bin"). */
    static byte[][] sftpFileData() {
        Random rnd = new Random(0x5f7bL);
        byte[] source = new byte[60_000];
        byte[] target = new byte[50_000];
        rnd.nextBytes(source);
        rnd.nextBytes(target);
        return new byte[][] {source, target};
    }

    /**
     * SFTP version 3 on the recorded session: reads part of "/source.bin", writes "/target.bin" in pieces
     * that span SSH packets, lists "/photos", opens and closes a scratch file; source, target and photos stay
     * open, and the client is returned open (closing it would close them).
     */
    private static SftpClient sftpScript(ClientSession session, RecordedSshServer server) throws Exception {
        byte[][] data = sftpFileData();
        Files.write(server.sftpRoot.resolve("source.bin"), data[0]);
        Files.createDirectories(server.sftpRoot.resolve("photos"));
        SftpClient sftp = SftpClientFactory.instance().createSftpClient(session, SftpVersionSelector.fixedVersionSelector(3));
        SftpClient.Handle source = sftp.open("/source.bin", SftpClient.OpenMode.Read);
        byte[] buf = new byte[40_000];
        sftp.read(source, 0, buf, 0, 4096);
        sftp.read(source, 10_000, buf, 0, 40_000);
        SftpClient.Handle target = sftp.open("/target.bin", SftpClient.OpenMode.Write, SftpClient.OpenMode.Create);
        sftp.write(target, 0, data[1], 0, 30_000);
        sftp.write(target, 30_000, data[1], 30_000, 20_000);
        SftpClient.Handle photos = sftp.openDir("/photos");
        sftp.readDir(photos);
        SftpClient.Handle scratch = sftp.open("/scratch", SftpClient.OpenMode.Write, SftpClient.OpenMode.Create);
        sftp.close(scratch);
        return sftp;
    }

    RecordedSession {
        records = List.copyOf(records);
    }

    /** The recording of {@code script}, made once per JVM and shared by the test classes that replay it. */
    static RecordedSession shared(Script script) throws Exception {
        RecordedSession s = SHARED.get(script);
        if (s == null) {
            Path dir = Files.createTempDirectory("recorded-ssh");
            try {
                s = record(dir, script);
            } finally {
                try (var files = Files.walk(dir)) { // the host key, and the SFTP root with what the script wrote
                    for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(f);
                    }
                }
            }
            SHARED.putIfAbsent(script, s);
        }
        return s;
    }

    /**
     * Records one session following {@code script}; {@code dir} holds the server's host key. A null cipher
     * leaves the client's defaults.
     */
    static RecordedSession record(Path dir, Script script) throws Exception {
        Tap tap = new Tap();
        try (RecordedSshServer server = new RecordedSshServer(dir);
             TappedRelay relay = new TappedRelay(server.port(), tap);
             SshClient client = SshClient.setUpDefaultClient()) {
            if (script.cipher() != null) {
                client.setCipherFactories(List.of(BuiltinCiphers.fromFactoryName(script.cipher())));
            }
            if (script.mac() != null) {
                client.setMacFactories(List.of(BuiltinMacs.fromFactoryName(script.mac())));
            }
            client.start();
            try (ClientSession session = client.connect("alice", "127.0.0.1", relay.port()).verify(T).getSession()) {
                session.addPasswordIdentity("pw");
                session.auth().verify(T);
                TypedChannel shell = TypedChannel.shell(session, "xterm-256color", 100, 30, Map.of("LANG", "C.UTF-8"),
                        1 << 16);
                shell.type("echo hello\n");
                if (script.rekeyAndExec()) {
                    session.reExchangeKeys().verify(T);
                    shell.type("ls -l\n");
                    TypedChannel exec = TypedChannel.exec(session, "cat");
                    exec.type("exec data\n");
                    exec.endInputAndAwaitClose();
                    shell.type("pwd\n");
                }
                SftpClient sftp = script.sftp() ? sftpScript(session, server) : null;
                relay.awaitQuiet(200);
                RecordedSession recorded = tap.stop(server);
                if (sftp != null) {
                    sftp.close();
                }
                int expectedRecords = script.rekeyAndExec() ? 2 : 1;
                if (recorded.records().size() != expectedRecords) {
                    throw new IllegalStateException(recorded.records().size() + " KEX records, expected " + expectedRecords);
                }
                return recorded;
            }
        }
    }


    /** The largest c2s offset that may be fed once {@code s2cFed} server bytes were: nothing it answers is missing. */
    int c2sLimit(int s2cFed) {
        return limit(s2cFed, true);
    }

    /** Likewise for the server's stream, given the client bytes fed. */
    int s2cLimit(int c2sFed) {
        return limit(c2sFed, false);
    }

    private int limit(int otherFed, boolean forClient) {
        int mine = 0;
        int other = 0;
        for (int turn : tapOrder) {
            boolean client = turn > 0;
            int n = Math.abs(turn);
            if (client == forClient) {
                mine += n;
            } else {
                if (other + n > otherFed) {
                    break; // this chunk of the other side is not all fed: what follows may answer it
                }
                other += n;
            }
        }
        return mine;
    }

    /** Collects both directions, in order, until stopped. */
    private static final class Tap implements TappedRelay.Tap {
        private final ByteArrayOutputStream c2s = new ByteArrayOutputStream();
        private final ByteArrayOutputStream s2c = new ByteArrayOutputStream();
        private final List<Integer> order = new ArrayList<>();
        private boolean stopped;

        @Override
        public synchronized void onBytes(boolean fromClient, byte[] data, int length) {
            if (stopped || length == 0) {
                return;
            }
            (fromClient ? c2s : s2c).write(data, 0, length);
            order.add(fromClient ? length : -length);
        }

        synchronized RecordedSession stop(RecordedSshServer server) {
            stopped = true;
            List<KexRecord> records;
            synchronized (server.records) {
                records = new ArrayList<>(server.records);
            }
            records.sort((a, b) -> Integer.compare(a.ordinal(), b.ordinal()));
            return new RecordedSession(c2s.toByteArray(), s2c.toByteArray(), records,
                    order.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    @Override
    public String toString() {
        return "RecordedSession[c2s=" + c2s.length + "B s2c=" + s2c.length + "B records=" + records.size()
                + " turns=" + tapOrder.length + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RecordedSession r && Arrays.equals(c2s, r.c2s) && Arrays.equals(s2c, r.s2c)
                && records.equals(r.records) && Arrays.equals(tapOrder, r.tapOrder);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(c2s) * 31 + Arrays.hashCode(s2c);
    }
}
