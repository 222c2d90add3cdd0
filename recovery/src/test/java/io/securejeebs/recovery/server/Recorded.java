package io.securejeebs.recovery.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.ReplayEnd.ChannelState;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.NegotiatedAlgorithms;
import io.securejeebs.keyexport.kex.SessionKeys;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * TEST ONLY: an original connection as the appliance knows it after the primary died: its first KEX record,
 * the keys derived from it, both byte streams decoded, and its channels.
 */
final class Recorded {
    final KexRecord record;
    final SessionKeys keys;
    final SshStream c2s = new SshStream();
    final SshStream s2c = new SshStream();
    final List<ChannelState> channels;
    /** Index (in c2s) of the first channel's "shell" request: the replay prefix ends there. */
    final int shellRequest;

    Recorded(KexRecord record, byte[] clientToServer, byte[] serverToClient) throws Exception {
        assertEquals(0, record.ordinal());
        this.record = record;
        this.keys = SessionKeys.derive(record, NegotiatedAlgorithms.of(record.clientKexInit(), record.serverKexInit()));
        c2s.keys(keys.clientToServer(), record.strictKex());
        s2c.keys(keys.serverToClient(), record.strictKex());
        c2s.feed(clientToServer);
        s2c.feed(serverToClient);
        assertEquals(clientToServer.length, c2s.end(), "the client's stream ends with a whole packet");
        assertEquals(serverToClient.length, s2c.end(), "the server's stream ends with a whole packet");
        channels = ChannelModel.of(c2s.packets(), s2c.packets()).states();
        shellRequest = indexOf(c2s, 98, "shell");
        assertTrue(shellRequest > 0, "the client asked for a shell: " + CprConnection.types(c2s.packets()));
    }

    /** The first c2s packet of {@code type} whose first string field (after a uint32 for 98) is {@code name}. */
    static int indexOf(SshStream s, int type, String name) {
        for (SshStream.Packet p : s.packets()) {
            if (p.encrypted() && p.type() == type) {
                Buffer b = new ByteArrayBuffer(p.payload(), 1, p.payload().length - 1);
                if (type == 98 || type == 94) {
                    b.getUInt();
                }
                if (name == null || name.equals(b.getString())) {
                    return p.index();
                }
            }
        }
        return -1;
    }

    /** Where the client's stream stands after packet {@code index}. */
    static CipherPosition positionAfter(SshStream s, int index) {
        List<SshStream.Packet> ps = s.packets();
        return index + 1 < ps.size() ? ps.get(index + 1).before() : s.position();
    }

    /** REPLAY_END with the original connection's final state. */
    ReplayEnd replayEnd(ReplayEnd.TcpHandover tcp, String notice) {
        return new ReplayEnd(new ReplayEnd.Direction(keys.clientToServer(), c2s.position()),
                new ReplayEnd.Direction(keys.serverToClient(), s2c.position()), channels, tcp, notice);
    }

    /** The server's id of the first channel. */
    long serverChannel() {
        return channels.get(0).serverId();
    }

    static byte[] channelData(long recipient, String text) {
        Buffer b = new ByteArrayBuffer();
        b.putByte((byte) 94);
        b.putUInt(recipient);
        b.putBytes(text.getBytes(StandardCharsets.UTF_8));
        return b.getCompactData();
    }
}
