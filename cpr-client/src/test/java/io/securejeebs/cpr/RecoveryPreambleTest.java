package io.securejeebs.cpr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.RecoveryPreamble.RejectedException;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RecoveryPreambleTest {
    private static final byte[] KEY = RecoveryPreamble.newKey();
    private static final byte[] SESSION = new byte[32];

    static {
        new Random(1).nextBytes(SESSION);
    }

    @Test
    void aPreambleVerifiesUnderItsKeyAndNamesItsSession() throws Exception {
        String line = RecoveryPreamble.create(KEY, SESSION);
        assertTrue(line.startsWith("SJ-RECOVER 1 " + HexFormat.of().formatHex(SESSION) + " "), line);
        assertTrue(line.endsWith("\r\n"));
        assertTrue(line.length() <= RecoveryPreamble.MAX_LINE_LENGTH);
        assertArrayEquals(SESSION, RecoveryPreamble.verify(KEY, line).sessionId());
        assertArrayEquals(SESSION, RecoveryPreamble.verify(KEY, line.trim()).sessionId(), "without CR LF too");
        assertNotEquals(line, RecoveryPreamble.create(KEY, SESSION), "a fresh nonce each time");
        byte[] sha512Id = new byte[64];
        assertArrayEquals(sha512Id, RecoveryPreamble.verify(KEY, RecoveryPreamble.create(KEY, sha512Id)).sessionId());
    }

    @Test
    void aForgedOrAlteredPreambleIsRefusedWithItsReason() throws Exception {
        String line = RecoveryPreamble.create(KEY, SESSION).trim();
        rejected(RecoveryPreamble.create(RecoveryPreamble.newKey(), SESSION), "bad preamble HMAC");
        // another session id under the same HMAC
        byte[] other = SESSION.clone();
        other[0] ^= 1;
        rejected(line.replace(HexFormat.of().formatHex(SESSION), HexFormat.of().formatHex(other)), "bad preamble HMAC");
        // the HMAC itself altered
        char last = line.charAt(line.length() - 1);
        rejected(line.substring(0, line.length() - 1) + (last == '0' ? '1' : '0'), "bad preamble HMAC");
        rejected("SSH-2.0-OpenSSH_9.2p1 Debian-2", "not a recovery preamble");
        rejected(line.replace("SJ-RECOVER 1 ", "SJ-RECOVER 2 "), "unsupported preamble version");
        rejected(line.toUpperCase().replace("SJ-RECOVER", "SJ-RECOVER"), "malformed preamble");
        rejected(line + " extra", "malformed preamble");
        rejected("SJ-RECOVER 1 " + "ab".repeat(300), "longer than 512");
        rejected("", "not a recovery preamble");
    }

    @Test
    void aVerifierAcceptsEachNonceOnce() throws Exception {
        RecoveryPreamble.Verifier v = new RecoveryPreamble.Verifier(KEY);
        String line = v.create(SESSION);
        assertArrayEquals(SESSION, v.verify(line).sessionId());
        RejectedException e = assertThrows(RejectedException.class, () -> v.verify(line));
        assertTrue(e.getMessage().contains("replayed"), e.getMessage());
        assertArrayEquals(SESSION, v.verify(v.create(SESSION)).sessionId(), "a new preamble for the same session is fine");
        // a forged line does not burn a nonce
        RecoveryPreamble.Verifier other = new RecoveryPreamble.Verifier(RecoveryPreamble.newKey());
        String forged = other.create(SESSION);
        assertThrows(RejectedException.class, () -> v.verify(forged));
        assertArrayEquals(SESSION, other.verify(forged).sessionId());
    }

    @Test
    void keysHaveThirtyTwoBytes() {
        assertThrows(IllegalArgumentException.class, () -> RecoveryPreamble.create(new byte[16], SESSION));
        assertThrows(IllegalArgumentException.class, () -> new RecoveryPreamble.Verifier(new byte[31]));
        assertThrows(IllegalArgumentException.class, () -> RecoveryPreamble.create(KEY, new byte[8]));
    }

    private static void rejected(String line, String reason) {
        RejectedException e = assertThrows(RejectedException.class, () -> RecoveryPreamble.verify(KEY, line), line);
        assertTrue(e.getMessage().contains(reason), "expected '" + reason + "' in: " + e.getMessage());
        assertTrue(!e.getMessage().contains(HexFormat.of().formatHex(KEY)), "never the key");
    }
}
