package io.securejeebs.keyexport.probe;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonServer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Supplier;
import org.apache.sshd.common.session.helpers.AbstractSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TEST ONLY: the primary's state probe, the oracle that tests of the appliance's SSH tracking compare against.
 * It listens on a root-only UNIX domain socket ({@code probe.socket}); every connection gets one JSON
 * {@link ProbeDocument} describing every live session, then the socket is closed. Nothing is read from the
 * client.
 *
 * <p>It reveals, for every session, the sequence numbers and cipher positions that, with the exported keys,
 * would let anyone holding them continue the session. That is why it is off by default, root-only, and loud.
 */
public final class StateProbe implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StateProbe.class);
    /** How long the probe waits for each of a session's transport locks (held during a key exchange export). */
    static final Duration LOCK_TIMEOUT = Duration.ofSeconds(5);

    private final LocalJsonServer server;

    private StateProbe(LocalJsonServer server) {
        this.server = server;
    }

    /**
     * @param sessions the server's live sessions ({@code SshServer::getActiveSessions}); sessions that are not
     *                 {@link ProbedServerSession}s are skipped
     */
    public static StateProbe start(Path socket, String primaryId, Supplier<List<AbstractSession>> sessions)
            throws IOException {
        ObjectMapper json = new ObjectMapper();
        // Each probe holds the transport locks of one session at a time, for microseconds, but waits for them up
        // to LOCK_TIMEOUT during a key exchange export: give the client time for that.
        LocalJsonServer.Limits limits = new LocalJsonServer.Limits(1, LOCK_TIMEOUT.multipliedBy(4), 8);
        LocalJsonServer server = LocalJsonServer.start("sj-state-probe", socket, false, LocalJsonServer.Mode.ON_CONNECT,
                limits, json, request -> snapshot(primaryId, sessions.get()));
        log.warn("TEST-ONLY state probe listening on {}: it reveals the sequence numbers and cipher positions of"
                + " every session (probe.socket); never enable it in production", socket);
        return new StateProbe(server);
    }

    static ProbeDocument snapshot(String primaryId, List<AbstractSession> live) {
        List<ProbeDocument.Session> out = new ArrayList<>();
        for (AbstractSession s : live) {
            if (s instanceof ProbedServerSession p && p.isOpen()) {
                out.add(p.probe(LOCK_TIMEOUT));
            }
        }
        out.sort(Comparator.comparing(ProbeDocument.Session::clientIp).thenComparingInt(ProbeDocument.Session::clientPort));
        return new ProbeDocument(primaryId, System.currentTimeMillis(), out);
    }

    public Path path() {
        return server.path();
    }

    @Override
    public void close() {
        server.close();
    }
}
