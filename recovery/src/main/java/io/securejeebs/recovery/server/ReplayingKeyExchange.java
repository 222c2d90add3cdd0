package io.securejeebs.recovery.server;

import io.securejeebs.keyexport.KexRecord;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.SshException;
import org.apache.sshd.common.digest.BuiltinDigests;
import org.apache.sshd.common.digest.Digest;
import org.apache.sshd.common.kex.KeyExchange;
import org.apache.sshd.common.kex.KeyExchangeFactory;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;

/**
 * A server key exchange that replays a recorded one (DESIGN §4.4): every client KEX message must be the
 * recorded one byte for byte, every server reply is the recorded one, and K and H are the recorded ones.
 * MINA then derives exactly the keys the primary derived (it hashes K with {@code putBytes(k)}, as
 * {@code SessionKeys} does), and the client's recorded NEWKEYS, authentication and channel requests decrypt
 * and verify as they did on the primary.
 *
 * <p>It only compares and sends bytes, so it serves every key exchange the primary offers: ECDH and
 * curve25519/448, the post-quantum hybrids, fixed DH groups, and group exchange (request then init: it
 * answers GEX_GROUP and returns false, then GEX_REPLY and returns true). Nothing here is secret to the
 * replay: the server's host key signature in the recorded reply is the primary's, over the recorded H.
 */
final class ReplayingKeyExchange implements KeyExchange {
    private final Session session;
    private final KexRecord record;
    private final List<byte[]> expected;
    private final List<byte[]> replies;
    private int next;

    ReplayingKeyExchange(Session session, KexRecord record) {
        this.session = Objects.requireNonNull(session, "session");
        this.record = Objects.requireNonNull(record, "record");
        this.expected = record.clientKexMessages();
        this.replies = record.serverKexMessages();
    }

    /** Creates the replaying exchange under the recorded name, so MINA's negotiation finds it. */
    static KeyExchangeFactory factory(KexRecord record) {
        return new KeyExchangeFactory() {
            @Override
            public String getName() {
                return record.kexName();
            }

            @Override
            public KeyExchange createKeyExchange(Session session) {
                return new ReplayingKeyExchange(session, record);
            }

            @Override
            public String toString() {
                return "replay of " + record.kexName();
            }
        };
    }

    @Override
    public void init(byte[] v_s, byte[] v_c, byte[] i_s, byte[] i_c) throws Exception {
        same("the server identification V_S", record.serverVersion().getBytes(StandardCharsets.UTF_8), v_s);
        same("the client identification V_C", record.clientVersion().getBytes(StandardCharsets.UTF_8), v_c);
        same("the server KEXINIT I_S", record.serverKexInit(), i_s);
        same("the client KEXINIT I_C", record.clientKexInit(), i_c);
        if (expected.isEmpty() || expected.size() != replies.size()) {
            throw failed("the record holds " + expected.size() + " client and " + replies.size()
                    + " server KEX messages; a replay needs one reply per client message");
        }
        if (BuiltinDigests.fromAlgorithm(record.hashAlgorithm()) == null) {
            throw failed("the recorded exchange hash " + record.hashAlgorithm() + " is unknown to MINA");
        }
    }

    @Override
    public boolean next(int cmd, Buffer buffer) throws Exception {
        if (next >= expected.size()) {
            throw failed("client KEX message " + cmd + " after the recorded exchange was complete");
        }
        // MINA has read the message number: the whole payload is [rpos - 1, wpos)
        byte[] got = Arrays.copyOfRange(buffer.array(), buffer.rpos() - 1, buffer.wpos());
        byte[] want = expected.get(next);
        if (!Arrays.equals(want, got)) {
            throw failed("client KEX message #" + next + " differs from the record: got message " + cmd + " of "
                    + got.length + " bytes, recorded message " + (want[0] & 0xff) + " of " + want.length + " bytes");
        }
        buffer.rpos(buffer.wpos());
        byte[] reply = replies.get(next);
        Buffer out = session.createBuffer(reply[0], reply.length);
        out.putRawBytes(reply, 1, reply.length - 1);
        session.writePacket(out);
        next++;
        return next == expected.size();
    }

    /** A fresh, initialised digest of the recorded algorithm: MINA derives the session keys with it. */
    @Override
    public Digest getHash() {
        Digest d = BuiltinDigests.fromAlgorithm(record.hashAlgorithm()).create();
        try {
            d.init();
        } catch (Exception e) {
            throw new IllegalStateException("cannot initialise " + record.hashAlgorithm() + ": " + e.getMessage(), e);
        }
        return d;
    }

    @Override
    public byte[] getH() {
        return record.exchangeHash().clone();
    }

    @Override
    public byte[] getK() {
        return record.sharedSecret().clone();
    }

    @Override
    public String getName() {
        return record.kexName();
    }

    @Override
    public Session getSession() {
        return session;
    }

    private static void same(String what, byte[] recorded, byte[] actual) throws SshException {
        if (!Arrays.equals(recorded, actual)) {
            throw failed(what + " differs from the record (" + actual.length + " vs " + recorded.length + " bytes)");
        }
    }

    private static SshException failed(String reason) {
        return new SshException(SshConstants.SSH2_DISCONNECT_KEY_EXCHANGE_FAILED, "key exchange replay: " + reason);
    }

    @Override
    public String toString() {
        return "ReplayingKeyExchange[" + record.kexName() + ", " + next + "/" + expected.size() + " messages]";
    }
}
