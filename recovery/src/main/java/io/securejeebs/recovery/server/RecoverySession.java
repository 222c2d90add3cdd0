package io.securejeebs.recovery.server;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryPreamble;
import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.SessionFingerprint;
import io.securejeebs.keyexport.KexRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.common.io.IoWriteFuture;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.session.ReservedSessionMessagesHandler;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.session.ServerSessionImpl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session of the recovery port: a CPR connection that replays a recorded session (DESIGN §4.3–4.5).
 *
 * <ol>
 * <li>Before the SSH identification the connection sends a {@link RecoveryPreamble} line. A missing, forged or
 *     replayed one, or one naming a session nobody {@linkplain RecoveryServer#expect expects}, is logged with
 *     the reason and the connection is closed.</li>
 * <li>The initial key exchange is the recorded one: the server's KEXINIT is the recorded I_S byte for byte
 *     ({@link #sendKexInit(Map)} proposes its name-lists, the reserved-messages handler puts the recorded bytes,
 *     cookie included, into the packet), and {@link ReplayingKeyExchange} checks the client's messages, sends
 *     the recorded replies and yields the recorded K and H. No rekey is started while replaying.</li>
 * <li>Authentication is MINA's own, against the real authenticators: the replayed publickey signature must
 *     verify over the (same) session id, a password must be accepted again.</li>
 * <li>Channel requests are handled as usual, except that no shell, command or subsystem is started
 *     ({@link RecoveryChannelSession}); what the server sends meanwhile goes back to the CPR connection.</li>
 * <li>REPLAY_END (message 200), accepted only here, only while replaying and only once authenticated, is
 *     handled inside the read handler ({@link #doHandleMessage}): {@link ReplayEndInstallation}.</li>
 * </ol>
 */
public class RecoverySession extends ServerSessionImpl {
    private static final Logger log = LoggerFactory.getLogger(RecoverySession.class);

    /** Where the session is in its recovery. */
    enum Phase { AWAITING_PREAMBLE, REPLAYING, INSTALLING, RECOVERED, FAILED }

    private final RecoveryServer server;
    private final long createdNanos = System.nanoTime();
    private boolean preambleRead; // read thread only (under decodeLock)
    private volatile Phase phase = Phase.AWAITING_PREAMBLE;
    private volatile RecoveryServer.Claim claim;
    private volatile String fingerprint = "(no preamble yet)";
    private volatile IoWriteFuture lastWrite;
    private volatile String lastError;

    public RecoverySession(ServerFactoryManager manager, IoSession ioSession, RecoveryServer server) throws Exception {
        super(manager, ioSession);
        this.server = server;
        addCloseFutureListener(f -> closed());
        addSessionListener(new org.apache.sshd.common.session.SessionListener() {
            @Override
            public void sessionEvent(Session session, Event event) {
                if (event == Event.KeyEstablished && phase == Phase.RECOVERED) {
                    log.info("recovery {}{}: key exchange with the client completed after the handover", fingerprint,
                            label());
                }
            }
        });
    }

    /** True from an accepted preamble until REPLAY_END is installed. */
    public boolean isReplaying() {
        return phase == Phase.REPLAYING || phase == Phase.INSTALLING;
    }

    Phase phase() {
        return phase;
    }

    String fingerprint() {
        return fingerprint;
    }

    RecoveryServer server() {
        return server;
    }

    RecoveryServer.Claim claim() {
        return claim;
    }

    String peer() {
        return String.valueOf(getIoSession().getRemoteAddress());
    }

    // ---------------------------------------------------------------- preamble

    @Override
    protected boolean readIdentification(Buffer buffer) throws Exception {
        if (!preambleRead) {
            int start = buffer.rpos();
            int available = buffer.available();
            int limit = Math.min(available, RecoveryPreamble.MAX_LINE_LENGTH);
            int newline = -1;
            for (int i = 0; i < limit; i++) {
                if (buffer.rawByte(start + i) == '\n') {
                    newline = i;
                    break;
                }
            }
            if (newline < 0) {
                if (available >= RecoveryPreamble.MAX_LINE_LENGTH) {
                    preambleRead = true;
                    refuse("no preamble line within " + RecoveryPreamble.MAX_LINE_LENGTH + " bytes");
                }
                return false; // more data needed, or refused
            }
            byte[] raw = new byte[newline + 1];
            buffer.getRawBytes(raw);
            preambleRead = true;
            if (!acceptPreamble(new String(raw, StandardCharsets.ISO_8859_1))) {
                return false;
            }
        }
        if (phase != Phase.REPLAYING) {
            return false; // refused: the session is closing
        }
        return super.readIdentification(buffer);
    }

    private boolean acceptPreamble(String line) {
        RecoveryPreamble.Accepted accepted;
        try {
            accepted = server.verifier().verify(line);
        } catch (RecoveryPreamble.RejectedException e) {
            refuse(e.getMessage());
            return false;
        }
        fingerprint = SessionFingerprint.of(accepted.sessionId());
        RecoveryServer.Claim c = server.claim(accepted.sessionId());
        if (c == null) {
            refuse("no recovery is expected for session " + fingerprint + " (unknown, already claimed or withdrawn)");
            return false;
        }
        claim = c;
        KexRecord initial = c.ticket().initialKex();
        if (!initial.serverVersion().equals(serverVersion)) {
            fail("this server identifies as '" + serverVersion + "' but the primary sent '" + initial.serverVersion()
                    + "' (ssh.identification must be the same)", null);
            return false;
        }
        // the initial key exchange is the recorded one, under the recorded name
        setKeyExchangeFactories(List.of(ReplayingKeyExchange.factory(initial)));
        setReservedSessionMessagesHandler(new RecordedKexInit(initial.serverKexInit()));
        phase = Phase.REPLAYING;
        log.info("recovery {}{}: CPR connection from {} accepted, replaying a session of primary '{}' ({})",
                fingerprint, label(), peer(), initial.primaryId(), initial.kexName());
        return true;
    }

    private String label() {
        RecoveryServer.Claim c = claim;
        return c == null || c.ticket().label().isEmpty() ? "" : " (" + c.ticket().label() + ")";
    }

    /** A connection that is not a valid CPR connection: logged (no secrets) and closed. */
    private void refuse(String reason) {
        phase = Phase.FAILED;
        server.countRefused();
        log.warn("recovery port: connection from {} refused: {}", peer(), reason);
        close(true);
    }

    // ---------------------------------------------------------------- key exchange replay

    /** Proposes the recorded I_S name-lists during the replayed initial key exchange (or an adopted rekey). */
    @Override
    protected byte[] sendKexInit(Map<KexProposalOption, String> proposal) throws Exception {
        RecoveryServer.Claim c = claim;
        byte[] adopted = adoptedKexInit;
        if (adopted != null) {
            proposal.putAll(nameLists(adopted));
        } else if (c != null && phase == Phase.REPLAYING && !initialKexDone) {
            proposal.putAll(nameLists(c.ticket().initialKex().serverKexInit()));
        }
        return super.sendKexInit(proposal);
    }

    private volatile byte[] adoptedKexInit;

    /**
     * At REPLAY_END (read thread): the primary had started a rekey with this KEXINIT, already on its way to the
     * client, and got no further. This session takes it as its own: MINA starts a key exchange as if it had sent
     * it (state, I_S, its proposal; other output held until the exchange ends), but nothing is written.
     */
    void adoptSentKexInit(byte[] kexInit) throws Exception {
        adoptedKexInit = kexInit.clone();
        setReservedSessionMessagesHandler(new ReservedSessionMessagesHandler() {
            @Override
            public IoWriteFuture sendKexInitRequest(Session session, Map<KexProposalOption, String> proposal,
                                                    Buffer buffer) {
                buffer.wpos(buffer.rpos());
                buffer.putRawBytes(kexInit);
                return org.apache.sshd.common.io.AbstractIoWriteFuture.fulfilled(this, Boolean.TRUE); // sent already
            }
        });
        try {
            requestNewKeysExchange();
        } finally {
            setReservedSessionMessagesHandler(null);
            adoptedKexInit = null;
        }
        log.info("recovery {}{}: the primary's rekey KEXINIT taken over; the client's answer is negotiated here",
                fingerprint, label());
    }

    static Map<KexProposalOption, String> nameLists(byte[] kexInit) {
        Buffer b = new ByteArrayBuffer(kexInit);
        b.getUByte();
        b.rpos(b.rpos() + SshConstants.MSG_KEX_COOKIE_SIZE);
        Map<KexProposalOption, String> lists = new EnumMap<>(KexProposalOption.class);
        for (KexProposalOption o : KexProposalOption.VALUES) {
            lists.put(o, b.getString());
        }
        return lists;
    }

    /** Puts the recorded server KEXINIT, cookie and all, into the packet MINA is about to send. */
    private final class RecordedKexInit implements ReservedSessionMessagesHandler {
        private final byte[] recorded;

        RecordedKexInit(byte[] recorded) {
            this.recorded = recorded.clone();
        }

        @Override
        public IoWriteFuture sendKexInitRequest(Session session, Map<KexProposalOption, String> proposal, Buffer buffer) {
            if (phase == Phase.REPLAYING && !initialKexDone) {
                buffer.wpos(buffer.rpos()); // the message number is at rpos
                buffer.putRawBytes(recorded);
            }
            return null; // MINA sends the packet, and takes I_S from it
        }
    }

    @Override
    protected boolean isRekeyRequired() {
        if (claim != null && phase != Phase.RECOVERED) {
            return false; // rekeys are not replayed: REPLAY_END carries the final keys
        }
        return super.isRekeyRequired();
    }

    // ---------------------------------------------------------------- REPLAY_END

    @Override
    protected void doHandleMessage(Buffer buffer) throws Exception {
        int cmd = buffer.rawByte(buffer.rpos()) & 0xff;
        if (cmd == ReplayEnd.MESSAGE) {
            if (phase == Phase.REPLAYING) {
                handleReplayEnd(buffer);
                return;
            }
            log.warn("recovery {}: message {} from {} ignored: REPLAY_END is accepted only while replaying (now {})",
                    fingerprint, cmd, peer(), phase);
        }
        super.doHandleMessage(buffer);
    }

    private void handleReplayEnd(Buffer buffer) {
        if (!isAuthenticated()) {
            fail("REPLAY_END before the user was authenticated", null);
            return;
        }
        phase = Phase.INSTALLING;
        try {
            new ReplayEndInstallation(this, claim, buffer).run();
        } catch (RecoveryFailedException e) {
            fail(e.reason(), e.getCause());
        } catch (Exception | Error e) {
            fail("REPLAY_END could not be installed: " + e, e);
        }
    }

    /** Drops the replay's settings: from now on this is an ordinary session (a client's rekey negotiates normally). */
    void endReplay() {
        setKeyExchangeFactories(null);
        setReservedSessionMessagesHandler(null);
        initialKexProposal = null;
        phase = Phase.RECOVERED;
    }

    /**
     * The session's pending output must reach the CPR connection before the outbound state changes or the socket
     * is swapped. Call with {@link #encodeLock} held, so that nothing new is encoded meanwhile.
     */
    void drainOutput(Duration timeout) throws IOException {
        IoWriteFuture f = lastWrite;
        if (f != null && !f.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IOException("the replay's output to the CPR connection was not written within "
                    + timeout.toMillis() + " ms (is the CPR client reading?)");
        }
        if (f != null && !f.isWritten()) {
            throw new IOException("writing the replay's output failed: " + f.getException());
        }
    }

    @Override
    protected IoWriteFuture doWritePacket(Buffer buffer) throws IOException {
        IoWriteFuture f = super.doWritePacket(buffer);
        lastWrite = f;
        return f;
    }

    ReentrantLock encodeLock() {
        return encodeLock;
    }

    /**
     * Installs one direction's transport state each way. The caller holds {@link #encodeLock}; the read thread
     * (the caller) holds {@link #decodeLock}, and the decoder re-reads the inbound fields for the next packet.
     */
    void installTransport(Cipher in, Mac inMacNew, long nextSeqIn, Cipher out, Mac outMacNew, long nextSeqOut) {
        outCipher = out;
        outCipherSize = out.getCipherBlockSize();
        outMac = outMacNew;
        outMacSize = outMacNew == null ? 0 : outMacNew.getBlockSize();
        seqo = nextSeqOut;

        inCipher = in;
        inCipherSize = in.getCipherBlockSize();
        inMac = inMacNew;
        inMacSize = inMacNew == null ? 0 : inMacNew.getBlockSize();
        inMacResult = new byte[inMacSize];
        seqi = nextSeqIn;

        // the rekey limits count from here (the primary's counts since its last key exchange are unknown)
        inBytesCount.set(0);
        inPacketsCount.set(0);
        inBlocksCount.set(0);
        outBytesCount.set(0);
        outPacketsCount.set(0);
        outBlocksCount.set(0);
        maxRekeyBlocks.set(determineRekeyBlockLimit(inCipherSize, outCipherSize));
        lastKeyTimeValue.set(Instant.now());
    }

    /** Completes the ticket's future with the reason, logs it, and disconnects. */
    void fail(String reason, Throwable cause) {
        Phase was = phase;
        phase = Phase.FAILED;
        RecoveryServer.Claim c = claim;
        if (c != null && c.future().completeExceptionally(new RecoveryFailedException(fingerprint, reason, cause))) {
            log.warn("recovery {}{}: FAILED ({}): {}", fingerprint, label(), was, reason);
        } else {
            log.warn("recovery {}: {}", fingerprint, reason);
        }
        try {
            disconnect(SshConstants.SSH2_DISCONNECT_BY_APPLICATION, "session recovery failed");
        } catch (IOException | RuntimeException e) {
            close(true);
        }
    }

    /** Recovered: completes the ticket's future. */
    void succeed(RecoveryOutcome outcome) {
        RecoveryServer.Claim c = claim;
        if (c != null) {
            c.future().complete(outcome);
        }
    }

    @Override
    public void exceptionCaught(Throwable t) {
        lastError = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
        super.exceptionCaught(t);
    }

    private void closed() {
        RecoveryServer.Claim c = claim;
        if (phase == Phase.RECOVERED) {
            // handed over: the session is the client's, and its end is its own (the resume thread completes the
            // ticket with what happened to each channel); never a recovery failure
            log.info("recovery {}{}: the session closed after its handover{}", fingerprint, label(),
                    lastError == null ? "" : " (" + lastError + ")");
            return;
        }
        if (c != null && !c.future().isDone()) {
            String reason = "the CPR connection closed during " + phase.name().toLowerCase() + " after "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - createdNanos) + " ms"
                    + (lastError == null ? "" : " (" + lastError + ")");
            if (c.future().completeExceptionally(new RecoveryFailedException(fingerprint, reason))) {
                log.warn("recovery {}{}: FAILED: {}", fingerprint, label(), reason);
            }
        }
    }
}
