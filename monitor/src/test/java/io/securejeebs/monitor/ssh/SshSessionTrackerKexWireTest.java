package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.ssh.TrackerReplay.Delivery;
import io.securejeebs.monitor.ssh.TrackerReplay.Outcome;
import java.util.List;
import java.util.Random;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A KEX record must be the key exchange on the wire, all of it: besides the KEXINITs, the key-exchange
 * messages (KEX_ECDH_INIT, KEX_ECDH_REPLY…) each side sent. The client's are replayed verbatim from the
 * prefix on failover, so one that differs from what the server got can never reproduce the keys. Found by
 * {@link SshSessionTrackerFuzzTest}: a bit flipped in either message on the wire went unnoticed, and so did
 * one in the plaintext NEWKEYS' padding length, which left padding in its payload.
 */
class SshSessionTrackerKexWireTest {
    static RecordedSession session;

    @BeforeAll
    static void record() throws Exception {
        session = RecordedSession.shared(new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false));
    }

    @Test
    void theRecordingItselfIsFollowed() {
        Outcome o = TrackerReplay.replay(session, Delivery.SYNC, new Random(1));
        assertNull(o.failure());
        assertNull(o.unrecoverableReason());
    }

    @Test
    void aFlipInTheClientsKexEcdhInitOnTheWireIsCaught() {
        byte[] c2s = session.c2s().clone();
        c2s[lastPayloadByte(c2s, SshConstants.SSH_MSG_KEX_FIRST)] ^= 1; // the last byte of Q_C
        assertFails(c2s, session.s2c(), session.records(), "the client's key-exchange messages differ from the wire");
    }

    @Test
    void aFlipInTheServersKexEcdhReplyOnTheWireIsCaught() {
        byte[] s2c = session.s2c().clone();
        s2c[lastPayloadByte(s2c, SshConstants.SSH_MSG_KEX_FIRST + 1)] ^= 1; // in the signature
        assertFails(session.c2s(), s2c, session.records(), "the server's key-exchange messages differ from the wire");
    }

    @Test
    void aRecordMissingAMessageTheWireShowsIsCaught() {
        KexRecord r = session.records().get(0);
        KexRecord without = new KexRecord(r.primaryId(), r.client(), r.server(), r.ordinal(), r.kexName(),
                r.hashAlgorithm(), r.clientVersion(), r.serverVersion(), r.clientKexInit(), r.serverKexInit(),
                List.of(), r.serverKexMessages(), r.sharedSecret(), r.sharedSecretEncoding(), r.exchangeHash(),
                r.sessionId(), r.strictKex());
        assertFails(session.c2s(), session.s2c(), List.of(without), "the client's key-exchange messages differ from the wire");
    }

    @Test
    void aNewKeysWithBytesAfterItIsRefused() {
        byte[] c2s = session.c2s().clone();
        int newKeys = lastPayloadByte(c2s, SshConstants.SSH_MSG_NEWKEYS) - 1; // its padding length byte
        c2s[newKeys] -= 1; // one byte of padding becomes payload: still a valid frame, no MAC to tell
        assertFails(c2s, session.s2c(), session.records(), "c->s: a NEWKEYS payload of 2 bytes, not 1");
    }

    private static void assertFails(byte[] c2s, byte[] s2c, List<KexRecord> records, String reason) {
        for (Delivery delivery : new Delivery[] {Delivery.SYNC, Delivery.ASYNC, Delivery.LATE}) {
            Outcome o = new TrackerReplay(records, delivery, SshSessionTracker.Limits.DEFAULT)
                    .replay(c2s, s2c, session, new Random(2));
            assertNull(o.bug());
            assertNotNull(o.failure(), delivery + ": accepted");
            assertTrue(o.failure().getMessage().contains(reason), delivery + ": " + o.failure().getMessage());
        }
    }

    /** Offset of the last payload byte of the first plaintext packet carrying message {@code cmd}. */
    private static int lastPayloadByte(byte[] s, int cmd) {
        int i = 0;
        while (s[i++] != '\n') { /* the identification line */ }
        while (true) {
            int length = new ByteArrayBuffer(s, i, 4).getInt();
            int padding = s[i + 4] & 0xff;
            if ((s[i + 5] & 0xff) == cmd) {
                return i + 4 + length - padding - 1;
            }
            i += 4 + length;
        }
    }
}
