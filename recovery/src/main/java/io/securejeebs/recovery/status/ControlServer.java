package io.securejeebs.recovery.status;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.securejeebs.localsocket.LocalJsonServer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The appliance daemon's local control channel: a root-only UNIX socket ({@code control.socket}, default
 * {@code state.dir/control.sock}) where a client sends one line and gets one JSON document. The only request
 * today is {@code status} ({@link ApplianceStatus}); anything else is answered with {@code {"error": ...}}.
 * Robustness (timeouts, request size, slow and concurrent clients) is {@link LocalJsonServer}'s.
 */
public final class ControlServer implements AutoCloseable {
    public static final String STATUS = "status";

    private final LocalJsonServer server;

    private ControlServer(LocalJsonServer server) {
        this.server = server;
    }

    /**
     * @param ownDirectory whether the socket's directory belongs to the appliance (its state dir), so that
     *                     group and other permissions may be removed from it
     */
    public static ControlServer start(Path socket, boolean ownDirectory, LocalJsonServer.Limits limits,
                                      Supplier<?> status) throws IOException {
        return new ControlServer(LocalJsonServer.start("sj-control", socket, ownDirectory,
                LocalJsonServer.Mode.REQUEST_LINE, limits, new ObjectMapper(), request -> answer(request, status)));
    }

    private static Object answer(String request, Supplier<?> status) throws LocalJsonServer.RequestException {
        if (request.equals(STATUS)) {
            return status.get();
        }
        if (request.isEmpty()) {
            throw new LocalJsonServer.RequestException("empty request: send one line, '" + STATUS + "'");
        }
        String shown = request.length() > 64 ? request.substring(0, 64) + "..." : request;
        throw new LocalJsonServer.RequestException("unknown request '" + shown + "': the requests are: " + STATUS);
    }

    public Path path() {
        return server.path();
    }

    @Override
    public void close() {
        server.close();
    }
}
