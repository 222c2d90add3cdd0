package io.securejeebs.keyexport.seal;

import io.securejeebs.keyexport.Endpoints;
import java.net.InetSocketAddress;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * What the appliance knows, from its own observation, about the record it is about to open: the pinned
 * primary's id, the connection it captured, and which key exchange on that connection this is. The
 * session-id digest is known once the connection's first record has been opened (its session id is H of
 * the first exchange), so it is optional: null means "not known yet", and then any session matches.
 *
 * <p>Build it from the appliance's own view, never from the row the record came in: the point is to
 * catch a record that was moved to another connection.
 */
public record ExpectedBinding(
        String primaryId,
        InetSocketAddress client,
        InetSocketAddress server,
        int ordinal,
        byte[] sessionIdDigest) {

    public ExpectedBinding {
        Objects.requireNonNull(primaryId, "primaryId");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(server, "server");
        if (sessionIdDigest != null) {
            if (sessionIdDigest.length != RecordBinding.DIGEST_LENGTH) {
                throw new IllegalArgumentException("sessionIdDigest must be 32 bytes, not " + sessionIdDigest.length);
            }
            sessionIdDigest = sessionIdDigest.clone();
        }
    }

    /** A connection's record whose session is not known yet (its first key exchange, typically). */
    public static ExpectedBinding of(String primaryId, InetSocketAddress client, InetSocketAddress server, int ordinal) {
        return new ExpectedBinding(primaryId, client, server, ordinal, null);
    }

    /** The same expectation, also requiring the session with this id (as opened from an earlier record). */
    public ExpectedBinding inSession(byte[] sessionId) {
        return new ExpectedBinding(primaryId, client, server, ordinal, RecordBinding.sessionIdDigest(sessionId));
    }

    @Override
    public byte[] sessionIdDigest() {
        return sessionIdDigest == null ? null : sessionIdDigest.clone();
    }

    /** Each way the sealed binding differs from this expectation, e.g. "ordinal: sealed as #2, expected #1". */
    List<String> differencesFrom(RecordBinding sealed) {
        return differences(sealed, "sealed for", this, "expected");
    }

    /**
     * Each way {@code actual} differs from {@code wanted} (whose null session digest matches any), worded
     * "field: [actualWords] X, [wantedWords] Y"; empty if none.
     */
    static List<String> differences(RecordBinding actual, String actualWords, ExpectedBinding wanted, String wantedWords) {
        List<String> differences = new ArrayList<>();
        if (!wanted.primaryId.equals(actual.primaryId())) {
            differences.add("primary: " + actualWords + " '" + actual.primaryId() + "', " + wantedWords + " '"
                    + wanted.primaryId + "'");
        }
        if (!sameEndpoint(wanted.client, actual.client())) {
            differences.add("client: " + actualWords + " " + Endpoints.format(actual.client()) + ", " + wantedWords
                    + " " + Endpoints.format(wanted.client));
        }
        if (!sameEndpoint(wanted.server, actual.server())) {
            differences.add("server: " + actualWords + " " + Endpoints.format(actual.server()) + ", " + wantedWords
                    + " " + Endpoints.format(wanted.server));
        }
        if (wanted.ordinal != actual.ordinal()) {
            differences.add("ordinal: " + actualWords + " #" + actual.ordinal() + ", " + wantedWords + " #" + wanted.ordinal);
        }
        if (wanted.sessionIdDigest != null && !MessageDigest.isEqual(wanted.sessionIdDigest, actual.sessionIdDigest())) {
            differences.add("session: " + actualWords + " sid-sha256:" + actual.sessionIdDigestPrefix() + ", "
                    + wantedWords + " sid-sha256:" + HexFormat.of().formatHex(wanted.sessionIdDigest, 0, 4));
        }
        return differences;
    }

    /** The binding as an expectation (with its session), to compare a record's own binding against it. */
    static ExpectedBinding exactly(RecordBinding binding) {
        return new ExpectedBinding(binding.primaryId(), binding.client(), binding.server(), binding.ordinal(),
                binding.sessionIdDigest());
    }

    /** Address bytes and port; an IPv6 scope id is local, not part of the 4-tuple on the wire. */
    private static boolean sameEndpoint(InetSocketAddress a, InetSocketAddress b) {
        return a.getPort() == b.getPort() && Arrays.equals(a.getAddress().getAddress(), b.getAddress().getAddress());
    }

    @Override
    public String toString() {
        return primaryId + " " + Endpoints.connection(client, server) + " #" + ordinal
                + (sessionIdDigest == null ? "" : " sid-sha256:" + HexFormat.of().formatHex(sessionIdDigest, 0, 4));
    }
}
