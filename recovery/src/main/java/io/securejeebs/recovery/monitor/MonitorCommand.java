package io.securejeebs.recovery.monitor;

import io.securejeebs.config.ConfigException;
import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.monitor.capture.CaptureException;
import io.securejeebs.monitor.capture.CaptureFile;
import io.securejeebs.monitor.ssh.SynchronousKexRecordSource;
import io.securejeebs.monitor.tcp.Endpoint;
import java.io.PrintStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code securejeebs monitor --pcap FILE ...}: the appliance's SSH tracking, offline, over a capture
 * file, with the KEX records from the database; prints every connection's state at the end of the file.
 *
 * <p>Exit status: 0 the report was printed (whatever the sessions' state), 1 the capture file or the
 * database could not be read, 2 bad usage, config, key or password file.
 */
public final class MonitorCommand {
    public static final String USAGE = "usage: securejeebs monitor --pcap FILE " + KexRecordOptions.USAGE
            + " [--server IP:PORT ...] [--json]";
    /**
     * How long a record may take to be found. The records of a capture are already stored, so this only
     * bounds a session whose record is missing (its key exchange was never exported).
     */
    static final Duration RECORD_TIMEOUT = Duration.ofSeconds(2);

    private MonitorCommand() {}

    public static int run(List<String> args, PrintStream out, PrintStream err) {
        String pcap = null;
        boolean json = false;
        List<Endpoint> servers = new ArrayList<>();
        KexRecordOptions records = new KexRecordOptions();
        try {
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                if (KexRecordOptions.FLAGS.contains(a)) {
                    i = records.accept(args, i);
                    continue;
                }
                switch (a) {
                    case "--pcap" -> pcap = value(args, i++);
                    case "--server" -> servers.add(server(value(args, i++)));
                    case "--json" -> json = true;
                    case "-h", "--help" -> {
                        out.println(USAGE);
                        return 0;
                    }
                    default -> throw new KexRecordOptions.UsageException("unknown argument '" + a + "'");
                }
            }
            if (pcap == null) {
                throw new KexRecordOptions.UsageException("missing --pcap");
            }
        } catch (KexRecordOptions.UsageException e) {
            err.println("monitor: " + e.getMessage() + "\n" + USAGE);
            return 2;
        }

        CaptureFile file;
        try {
            file = CaptureFile.open(Path.of(pcap)); // before the database: the cheap checks first
        } catch (CaptureException e) {
            err.println("monitor: " + e.getMessage());
            return 1;
        }
        KexRecordOptions.Opened opened;
        try {
            opened = records.open(RECORD_TIMEOUT);
        } catch (KexRecordOptions.UsageException e) {
            err.println("monitor: " + e.getMessage() + "\n" + USAGE);
            return 2;
        } catch (ConfigException e) {
            err.println("monitor: bad config: " + e.getMessage());
            return 2;
        } catch (KexRecordOptions.SetupException e) {
            err.println("monitor: " + e.getMessage());
            return 2;
        } catch (RecordStoreException e) {
            err.println("monitor: cannot read KEX records: " + e.getMessage());
            return 1;
        }
        try (opened) {
            MonitorReport report = OfflineMonitor.run(file, servers,
                    new SynchronousKexRecordSource(opened.source(), RECORD_TIMEOUT.multipliedBy(5)), opened.description());
            out.print(json ? report.toJson() + "\n" : report.toText());
            out.flush();
            return 0;
        } catch (CaptureException e) {
            err.println("monitor: " + e.getMessage());
            return 1;
        }
    }

    private static String value(List<String> args, int i) throws KexRecordOptions.UsageException {
        if (i + 1 >= args.size()) {
            throw new KexRecordOptions.UsageException(args.get(i) + " needs a value");
        }
        return args.get(i + 1);
    }

    static Endpoint server(String v) throws KexRecordOptions.UsageException {
        int colon = v.lastIndexOf(':');
        try {
            if (colon < 1) {
                throw new IllegalArgumentException("expected IP:PORT");
            }
            InetAddress address = InetAddress.getByName(v.substring(0, colon));
            if (!(address instanceof Inet4Address)) {
                throw new IllegalArgumentException("only IPv4 is tracked");
            }
            return new Endpoint(Endpoint.ipv4(address.getAddress()), Integer.parseInt(v.substring(colon + 1)));
        } catch (UnknownHostException | IllegalArgumentException e) {
            throw new KexRecordOptions.UsageException("--server '" + v + "': " + e.getMessage());
        }
    }
}
