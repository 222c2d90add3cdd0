package io.securejeebs.recovery.monitor;

import io.securejeebs.config.ConfigException;
import io.securejeebs.keyexport.store.KexRecordStore;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.SealedRecordStores;
import io.securejeebs.monitor.app.ApplicationTrackerFactory;
import io.securejeebs.monitor.bench.BenchSshServer;
import io.securejeebs.monitor.bench.IdleSessionFootprint;
import io.securejeebs.monitor.warmup.TrackingWarmUp;
import io.securejeebs.monitor.capture.CaptureBenchmark;
import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.monitor.capture.CaptureFile;
import io.securejeebs.monitor.capture.CaptureSettings;
import io.securejeebs.monitor.app.OpaqueStreamTracker;
import io.securejeebs.monitor.ssh.DirectionModel;
import io.securejeebs.monitor.ssh.KexRecordSource;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.ssh.SynchronousKexRecordSource;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The benchmark commands scripts/bench-capture and scripts/bench-monitor run:
 * <ul>
 * <li>{@code capture-bench --interface IF --vip IP --port N --seconds S [--ssh RECORDS]}: the live
 *     capture and reassembly for S seconds; with {@code --ssh}, the SSH tracker on every connection,
 *     with the KEX records from the database (it decrypts every packet), and an {@code SSH} line;
 *     with {@code --pcap FILE} instead of {@code --interface} and {@code --seconds}: the same tracking
 *     replayed from a capture file on one thread, timed ({@link CaptureBenchmark#replay});</li>
 * <li>{@code bench-ssh-server}: the {@link BenchSshServer}, exporting sealed records to the database;</li>
 * <li>{@code bench-monitor-footprint --sessions N}: {@link IdleSessionFootprint}.</li>
 * </ul>
 * Exit status as the CLI's: 0, 1 runtime failure, 2 bad usage or setup.
 */
public final class BenchCommands {
    static final String CAPTURE_USAGE = "usage: securejeebs capture-bench (--interface IF --seconds S | --pcap FILE [--passes N])"
            + " --vip IP --port N [--ssh " + KexRecordOptions.USAGE + "]";
    static final String SERVER_USAGE = "usage: securejeebs bench-ssh-server --listen IP:PORT --primary-id ID"
            + " --records-db JDBC_URL --db-user USER --db-password-file FILE --appliance-pub FILE --export-key FILE"
            + " [--authorized-keys FILE] [--password-file FILE]";
    static final String FOOTPRINT_USAGE = "usage: securejeebs bench-monitor-footprint --sessions N [--cipher NAME]";

    private BenchCommands() {}

    public static int captureBench(List<String> args, PrintStream out, PrintStream err) throws InterruptedException {
        Map<String, String> o = new HashMap<>();
        KexRecordOptions records = new KexRecordOptions();
        boolean ssh = false;
        try {
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                if (a.equals("--ssh")) {
                    ssh = true;
                } else if (KexRecordOptions.FLAGS.contains(a)) {
                    i = records.accept(args, i);
                } else if (List.of("--interface", "--vip", "--port", "--seconds", "--pcap", "--passes").contains(a) && i + 1 < args.size()) {
                    o.put(a, args.get(++i));
                } else {
                    throw new KexRecordOptions.UsageException("unexpected '" + a + "'");
                }
            }
            for (String required : o.containsKey("--pcap") ? List.of("--vip", "--port")
                    : List.of("--interface", "--vip", "--port", "--seconds")) {
                if (!o.containsKey(required)) {
                    throw new KexRecordOptions.UsageException("missing " + required);
                }
            }
        } catch (KexRecordOptions.UsageException e) {
            err.println("capture-bench: " + e.getMessage() + "\n" + CAPTURE_USAGE);
            return 2;
        }
        WatchedServices watched;
        int passes;
        try {
            passes = Integer.parseInt(o.getOrDefault("--passes", "1"));
            if (passes < 1 || passes > 100) {
                throw new NumberFormatException("--passes must be 1..100, not " + passes);
            }
            watched = new WatchedServices(List.of(MonitorCommand.server(o.get("--vip") + ":" + o.get("--port")).address()),
                    List.of(Integer.parseInt(o.get("--port"))));
        } catch (KexRecordOptions.UsageException | NumberFormatException e) {
            err.println("capture-bench: " + e.getMessage() + "\n" + CAPTURE_USAGE);
            return 2;
        }
        try {
            if (o.containsKey("--pcap")) {
                return replay(CaptureFile.open(Path.of(o.get("--pcap"))), watched, ssh ? records : null, passes, out);
            }
            CaptureSettings settings = new CaptureSettings(o.get("--interface"), 262_144, 64 << 20, true);
            Duration duration = Duration.ofSeconds(Integer.parseInt(o.get("--seconds")));
            if (!ssh) {
                CaptureBenchmark.run(settings, watched, duration, out);
                return 0;
            }
            try (KexRecordOptions.Opened opened = records.open(Duration.ofSeconds(5))) {
                // As the appliance does at start: the tracking path compiled before traffic comes.
                long w0 = System.nanoTime();
                List<TrackingWarmUp.Result> warmed = TrackingWarmUp.standard().run(TrackingWarmUp.DEFAULT_CIPHERS);
                out.printf("WARMUP millis=%d %s%n", (System.nanoTime() - w0) / 1_000_000, TrackingWarmUp.describe(warmed));
                List<Tracked> trackers = new ArrayList<>();
                CaptureBenchmark.run(settings, watched, sshTrackers(opened.source(), trackers), duration, out);
                printSsh(trackers, out);
                return 0;
            }
        } catch (CaptureException | RecordStoreException e) {
            err.println("capture-bench: " + e.getMessage());
            return 1;
        } catch (KexRecordOptions.UsageException e) {
            err.println("capture-bench: " + e.getMessage() + "\n" + CAPTURE_USAGE);
            return 2;
        } catch (KexRecordOptions.SetupException | ConfigException e) {
            err.println("capture-bench: " + e.getMessage());
            return 2;
        }
    }

    private static int replay(CaptureFile file, WatchedServices watched, KexRecordOptions records, int passes,
                              PrintStream out)
            throws CaptureException, KexRecordOptions.UsageException, KexRecordOptions.SetupException, ConfigException,
            RecordStoreException {
        if (records == null) {
            CaptureBenchmark.replay(file, watched, () -> (key, updates) -> new OpaqueStreamTracker(), passes, out);
            return 0;
        }
        try (KexRecordOptions.Opened opened = records.open(Duration.ofSeconds(5))) {
            // From a file, each record is applied where it is asked for, as monitor --pcap does.
            KexRecordSource source = new SynchronousKexRecordSource(opened.source(), Duration.ofSeconds(30));
            List<Tracked> trackers = new ArrayList<>();
            CaptureBenchmark.replay(file, watched, () -> {
                trackers.clear(); // only the timed pass's
                return sshTrackers(source, trackers);
            }, passes, out);
            printSsh(trackers, out);
            return 0;
        }
    }

    private record Tracked(ConnectionKey key, SshSessionTracker tracker) {}

    private static ApplicationTrackerFactory sshTrackers(KexRecordSource source, List<Tracked> into) {
        return (key, updates) -> {
            SshSessionTracker t = new SshSessionTracker(key, source, updates, SshSessionTracker.Limits.DEFAULT);
            synchronized (into) {
                into.add(new Tracked(key, t));
            }
            return t;
        };
    }

    /**
     * What the SSH trackers decrypted: proof that they followed the sessions, not just captured them. One
     * {@code SSH_SESSION} line per connection in the order they began, then the {@code SSH} totals.
     */
    private static void printSsh(List<Tracked> trackers, PrintStream out) {
        long packets = 0;
        int keyed = 0;
        int authenticated = 0;
        int maxEpoch = -1;
        synchronized (trackers) {
            for (Tracked t : trackers) {
                SshSessionModel m = t.tracker().resumeState(); // the capture has stopped; a late record only lags a count
                DirectionModel c2s = m.clientToServer();
                DirectionModel s2c = m.serverToClient();
                boolean decrypting = c2s.keyEpoch() >= 0 && s2c.keyEpoch() >= 0;
                keyed += decrypting ? 1 : 0;
                authenticated += m.user() != null ? 1 : 0;
                maxEpoch = Math.max(maxEpoch, Math.max(c2s.keyEpoch(), s2c.keyEpoch()));
                packets += c2s.packets() + s2c.packets();
                out.printf("SSH_SESSION client=%s decrypting=%s packets=%d cipher=%s%n", t.key().client(),
                        decrypting ? "yes" : "no", c2s.packets() + s2c.packets(), s2c.cipher());
            }
        }
        out.printf("SSH sessions=%d decrypting=%d authenticated=%d packets=%d max_key_epoch=%d%n", trackers.size(), keyed,
                authenticated, packets, maxEpoch);
    }

    public static int sshServer(List<String> args, PrintStream out, PrintStream err) throws InterruptedException {
        Map<String, String> o = new HashMap<>();
        List<String> names = List.of("--listen", "--primary-id", "--records-db", "--db-user", "--db-password-file",
                "--appliance-pub", "--export-key", "--authorized-keys", "--password-file");
        for (int i = 0; i < args.size(); i++) {
            if (!names.contains(args.get(i)) || i + 1 >= args.size()) {
                err.println("bench-ssh-server: unexpected '" + args.get(i) + "'\n" + SERVER_USAGE);
                return 2;
            }
            o.put(args.get(i), args.get(++i));
        }
        for (String required : names.subList(0, 7)) {
            if (!o.containsKey(required)) {
                err.println("bench-ssh-server: missing " + required + "\n" + SERVER_USAGE);
                return 2;
            }
        }
        String listen = o.get("--listen");
        int colon = listen.lastIndexOf(':');
        KexRecordStore store;
        String password = null;
        try {
            store = SealedRecordStores.open(o.get("--records-db"), o.get("--db-user"), Path.of(o.get("--db-password-file")),
                    Path.of(o.get("--appliance-pub")), Path.of(o.get("--export-key")), Duration.ofSeconds(5));
            if (o.containsKey("--password-file")) {
                password = Files.readString(Path.of(o.get("--password-file")), StandardCharsets.UTF_8).strip();
            }
        } catch (IOException | IllegalArgumentException e) {
            err.println("bench-ssh-server: " + e.getMessage());
            return 2;
        }
        try (store; BenchSshServer server = BenchSshServer.start(listen.substring(0, colon),
                Integer.parseInt(listen.substring(colon + 1)), o.get("--primary-id"), store, password,
                o.containsKey("--authorized-keys") ? Path.of(o.get("--authorized-keys")) : null, out)) {
            out.println("LISTENING " + listen.substring(0, colon) + ":" + server.port());
            out.flush();
            new CountDownLatch(1).await(); // until the process is stopped
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("bench-ssh-server: " + e.getMessage());
            return 1;
        }
    }

    public static int footprint(List<String> args, PrintStream out, PrintStream err) {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i < args.size(); i++) {
            if (!List.of("--sessions", "--cipher").contains(args.get(i)) || i + 1 >= args.size()) {
                err.println("bench-monitor-footprint: unexpected '" + args.get(i) + "'\n" + FOOTPRINT_USAGE);
                return 2;
            }
            o.put(args.get(i), args.get(++i));
        }
        if (!o.containsKey("--sessions")) {
            err.println("bench-monitor-footprint: missing --sessions\n" + FOOTPRINT_USAGE);
            return 2;
        }
        try {
            IdleSessionFootprint.run(Integer.parseInt(o.get("--sessions")), o.get("--cipher"), out);
            return 0;
        } catch (IllegalArgumentException e) {
            err.println("bench-monitor-footprint: " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("bench-monitor-footprint: " + e);
            return 1;
        }
    }
}
