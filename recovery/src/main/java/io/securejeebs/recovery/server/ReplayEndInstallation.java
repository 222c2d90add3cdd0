package io.securejeebs.recovery.server;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.ReplayEnd;
import io.securejeebs.cpr.ReplayEnd.ChannelState;
import io.securejeebs.cpr.ReplayEndFormatException;
import io.securejeebs.kernel.RestoredSocket;
import io.securejeebs.kernel.SocketSwap;
import io.securejeebs.kernel.TcpRepair;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import io.securejeebs.keyexport.primary.SessionAddresses;
import java.io.IOException;
import java.nio.channels.AsynchronousSocketChannel;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.channel.LocalWindow;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.common.io.nio2.Nio2Session;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.session.helpers.AbstractConnectionService;
import org.apache.sshd.common.util.buffer.Buffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Installs one REPLAY_END (DESIGN §4.5). On the read thread, inside the read handler, in this order:
 * <ol>
 * <li>decode it and prepare everything that can fail without touching the session: new MINA ciphers
 *     initialised at {@link CipherPosition#ivFor}, MACs, and the match between its channels and the
 *     session's;</li>
 * <li>under the session's encode lock: wait until the replay's output has been written to the CPR
 *     connection, install both directions' transport state (ciphers, MACs, sizes, sequence numbers), each
 *     channel's windows and EOF state (channels already closed on the original connection are dropped
 *     quietly), and, if it carries TCP state, rebuild the client's connection with TCP_REPAIR and
 *     {@code dup3} it under the session's NIO2 channel (the next read, issued on this thread after the
 *     handler returns, is on the new socket);</li>
 * <li>end the replay: the session is an ordinary one from here (rekeys negotiate normally).</li>
 * </ol>
 * Then, on a worker thread: release the connection's 4-tuple from the guard, restart a login shell (with a
 * one-line notice) on every channel that had one, close exec and subsystem channels (their process died with
 * the primary), and complete the ticket's future with the timings.
 */
final class ReplayEndInstallation {
    private static final Logger log = LoggerFactory.getLogger(ReplayEndInstallation.class);

    /** What an exec or subsystem channel is told when its process died with the primary. */
    static final int LOST_COMMAND_EXIT_STATUS = 255;
    /** ... and the line on its stderr. */
    static final String LOST_COMMAND_MESSAGE = "securejeebs: the server failed over; this command was lost with it and"
            + " did not finish (exit status " + LOST_COMMAND_EXIT_STATUS + ")\r\n";

    private final RecoverySession session;
    private final RecoveryServer.Claim claim;
    private final Buffer buffer;
    private final String fp;
    private final List<RecoveryOutcome.Step> steps = new ArrayList<>();
    private long mark = System.nanoTime();

    ReplayEndInstallation(RecoverySession session, RecoveryServer.Claim claim, Buffer buffer) {
        this.session = session;
        this.claim = claim;
        this.buffer = buffer;
        this.fp = session.fingerprint();
    }

    private void step(String name) {
        long now = System.nanoTime();
        steps.add(new RecoveryOutcome.Step(name, (now - mark) / 1e6));
        mark = now;
    }

    private RecoveryFailedException failure(String reason) {
        return new RecoveryFailedException(fp, reason);
    }

    /** What happens to one channel. */
    private enum Fate { KEEP, RESTART_SHELL, CLOSE_LOST_COMMAND, CLOSE_FORWARD, CLOSE_QUIETLY, CLOSE_AFTER_SWAP }

    private record ChannelPlan(Channel channel, ChannelState state, Fate fate) {}

