package io.securejeebs.monitor.capture;

import io.securejeebs.monitor.app.ApplicationTracker;
import io.securejeebs.monitor.tcp.ConnectionTable;
import io.securejeebs.monitor.tcp.Endpoint;
import io.securejeebs.monitor.tcp.FrameCounters;
import io.securejeebs.monitor.tcp.StreamSink;
import io.securejeebs.monitor.tcp.WatchedServices;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * TEST FIXTURE, run as its own JVM by {@link LiveCaptureFatalErrorTest}: a live capture on {@code lo} whose
 * tracker runs out of heap at the first client byte, as a tracker would under a flood with a small heap.
 * Like the daemon, its main thread then only waits: the process ends only if the capture thread ends it.
 */
public final class FatalErrorChild {
    private FatalErrorChild() {}

    /** Holds what the tracker allocated, so the heap really fills. */
    static final List<long[]> HOARD = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = listener.getLocalPort();
            FrameCounters counters = new FrameCounters();
            ConnectionTable table = new ConnectionTable(new WatchedServices(
                    List.of(Endpoint.ipv4(InetAddress.getLoopbackAddress().getAddress())), List.of(port)),
                    (key, updates) -> new HoardingTracker(), 4L << 20, 10, counters);
            LiveCapture.start(new CaptureSettings("lo", 262_144, 8 << 20, false), table, counters);
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), port);
                 Socket server = listener.accept()) {
                OutputStream out = client.getOutputStream();
                out.write("any byte at all\n".getBytes());
                out.flush();
                System.out.println("child: sent; waiting like the daemon does");
                new CountDownLatch(1).await();
            }
        }
    }

    private static final class HoardingTracker implements ApplicationTracker {
        private final StreamSink client = (offset, data, off, len) -> {
            while (true) {
                HOARD.add(new long[1 << 20]);
            }
        };

        @Override
        public String protocol() {
            return "hoarding";
        }

        @Override
        public StreamSink clientStream() {
            return client;
        }

        @Override
        public StreamSink serverStream() {
            return StreamSink.NONE;
        }

        @Override
        public long clientConsumedOffset() {
            return 0;
        }

        @Override
        public Object resumeState() {
            return null;
        }
    }
}
