package io.securejeebs.cpr;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The line a CPR connection sends to the recovery port before its SSH identification, naming the session it
 * replays and proving that the appliance itself sent it:
 * <pre>SJ-RECOVER 1 &lt;sessionIdHex&gt; &lt;nonceHex&gt; &lt;hmacHex&gt;\r\n</pre>
 * with the HMAC-SHA256 of {@code "SJ-RECOVER 1 <sessionIdHex> <nonceHex>"} under a 32-byte key that only the
 * appliance holds (made at start, kept in memory). Hex is lower case; the nonce is 16 random bytes. A
 * {@link Verifier} also refuses a nonce it has already accepted, so a captured line cannot be sent again
 * during the server's lifetime.
 */
public final class RecoveryPreamble {
    public static final String PREFIX = "SJ-RECOVER";
    public static final int VERSION = 1;
    /** The longest line, CR LF included, a server reads before giving up. */
    public static final int MAX_LINE_LENGTH = 512;
    public static final int KEY_LENGTH = 32;
    public static final int NONCE_LENGTH = 16;

    private static final HexFormat HEX = HexFormat.of();
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Session ids are exchange hashes: SHA-1 (20) to SHA-512 (64) bytes. */
    private static final Pattern LINE = Pattern.compile(
            "SJ-RECOVER 1 ([0-9a-f]{40,128}) ([0-9a-f]{" + 2 * NONCE_LENGTH + "}) ([0-9a-f]{64})");

    private RecoveryPreamble() {}

    /** The session and nonce of a preamble whose HMAC verified. */
    public record Accepted(byte[] sessionId, byte[] nonce) {
        @Override
        public String toString() {
            return "Accepted[session " + SessionFingerprint.of(sessionId) + "]";
        }
    }

    /** Why a preamble was refused. The message never contains key material. */
    public static final class RejectedException extends Exception {
        private static final long serialVersionUID = 1L;

        public RejectedException(String reason) {
            super(reason);
        }
    }

    /** A fresh appliance key. */
    public static byte[] newKey() {
        byte[] key = new byte[KEY_LENGTH];
        RANDOM.nextBytes(key);
        return key;
    }

    /** The preamble for {@code sessionId}, with a fresh nonce, CR LF included. */
    public static String create(byte[] key, byte[] sessionId) {
        checkKey(key);
        Objects.requireNonNull(sessionId, "sessionId");
        if (sessionId.length < 20 || sessionId.length > 64) {
            throw new IllegalArgumentException("a session id has 20 to 64 bytes, not " + sessionId.length);
        }
        byte[] nonce = new byte[NONCE_LENGTH];
        RANDOM.nextBytes(nonce);
        String signed = PREFIX + " " + VERSION + " " + HEX.formatHex(sessionId) + " " + HEX.formatHex(nonce);
        return signed + " " + HEX.formatHex(hmac(key, signed)) + "\r\n";
    }

    /**
     * Checks the format and the HMAC of one line (with or without its CR LF). Stateless: it does not know
     * which nonces were seen before; a server uses a {@link Verifier}.
     */
    public static Accepted verify(byte[] key, String line) throws RejectedException {
        checkKey(key);
        if (line == null) {
            throw new RejectedException("no preamble line");
        }
        if (line.length() > MAX_LINE_LENGTH) {
            throw new RejectedException("preamble longer than " + MAX_LINE_LENGTH + " characters");
        }
        String l = line.endsWith("\r\n") ? line.substring(0, line.length() - 2)
                : line.endsWith("\n") ? line.substring(0, line.length() - 1) : line;
        if (!l.startsWith(PREFIX + " ")) {
            throw new RejectedException("not a recovery preamble (it does not start with '" + PREFIX + " ')");
        }
        if (!l.startsWith(PREFIX + " " + VERSION + " ")) {
            throw new RejectedException("unsupported preamble version (this server speaks " + VERSION + ")");
        }
        Matcher m = LINE.matcher(l);
        if (!m.matches() || m.group(1).length() % 2 != 0) {
            throw new RejectedException("malformed preamble: expected '" + PREFIX + " " + VERSION
                    + " <session id hex> <32 hex nonce> <64 hex HMAC>' in lower-case hex");
        }
        String signed = l.substring(0, l.length() - 65);
        byte[] expected = hmac(key, signed);
        byte[] given = HEX.parseHex(m.group(3));
        if (!MessageDigest.isEqual(expected, given)) {
            throw new RejectedException("bad preamble HMAC (not made with this appliance's key)");
        }
        return new Accepted(HEX.parseHex(m.group(1)), HEX.parseHex(m.group(2)));
    }

    /** A server's verifier: the HMAC check, then each nonce at most once in its lifetime. Thread-safe. */
    public static final class Verifier {
        private final byte[] key;
        private final Set<String> seenNonces = ConcurrentHashMap.newKeySet();

        public Verifier(byte[] key) {
            checkKey(key);
            this.key = key.clone();
        }

        public Accepted verify(String line) throws RejectedException {
            Accepted a = RecoveryPreamble.verify(key, line);
            if (!seenNonces.add(HEX.formatHex(a.nonce()))) {
                throw new RejectedException("replayed preamble: its nonce was already used");
            }
            return a;
        }

        /** A preamble for {@code sessionId} under this verifier's key. */
        public String create(byte[] sessionId) {
            return RecoveryPreamble.create(key, sessionId);
        }
    }

    private static void checkKey(byte[] key) {
        Objects.requireNonNull(key, "key");
        if (key.length != KEY_LENGTH) {
            throw new IllegalArgumentException("the preamble key has " + KEY_LENGTH + " bytes, not " + key.length);
        }
    }

    private static byte[] hmac(byte[] key, String signed) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(signed.getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }
}