    void run() throws Exception {
        ReplayEnd end;
        try {
            end = ReplayEnd.decode(buffer.array(), buffer.rpos(), buffer.available());
        } catch (ReplayEndFormatException e) {
            throw failure("malformed REPLAY_END: " + e.getMessage());
        }
        buffer.rpos(buffer.wpos());
        Cipher inCipher = cipher(end.inbound(), Cipher.Mode.Decrypt, "inbound");
        Mac inMac = mac(end.inbound(), inCipher, "inbound");
        Cipher outCipher = cipher(end.outbound(), Cipher.Mode.Encrypt, "outbound");
        Mac outMac = mac(end.outbound(), outCipher, "outbound");
        List<ChannelPlan> plans = plan(end.channels());
        step("decode+prepare");

        boolean swapped = false;
        ReentrantLock encodeLock = session.encodeLock();
        encodeLock.lock();
        try {
            session.drainOutput(session.server().settings().drainTimeout());
            step("drain");
            session.installTransport(inCipher, inMac, end.inbound().position().sequence(),
                    outCipher, outMac, end.outbound().position().sequence());
            step("transport");
            for (ChannelPlan p : plans) {
                installChannel(p);
            }
            step("channels");
            if (end.hasTcp()) {
                swapSocket(end.tcp());
                swapped = true;
            }
        } finally {
            encodeLock.unlock();
        }
        // the client's next bytes are read on this thread once the handler returns: the shells take them from then
        List<RecoveryChannelSession> shells = new ArrayList<>();
        for (ChannelPlan p : plans) {
            if (p.fate() == Fate.RESTART_SHELL) {
                RecoveryChannelSession s = (RecoveryChannelSession) p.channel();
                s.prepareFreshShell();
                shells.add(s);
            }
        }
        session.endReplay();
        step("end-replay");
        byte[] kexInit = end.serverKexInit();
        if (kexInit.length > 0) {
            // a rekey under way, which the primary had answered with its KEXINIT only: that KEXINIT is ours now, and
            // the client's (in the receive queue, or still to come) is answered afresh when it is read
            session.adoptSentKexInit(kexInit);
            step("rekey-resumed");
        }
        boolean socketSwapped = swapped;
        String notice = notice(end.noticeExtra());
        session.server().resumeExecutor().execute(() -> resume(plans, shells, socketSwapped, notice));
    }

    // ---------------------------------------------------------------- preparation (nothing changes yet)

    private Cipher cipher(ReplayEnd.Direction d, Cipher.Mode mode, String which) throws RecoveryFailedException {
        DirectionKeys k = d.keys();
        BuiltinCiphers factory = BuiltinCiphers.fromFactoryName(k.cipher());
        if (factory == null || factory == BuiltinCiphers.none || !factory.isSupported()) {
            throw failure(which + " cipher " + k.cipher() + " is not supported here");
        }
        Cipher c = factory.create();
        if (k.key().length != c.getKdfSize() || k.iv().length != c.getIVSize()) {
            throw failure(which + " " + k.cipher() + " needs a " + c.getKdfSize() + "-byte key and a " + c.getIVSize()
                    + "-byte IV, REPLAY_END has " + k.key().length + " and " + k.iv().length);
        }
        try {
            c.init(mode, k.key(), d.position().ivFor(k.cipher(), k.iv()));
        } catch (IllegalArgumentException e) {
            throw failure(which + ": " + e.getMessage());
        } catch (Exception e) {
            throw failure(which + " " + k.cipher() + " cannot be initialised: " + e.getMessage());
        }
        return c;
    }

    private Mac mac(ReplayEnd.Direction d, Cipher cipher, String which) throws RecoveryFailedException {
        DirectionKeys k = d.keys();
        if (cipher.getAuthenticationTagSize() > 0) {
            if (k.mac() != null) {
                throw failure(which + " " + k.cipher() + " is AEAD but REPLAY_END names the MAC " + k.mac());
            }
            return null;
        }
        BuiltinMacs factory = k.mac() == null ? null : BuiltinMacs.fromFactoryName(k.mac());
        if (factory == null || !factory.isSupported()) {
            throw failure(which + " " + k.cipher() + " needs a MAC, and '" + k.mac() + "' is not one MINA supports");
        }
        Mac m = factory.create();
        if (k.macKey().length != m.getBlockSize()) {
            throw failure(which + " " + k.mac() + " needs a " + m.getBlockSize() + "-byte key, REPLAY_END has "
                    + k.macKey().length);
        }
        try {
            m.init(k.macKey());
        } catch (Exception e) {
            throw failure(which + " " + k.mac() + " cannot be initialised: " + e.getMessage());
        }
        return m;
    }

