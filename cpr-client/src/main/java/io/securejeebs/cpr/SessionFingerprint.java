package io.securejeebs.cpr;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * How logs name an SSH session without showing its id: the first 8 hex digits of SHA-256(session id). The
 * session id is public on the wire, but it is also an input to every key derivation, so it stays out of logs.
 */
public final class SessionFingerprint {
    private SessionFingerprint() {}

    public static String of(byte[] sessionId) {
        if (sessionId == null) {
            return "(none)";
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(sessionId);
            return HexFormat.of().formatHex(d, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }
}
