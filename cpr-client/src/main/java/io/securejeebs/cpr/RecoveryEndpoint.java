package io.securejeebs.cpr;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;

/**
 * The recovery server as a CPR client sees it (the server lives in the recovery module, which depends on
 * this one). For each session:
 * <ol>
 * <li>{@link #expect} the session with its ticket, before connecting;</li>
 * <li>connect to {@link #recoveryAddress()} and send {@link #preamble} for the session id, then replay the
 *     recorded client-to-server bytes from the SSH identification on;</li>
 * <li>end with REPLAY_END ({@link ReplayEnd}), send nothing after it, and wait for the returned future.</li>
 * </ol>
 */
public interface RecoveryEndpoint {
    /** Where CPR connections go (loopback only). */
    InetSocketAddress recoveryAddress();

    /** A preamble line (CR LF included) for the session, made with the appliance's key. */
    String preamble(byte[] sessionId);

    /**
     * Registers a session the server must accept one CPR connection for. The future completes when the
     * session's REPLAY_END has been installed, or exceptionally with the reason it could not be (the CPR
     * connection is then closed). Completing or cancelling it from outside withdraws the ticket if no
     * connection has claimed it yet.
     *
     * @throws IllegalStateException if the session is already expected
     */
    CompletableFuture<RecoveryOutcome> expect(RecoveryTicket ticket);
}