    private List<ChannelPlan> plan(List<ChannelState> states) throws RecoveryFailedException {
        Map<Long, Channel> open = new HashMap<>();
        for (Channel c : channels()) {
            open.put(c.getChannelId(), c);
        }
        List<ChannelPlan> plans = new ArrayList<>();
        for (ChannelState s : states) {
            Channel c = open.remove(s.serverId());
            if (c == null && (s.has(ChannelState.CLOSE_FROM_CLIENT) || s.has(ChannelState.CLOSE_FROM_SERVER))) {
                continue; // closed on the original connection, and its close was part of the replay: nothing left
            }
            if (c == null) {
                throw failure("REPLAY_END describes channel " + s.serverId()
                        + ", which the replay did not open (open: " + idsOf(channels()) + ")");
            }
            if (c.getRecipient() != s.clientId()) {
                throw failure("channel " + s.serverId() + " belongs to the client's channel " + c.getRecipient()
                        + " in the replay, but to " + s.clientId() + " in REPLAY_END");
            }
            boolean clientClosed = s.has(ChannelState.CLOSE_FROM_CLIENT);
            boolean serverClosed = s.has(ChannelState.CLOSE_FROM_SERVER);
            Fate fate;
            if (serverClosed) {
                fate = Fate.CLOSE_QUIETLY; // the server's CLOSE is out; the client's, if still to come, is ignored
            } else if (clientClosed) {
                fate = Fate.CLOSE_AFTER_SWAP; // the client waits for the server's CLOSE
            } else if (c instanceof RecoveryChannelSession rc && rc.replayedRequest() != null) {
                fate = "shell".equals(rc.replayedRequest()) ? Fate.RESTART_SHELL : Fate.CLOSE_LOST_COMMAND;
            } else if (c instanceof ReplayedForwardChannel) {
                fate = Fate.CLOSE_FORWARD; // its connection died with the primary: never dialled again
            } else {
                fate = Fate.KEEP;
            }
            if (fate != Fate.CLOSE_QUIETLY) {
                checkWindows(c, s);
            }
            plans.add(new ChannelPlan(c, s, fate));
        }
        if (!open.isEmpty()) {
            throw failure("REPLAY_END does not describe channel(s) " + open.keySet()
                    + " that the replay opened; every channel of the session must be listed");
        }
        return plans;
    }

    private void checkWindows(Channel c, ChannelState s) throws RecoveryFailedException {
        LocalWindow local = c.getLocalWindow();
        if (s.serverWindow() > local.getMaxSize()) {
            throw failure("channel " + s.serverId() + ": the client may still send " + s.serverWindow()
                    + " bytes, more than this server's window of " + local.getMaxSize() + " (window sizes differ"
                    + " from the primary's?)");
        }
        if (s.serverMaxPacket() > local.getPacketSize()) {
            throw failure("channel " + s.serverId() + ": the primary announced packets of up to " + s.serverMaxPacket()
                    + " bytes, this server takes " + local.getPacketSize());
        }
        if (s.clientMaxPacket() == 0) {
            throw failure("channel " + s.serverId() + ": the client's maximum packet size is 0");
        }
    }

    private Collection<Channel> channels() {
        AbstractConnectionService service = connectionService();
        return service == null ? List.of() : service.getChannels();
    }

    private AbstractConnectionService connectionService() {
        try {
            return session.getService(AbstractConnectionService.class);
        } catch (IllegalStateException | IllegalArgumentException noService) {
            return null; // no connection service yet: no channel was ever opened
        }
    }

    private static List<Long> idsOf(Collection<Channel> channels) {
        return channels.stream().map(Channel::getChannelId).sorted().toList();
    }

    // ---------------------------------------------------------------- installation (read thread, encode lock)

