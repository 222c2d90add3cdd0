package io.securejeebs.keyexport.seal;

/**
 * The appliance refused a sealed KEX record. {@link #reason()} says which check failed; the message says
 * precisely what, with ids and fingerprints only (never keys, K, H, the session id or plaintext).
 */
public final class RecordRejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Which check refused the record, in the order {@link RecordOpener} runs them. */
    public enum Reason {
        /** The bytes are not a sealed record of a version this build reads, or the plaintext is not a KEX record. */
        MALFORMED,
        /** The SHA-256 over the sealed body does not match: corrupted in storage or transit. */
        DIGEST_MISMATCH,
        /** The signature does not verify with the pinned export key: not from our primary, or altered. */
        BAD_SIGNATURE,
        /** Signed for another connection, key exchange or primary than the one expected. */
        BINDING_MISMATCH,
        /** HPKE could not open the ciphertext: another appliance key, or an altered ciphertext. */
        DECRYPTION_FAILED
    }

    private final Reason reason;

    public RecordRejectedException(Reason reason, String message) {
        super(reason + ": " + message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
