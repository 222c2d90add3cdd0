package io.securejeebs.recovery.server;

import io.securejeebs.cpr.ReplayEnd.ChannelState;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * TEST ONLY: the channels of a connection and their windows as both decoded streams show them (what the
 * monitor's tracker will do): the client opens (its id, window, max packet), the server confirms (its id,
 * window, max packet), data spends the receiver's window, WINDOW_ADJUST refills it, EOF and CLOSE set flags.
 */
final class ChannelModel {
    private static final class Ch {
        long clientId;
        long serverId = -1;
        long clientWindow;
        long clientMax;
        long serverWindow;
        long serverMax;
        int flags;
    }

    private final Map<Long, Ch> byClientId = new LinkedHashMap<>();
    private final Map<Long, Ch> byServerId = new LinkedHashMap<>();

    static ChannelModel of(List<SshStream.Packet> clientToServer, List<SshStream.Packet> serverToClient) {
        ChannelModel m = new ChannelModel();
        for (SshStream.Packet p : clientToServer) {
            if (p.encrypted() && p.type() == 90) {
                Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
                b.getString();
                Ch c = new Ch();
                c.clientId = b.getUInt();
                c.clientWindow = b.getUInt();
                c.clientMax = b.getUInt();
                m.byClientId.put(c.clientId, c);
            }
        }
        for (SshStream.Packet p : serverToClient) {
            if (p.encrypted() && p.type() == 91) {
                Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
                Ch c = m.byClientId.get(b.getUInt());
                c.serverId = b.getUInt();
                c.serverWindow = b.getUInt();
                c.serverMax = b.getUInt();
                m.byServerId.put(c.serverId, c);
            }
        }
        for (SshStream.Packet p : clientToServer) {
            m.apply(true, p);
        }
        for (SshStream.Packet p : serverToClient) {
            m.apply(false, p);
        }
        return m;
    }

    private void apply(boolean fromClient, SshStream.Packet p) {
        if (!p.encrypted() || p.type() < 93 || p.type() > 97) {
            return;
        }
        Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
        long recipient = b.getUInt();
        Ch c = fromClient ? byServerId.get(recipient) : byClientId.get(recipient);
        if (c == null) {
            return;
        }
        switch (p.type()) {
            case 93 -> {
                long n = b.getUInt();
                if (fromClient) {
                    c.clientWindow += n;
                } else {
                    c.serverWindow += n;
                }
            }
            case 94, 95 -> {
                if (p.type() == 95) {
                    b.getUInt();
                }
                long n = b.getUInt();
                if (fromClient) {
                    c.serverWindow -= n;
                } else {
                    c.clientWindow -= n;
                }
            }
            case 96 -> c.flags |= fromClient ? ChannelState.EOF_FROM_CLIENT : ChannelState.EOF_FROM_SERVER;
            case 97 -> c.flags |= fromClient ? ChannelState.CLOSE_FROM_CLIENT : ChannelState.CLOSE_FROM_SERVER;
            default -> { }
        }
    }

    List<ChannelState> states() {
        List<ChannelState> out = new ArrayList<>();
        for (Ch c : byServerId.values()) {
            out.add(new ChannelState(c.serverId, c.clientId, c.serverWindow, c.serverMax, c.clientWindow, c.clientMax,
                    c.flags));
        }
        return out;
    }
}
