package io.securejeebs.cpr;

import io.securejeebs.keyexport.KexRecord;
import java.util.Objects;

/**
 * What the recovery server needs to know about a session before its CPR connection arrives: the original
 * connection's first key exchange (ordinal 0), whose session id the preamble names and whose messages the
 * server replays, and what to do once the session's socket has been swapped to the real client.
 *
 * @param initialKex   the first key exchange of the original connection (ordinal 0)
 * @param releaseGuard called once the restored socket is in place: takes the connection's 4-tuple out of
 *                     the nftables guard so the client's packets reach it; may be null (no guard, tests)
 * @param label        how logs name the session besides its fingerprint (e.g. "10.0.0.5:40112"), may be empty
 */
public record RecoveryTicket(KexRecord initialKex, GuardRelease releaseGuard, String label) {
    /** Lets the recovered connection's packets through again. */
    @FunctionalInterface
    public interface GuardRelease {
        void release() throws Exception;
    }

    public RecoveryTicket {
        Objects.requireNonNull(initialKex, "initialKex");
        if (initialKex.ordinal() != 0) {
            throw new IllegalArgumentException("a ticket holds the first key exchange (ordinal 0), not #"
                    + initialKex.ordinal());
        }
        label = label == null ? "" : label;
    }

    public byte[] sessionId() {
        return initialKex.sessionId().clone();
    }

    public String fingerprint() {
        return SessionFingerprint.of(initialKex.sessionId());
    }

    @Override
    public String toString() {
        return "RecoveryTicket[" + fingerprint() + (label.isEmpty() ? "" : " " + label) + " " + initialKex.kexName() + "]";
    }
}
