package io.securejeebs.monitor.tcp;

/** A TCP connection to a watched server endpoint, named by its 4-tuple with the client first. */
public record ConnectionKey(Endpoint client, Endpoint server) {
    @Override
    public String toString() {
        return client + "->" + server;
    }
}
