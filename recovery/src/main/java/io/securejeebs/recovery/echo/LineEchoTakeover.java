package io.securejeebs.recovery.echo;

import io.securejeebs.cpr.ConnectionRestorer;
import io.securejeebs.kernel.RestoredSocket;
import io.securejeebs.kernel.SocketSwap;
import io.securejeebs.monitor.app.LineEchoTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.recovery.failover.ConnectionTakeover;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Continues the line-echo protocol on a restored connection. The restored socket is swapped onto an
 * ordinary JDK {@link SocketChannel} (first connected over loopback, so the JDK sees a connected
 * channel); from then on that channel talks to the real client. The receive queue holds the client lines
 * the primary never answered, and the resume state says how much of the next answer already went out.
 */
public final class LineEchoTakeover implements ConnectionTakeover {
    private static final Logger log = LoggerFactory.getLogger(LineEchoTakeover.class);

    @Override
    public String protocol() {
        return LineEchoTracker.PROTOCOL;
    }

    @Override
    public Result takeOver(ConnectionSnapshot snapshot, GuardRelease release) throws IOException {
        long t0 = System.nanoTime();
        RestoredSocket socket = ConnectionRestorer.restore(snapshot, System.currentTimeMillis() * 1000);
        double restoreMillis = (System.nanoTime() - t0) / 1e6;
        try {
            resume(snapshot, socket);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        release.release();
        return new Result(String.format(java.util.Locale.ROOT, "restore %.2f ms; %s", restoreMillis,
                ConnectionRestorer.repairExit(snapshot) == io.securejeebs.kernel.TcpRepair.RepairExit.WINDOW_PROBE
                        ? "window-probe" : "no-window-probe"), java.util.List.of());
    }

    private void resume(ConnectionSnapshot snapshot, RestoredSocket socket) throws IOException {
        LineEchoTracker.Resume resume = (LineEchoTracker.Resume) snapshot.resume();
        SocketChannel channel = connectedChannelFor(socket);
        log.info("{}: line-echo resumed after {} answered line(s), {} byte(s) of the next answer already sent",
                snapshot.key(), resume.answeredLines(), resume.partialAnswerBytes());
        Thread t = new Thread(() -> LineEchoServer.serve(channel, resume.partialAnswerBytes()),
                "echo-resumed-" + snapshot.key().client().port());
        t.setDaemon(true);
        t.start();
    }

    /** A blocking JDK channel whose file descriptor is now the restored socket. */
    static SocketChannel connectedChannelFor(RestoredSocket socket) throws IOException {
        try (ServerSocketChannel loop = ServerSocketChannel.open()) {
            loop.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1);
            SocketChannel channel = SocketChannel.open(loop.getLocalAddress());
            try (SocketChannel placeholderPeer = loop.accept()) {
                SocketSwap.swap(socket, channel);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            return channel;
        }
    }
}