    private void installChannel(ChannelPlan p) throws IOException {
        Channel c = p.channel();
        ChannelState s = p.state();
        if (p.fate() == Fate.CLOSE_QUIETLY) {
            c.close(true); // nothing on the wire: the original connection already exchanged (or sent) CLOSE
            return;
        }
        c.getRemoteWindow().init(s.clientWindow(), s.clientMaxPacket(), c);
        LocalWindow local = c.getLocalWindow();
        local.init(c);
        local.consume(local.getMaxSize() - s.serverWindow());
        if (c instanceof RecoveryChannelSession rc) {
            rc.installEof(s);
        } else if (s.has(ChannelState.EOF_FROM_CLIENT) || s.has(ChannelState.EOF_FROM_SERVER)) {
            log.info("recovery {}: EOF state of {} channel {} not carried over", fp, typeOf(c), s.serverId());
        }
    }

    private void swapSocket(ReplayEnd.TcpHandover tcp) throws Exception {
        IoSession io = session.getIoSession();
        if (!(io instanceof Nio2Session nio2)) {
            throw failure("the session runs on " + io.getClass().getName() + ", not NIO2: its socket cannot be swapped");
        }
        AsynchronousSocketChannel channel = nio2.getSocket();
        TcpState state = tcp.state();
        RestoredSocket restored;
        try {
            restored = TcpRepair.restore(state, tcp.exit());
        } catch (Exception e) {
            throw new RecoveryFailedException(fp, "TCP_REPAIR restore of " + state.remote() + " -> " + state.local()
                    + " failed: " + e.getMessage(), e);
        }
        step("tcp-restore");
        try {
            SocketSwap.swap(restored, channel);
        } catch (Exception | Error e) {
            try {
                restored.closeSilently(); // no FIN/RST to the client: its connection stays guarded
            } catch (Exception closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw new RecoveryFailedException(fp, "socket swap failed: " + e.getMessage(), e);
        }
        session.setClientAddress(state.remote());
        session.setAttribute(SessionAddresses.SERVER_ADDRESS, state.local());
        step("socket-swap");
    }

    // ---------------------------------------------------------------- after the swap (worker thread)

    private void resume(List<ChannelPlan> plans, List<RecoveryChannelSession> shells, boolean swapped, String notice) {
        RecoveryTicket ticket = claim.ticket();
        try {
            if (swapped && ticket.releaseGuard() != null) {
                try {
                    ticket.releaseGuard().release();
                } catch (Exception e) {
                    throw new RecoveryFailedException(fp, "the guard could not release the connection: " + e.getMessage(), e);
                }
                step("guard-release");
            }
        } catch (RecoveryFailedException e) {
            session.fail(e.reason(), e.getCause());
            return;
        }
        // From here the session is the client's again: what happens to one channel is that channel's outcome,
        // reported, and never a reason to tear the whole session down.
        List<String> outcomes = new ArrayList<>();
        int closed = 0;
        int started = 0;
        for (ChannelPlan p : plans) {
            String what = describe(p);
            try {
                switch (p.fate()) {
                    case CLOSE_QUIETLY -> {
                        closed++;
                        outcomes.add(what + ": already closed on the original connection");
                    }
                    case CLOSE_AFTER_SWAP -> {
                        p.channel().close(false);
                        closed++;
                        outcomes.add(what + ": closed (the client had closed it)");
                    }
                    case CLOSE_LOST_COMMAND -> {
                        RecoveryChannelSession rc = (RecoveryChannelSession) p.channel();
                        boolean told = rc.closeLostCommand(LOST_COMMAND_EXIT_STATUS, LOST_COMMAND_MESSAGE);
                        closed++;
                        outcomes.add(what + ": lost with the primary; exit status " + LOST_COMMAND_EXIT_STATUS
                                + (told ? " and a line on stderr" : " (no room in the client's window for the stderr line)")
                                + ", EOF, CLOSE");
                    }
                    case CLOSE_FORWARD -> {
                        ((ReplayedForwardChannel) p.channel()).closeCleanly();
                        closed++;
                        outcomes.add(what + ": its connection died with the primary; closed cleanly (EOF, CLOSE),"
                                + " not dialled again");
                    }
                    case KEEP -> {
                        releaseWindowDeficit(p);
                        outcomes.add(what + ": kept");
                    }
                    case RESTART_SHELL -> releaseWindowDeficit(p);
                }
            } catch (IOException | RuntimeException e) {
                outcomes.add(what + ": FAILED to " + p.fate().name().toLowerCase(Locale.ROOT).replace('_', ' ')
                        + ": " + e.getMessage());
                log.warn("recovery {}: {}: {}", fp, what, e.toString());
            }
        }
        for (ChannelPlan p : plans) {
            if (p.fate() != Fate.RESTART_SHELL) {
                continue;
            }
            RecoveryChannelSession s = (RecoveryChannelSession) p.channel();
            String what = describe(p);
            try {
                s.startFreshShell(notice);
                started++;
                outcomes.add(what + ": fresh login shell started, with the notice");
            } catch (IOException | RuntimeException e) {
                outcomes.add(what + ": the fresh shell could not start (" + e.getMessage() + "); channel closed");
                log.warn("recovery {}: {}: the fresh shell could not start: {}", fp, what, e.toString());
                try {
                    s.closeLostCommand(LOST_COMMAND_EXIT_STATUS, "securejeebs: the server failed over and a new shell"
                            + " could not be started here: " + e.getMessage() + "\r\n");
                } catch (IOException | RuntimeException closeFailure) {
                    p.channel().close(true);
                }
                closed++;
            }
        }
        step("applications");
        RecoveryOutcome outcome = new RecoveryOutcome(fp, session.getUsername(), steps, swapped, started, closed,
                outcomes);
        log.info("recovery {}: session of {} recovered{}: {} shell(s) restarted, {} channel(s) closed, {} ms {}; {}",
                fp, session.getUsername(), swapped ? ", now talking to " + session.getClientAddress()
                        : " (no TCP state: it stays on the CPR connection)",
                started, closed, String.format(Locale.ROOT, "%.3f", outcome.totalMillis()), steps, outcomes);
        session.succeed(outcome);
    }

    /** "ch0 shell", "ch1 exec", "ch2 direct-tcpip to host:port": for the report, never a command line. */
    private static String describe(ChannelPlan p) {
        String kind;
        if (p.channel() instanceof RecoveryChannelSession rc) {
            kind = rc.replayedRequest() == null ? "session" : rc.replayedRequest()
                    + ("subsystem".equals(rc.replayedRequest()) ? " " + rc.replayedDetail() : "");
        } else if (p.channel() instanceof ReplayedForwardChannel f) {
            kind = "direct-tcpip to " + f.target();
        } else {
            kind = typeOf(p.channel());
        }
        return "ch" + p.state().serverId() + " " + kind;
    }

    /**
     * The bytes the client sent that the primary never acknowledged with a window adjust were consumed by the
     * process that died; the new one will not read them. Giving them back keeps the window from shrinking for
     * good (this sends a WINDOW_ADJUST, now to the real client).
     */
    private void releaseWindowDeficit(ChannelPlan p) throws IOException {
        LocalWindow local = p.channel().getLocalWindow();
        long deficit = local.getMaxSize() - p.state().serverWindow();
        if (deficit > 0) {
            local.release(deficit);
        }
    }

    static String notice(String extra) {
        StringBuilder b = new StringBuilder("[securejeebs] session recovered after a server failure at ")
                .append(Instant.now().truncatedTo(ChronoUnit.SECONDS))
                .append("; previous shell state was lost\n");
        if (extra != null && !extra.isEmpty()) {
            for (String line : extra.split("\n", -1)) {
                if (!line.isEmpty()) {
                    b.append(printable(line)).append('\n');
                }
            }
        }
        return b.toString();
    }

    /** No terminal control sequences from recorded text: C0, DEL and C1 become '?'. */
    private static String printable(String s) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> b.appendCodePoint(cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? '?' : cp));
        return b.toString();
    }

    private static String typeOf(Channel c) {
        return c.getClass().getSimpleName();
    }
}
