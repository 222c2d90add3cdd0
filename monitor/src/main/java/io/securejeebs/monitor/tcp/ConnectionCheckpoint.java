package io.securejeebs.monitor.tcp;

import io.securejeebs.monitor.app.ApplicationCheckpoint;

/** One connection's checkpoint: its TCP state and its application tracker's state, taken together. */
public record ConnectionCheckpoint(TcpCheckpoint tcp, ApplicationCheckpoint application) {
    public ConnectionKey key() {
        return tcp.key();
    }
}
