package io.securejeebs.cpr;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.PacketDecodingException;
import io.securejeebs.monitor.ssh.SshPacketDecoder;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives a {@link ReplayPlan} against the recovery server (DESIGN §4 step 4): registers the session,
 * connects to the loopback recovery port with the preamble, sends the verbatim prefix, checks the
 * server's key exchange is the recorded one and that it answers the prefix as the primary did
 * (authentication success, channel confirmations, request replies), sends the controlled part under the
 * replay transport and checks each answer, then sends REPLAY_END with the original connection's final
 * state and waits for the server to install it and swap the socket. Every step is timed.
 */
public final class CprClient {
    private static final Logger log = LoggerFactory.getLogger(CprClient.class);

    /** One step of a replay and how long it took. */
    public record Step(String name, double millis, String detail) {
        @Override
        public String toString() {
            return name + " " + String.format(Locale.ROOT, "%.1f", millis) + " ms" + (detail == null ? "" : " (" + detail + ")");
        }
    }

    /** A replay that succeeded: its steps, and the recovery server's own account. */
    public record Report(String session, List<Step> steps, RecoveryOutcome outcome) {
        public double totalMillis() {
            return steps.stream().mapToDouble(Step::millis).sum();
        }
    }

    private final RecoveryEndpoint endpoint;
    private final Duration timeout;

    public CprClient(RecoveryEndpoint endpoint, Duration timeout) {
        this.endpoint = endpoint;
        this.timeout = timeout;
    }

    /**
     * @param release      takes the connection out of the guard once its socket is in place
     * @param noticeExtra  lines for the recovered shell's notice (may be empty)
     * @param nowMicros    supplies the wall clock in microseconds, for the TCP timestamp at REPLAY_END
     */
    public Report replay(ReplayPlan plan, RecoveryTicket.GuardRelease release, String noticeExtra,
                         java.util.function.LongSupplier nowMicros) throws ReplayException {
        SshSessionModel m = plan.model();
        String who = plan.snapshot().key() + " session " + m.sessionIdFingerprint();
        List<Step> steps = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        long t = System.nanoTime();
        Census census = Census.of(plan);
        CompletableFuture<RecoveryOutcome> installed = endpoint.expect(
                new RecoveryTicket(plan.firstKex(), release, plan.snapshot().key().client().toString()));
        try (Socket socket = new Socket()) {
            socket.setTcpNoDelay(true);
            socket.connect(endpoint.recoveryAddress(), (int) timeout.toMillis());
            ReplayConnection c = new ReplayConnection(socket);
            // The identification and the plaintext key exchange go in one write.
            byte[] preamble = endpoint.preamble(plan.sessionId()).getBytes(StandardCharsets.US_ASCII);
            byte[] first = Arrays.copyOf(preamble, preamble.length + census.encryptedStart);
            System.arraycopy(plan.prefix(), 0, first, preamble.length, census.encryptedStart);
            c.send(first);
            awaitRecordedKeyExchange(c, plan.firstKex(), deadline);
            c.startDecrypting(plan.replayKeys().serverToClient(), plan.firstKex().strictKex());
            t = step(steps, "key-exchange-replayed", t, plan.firstKex().kexName());

            // The encrypted setup, paced like a client: each message that gets an answer waits for it (MINA
            // answers a PAM password asynchronously; what follows must not overtake it).
            census.replay(c, plan.prefix(), deadline);
            t = step(steps, "prefix-replayed", t, plan.prefix().length + " B, " + m.prefixPackets() + " packets; user "
                    + m.user() + " re-authenticated, " + census.opens + " channel(s) confirmed");

            SshPacketEncoder encoder = new SshPacketEncoder(plan.replayKeys().clientToServer(), plan.prefixEnd());
            for (ReplayPlan.Step s : plan.controlled()) {
                c.send(encoder.encode(s.payload()));
                awaitAnswer(c, s, deadline);
                t = step(steps, "controlled", t, s.description());
            }

            ReplayEnd end = replayEnd(plan, noticeExtra, nowMicros.getAsLong());
            c.send(encoder.encode(end.encode()));
            t = step(steps, "replay-end-sent", t, end.toString());
            RecoveryOutcome outcome = installed.get(Math.max(1, (deadline - System.nanoTime()) / 1_000_000), TimeUnit.MILLISECONDS);
            step(steps, "installed", t, outcome.steps().toString());
            Report report = new Report(m.sessionIdFingerprint(), steps, outcome);
            log.info("{}: replayed in {} ms: {}", who, String.format(Locale.ROOT, "%.1f", report.totalMillis()), steps);
            return report;
        } catch (ExecutionException e) {
            throw new ReplayException("recovery server: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            installed.cancel(true);
            throw new ReplayException("REPLAY_END not installed within " + timeout.toMillis() + " ms");
        } catch (IOException | GeneralSecurityException e) {
            installed.cancel(true);
            throw new ReplayException(e.getMessage() + " (after " + steps.size() + " step(s): " + steps + ")", e);
        } catch (ReplayException e) {
            installed.cancel(true);
            throw new ReplayException(e.getMessage() + " (after " + steps.size() + " step(s): " + steps + ")", e);
        } catch (InterruptedException e) {
            installed.cancel(true);
            Thread.currentThread().interrupt();
            throw new ReplayException("interrupted");
        }
    }

    private static long step(List<Step> steps, String name, long since, String detail) {
        long now = System.nanoTime();
        steps.add(new Step(name, (now - since) / 1e6, detail));
        return now;
    }

    /** The server must send the recorded identification, I_S and KEX replies, byte for byte, then NEWKEYS. */
    private static void awaitRecordedKeyExchange(ReplayConnection c, KexRecord kex, long deadline)
            throws IOException, ReplayException {
        byte[] kexinit = c.next(deadline);
        if (!kex.serverVersion().equals(c.serverVersion())) {
            throw new ReplayException("recovery server identifies as '" + c.serverVersion() + "', the primary as '"
                    + kex.serverVersion() + "'");
        }
        if (!Arrays.equals(kexinit, kex.serverKexInit())) {
            throw new ReplayException("recovery server's KEXINIT is not the recorded I_S");
        }
        for (byte[] expected : kex.serverKexMessages()) {
            byte[] got = c.next(deadline);
            if (!Arrays.equals(got, expected)) {
                throw new ReplayException("recovery server's key exchange reply differs from the recorded one ("
                        + ReplayConnection.describe(got) + ")");
            }
        }
        byte[] newKeys = c.next(deadline);
        if (newKeys.length != 1 || newKeys[0] != SshConstants.SSH_MSG_NEWKEYS) {
            throw new ReplayException("expected NEWKEYS from the recovery server, got " + ReplayConnection.describe(newKeys));
        }
    }

    private static void awaitAnswer(ReplayConnection c, ReplayPlan.Step s, long deadline) throws IOException, ReplayException {
        while (s.expect() != ReplayPlan.Expect.NOTHING) {
            byte[] msg = c.next(deadline);
            int cmd = msg[0] & 0xff;
            Buffer b = new ByteArrayBuffer(msg, 1, msg.length - 1, true);
            failOnDisconnect(cmd, b);
            switch (s.expect()) {
                case OPEN_CONFIRMATION -> {
                    if (cmd == SshConstants.SSH_MSG_CHANNEL_OPEN_FAILURE) {
                        throw new ReplayException(s.description() + ": refused by the recovery server");
                    }
                    if (cmd == SshConstants.SSH_MSG_CHANNEL_OPEN_CONFIRMATION) {
                        b.getInt();
                        int serverId = b.getInt();
                        if (serverId != s.channel()) {
                            throw new ReplayException(s.description() + ": the recovery server gave it id " + serverId);
                        }
                        return;
                    }
                }
                case CHANNEL_REPLY -> {
                    if (cmd == SshConstants.SSH_MSG_CHANNEL_SUCCESS || cmd == SshConstants.SSH_MSG_CHANNEL_FAILURE) {
                        return;
                    }
                }
                case GLOBAL_REPLY -> {
                    if (cmd == SshConstants.SSH_MSG_REQUEST_SUCCESS || cmd == SshConstants.SSH_MSG_REQUEST_FAILURE) {
                        return;
                    }
                }
                case CHANNEL_CLOSE -> {
                    if (cmd == SshConstants.SSH_MSG_CHANNEL_CLOSE) {
                        return;
                    }
                }
                default -> {
                    return;
                }
            }
        }
    }

    private static void failOnDisconnect(int cmd, Buffer b) throws ReplayException {
        if (cmd == SshConstants.SSH_MSG_DISCONNECT) {
            int code = b.getInt();
            throw new ReplayException("the recovery server disconnected (" + code + "): " + b.getString());
        }
    }

    /** The original connection's final state, as the monitor saw it. */
    static ReplayEnd replayEnd(ReplayPlan plan, String noticeExtra, long nowMicros) throws ReplayException {
        SshSessionModel m = plan.model();
        ConnectionSnapshot s = plan.snapshot();
        ServerPacketCompletion completion = ServerPacketCompletion.of(m.serverToClient(), m.serverPartialPacket());
        if (completion.after() != null) {
            log.info("{} session {}: the crash cut a server packet after {} bytes; sending its last {} bytes in the "
                            + "primary's place ({} data bytes it never sent are lost, sent as NUL)", s.key(),
                    m.sessionIdFingerprint(), m.serverPartialPacket().length, completion.rest().length, completion.filled());
        }
        List<ReplayEnd.ChannelState> channels = new ArrayList<>();
        for (ChannelModel ch : m.channels()) {
            int flags = (ch.eofFromClient() ? ReplayEnd.ChannelState.EOF_FROM_CLIENT : 0)
                    | (ch.eofFromServer() ? ReplayEnd.ChannelState.EOF_FROM_SERVER : 0)
                    | (ch.closeFromClient() ? ReplayEnd.ChannelState.CLOSE_FROM_CLIENT : 0)
                    | (ch.closeFromServer() ? ReplayEnd.ChannelState.CLOSE_FROM_SERVER : 0);
            long clientWindow = ch.clientWindow() - (completion.recipient() == ch.clientId() ? completion.dataLength() : 0);
            channels.add(new ReplayEnd.ChannelState(ch.serverId(), ch.clientId(), Math.max(0, ch.serverWindow()),
                    ch.serverMaxPacket(), Math.max(0, clientWindow), ch.clientMaxPacket(), flags));
        }
        CipherPosition outbound = completion.after() != null ? completion.after() : m.serverToClient().position();
        return new ReplayEnd(
                new ReplayEnd.Direction(m.clientToServer().keys(), m.clientToServer().position()),
                new ReplayEnd.Direction(m.serverToClient().keys(), outbound),
                channels,
                new ReplayEnd.TcpHandover(ConnectionRestorer.tcpState(s, completion.rest(), nowMicros),
                        ConnectionRestorer.repairExit(s)),
                noticeExtra == null ? "" : noticeExtra, m.serverKexInitSent());
    }

    /**
     * The prefix's encrypted packets and the answer each must get, found by decrypting the prefix with the
     * replay keys: SERVICE_ACCEPT, an authentication answer (51, 52 or 60), a channel confirmation, a reply
     * to each want-reply request. The last authentication answer must be USERAUTH_SUCCESS.
     */
    static final class Census {
        /** One encrypted prefix packet: its bytes in the prefix, and the answers that complete it. */
        private record Packet(int start, int end, int command, int[] answers) {}

        int encryptedStart;
        int opens;
        private final List<Packet> packets = new ArrayList<>();

        static Census of(ReplayPlan plan) throws ReplayException {
            Census census = new Census();
            byte[] prefix = plan.prefix();
            int pos = indexOf(prefix, (byte) '\n') + 1;
            long plaintextPackets = 0;
            while (true) {
                if (pos + 5 > prefix.length) {
                    throw new ReplayException("the prefix ends inside the key exchange");
                }
                int len = ((prefix[pos] & 0xff) << 24) | ((prefix[pos + 1] & 0xff) << 16) | ((prefix[pos + 2] & 0xff) << 8)
                        | (prefix[pos + 3] & 0xff);
                int cmd = prefix[pos + 5] & 0xff;
                pos += 4 + len;
                plaintextPackets++;
                if (cmd == SshConstants.SSH_MSG_NEWKEYS) {
                    break;
                }
            }
            census.encryptedStart = pos;
            int[] at = {pos};
            try {
                SshPacketDecoder d = new SshPacketDecoder(plan.replayKeys().clientToServer(),
                        new CipherPosition(plan.firstKex().strictKex() ? 0 : plaintextPackets, 0));
                d.feed(prefix, pos, prefix.length - pos, (seq, p, o, l, wire) -> {
                    Buffer b = new ByteArrayBuffer(p, o + 1, l - 1, true);
                    int cmd = p[o] & 0xff;
                    int[] answers = switch (cmd) {
                        case SshConstants.SSH_MSG_SERVICE_REQUEST -> new int[] {SshConstants.SSH_MSG_SERVICE_ACCEPT};
                        case SshConstants.SSH_MSG_USERAUTH_REQUEST, SshConstants.SSH_MSG_USERAUTH_INFO_RESPONSE ->
                                new int[] {SshConstants.SSH_MSG_USERAUTH_FAILURE, SshConstants.SSH_MSG_USERAUTH_SUCCESS,
                                        SshConstants.SSH_MSG_USERAUTH_INFO_REQUEST};
                        case SshConstants.SSH_MSG_CHANNEL_OPEN -> {
                            census.opens++;
                            yield new int[] {SshConstants.SSH_MSG_CHANNEL_OPEN_CONFIRMATION, SshConstants.SSH_MSG_CHANNEL_OPEN_FAILURE};
                        }
                        case SshConstants.SSH_MSG_CHANNEL_REQUEST -> {
                            b.getInt();
                            b.getString();
                            yield b.getBoolean() ? new int[] {SshConstants.SSH_MSG_CHANNEL_SUCCESS, SshConstants.SSH_MSG_CHANNEL_FAILURE}
                                    : new int[0];
                        }
                        case SshConstants.SSH_MSG_GLOBAL_REQUEST -> {
                            b.getString();
                            yield b.getBoolean() ? new int[] {SshConstants.SSH_MSG_REQUEST_SUCCESS, SshConstants.SSH_MSG_REQUEST_FAILURE}
                                    : new int[0];
                        }
                        default -> new int[0];
                    };
                    census.packets.add(new Packet(at[0], at[0] + wire, cmd, answers));
                    at[0] += wire;
                    return true;
                });
                if (d.bytesBuffered() != 0 || !d.position().equals(plan.prefixEnd())) {
                    throw new ReplayException("the prefix does not end where the monitor says (" + d.position()
                            + " vs " + plan.prefixEnd() + ")");
                }
            } catch (PacketDecodingException e) {
                throw new ReplayException("the prefix does not decrypt with the first KEX record's keys: " + e.getMessage(), e);
            }
            return census;
        }

        /** Sends the encrypted prefix packet by packet, waiting for each answer; authentication must succeed. */
        void replay(ReplayConnection c, byte[] prefix, long deadline) throws IOException, ReplayException {
            boolean authenticated = false;
            int i = 0;
            while (i < packets.size()) {
                // Packets without an answer go together with the next one that has one.
                int j = i;
                while (j < packets.size() - 1 && packets.get(j).answers().length == 0) {
                    j++;
                }
                c.send(Arrays.copyOfRange(prefix, packets.get(i).start(), packets.get(j).end()));
                Packet awaited = packets.get(j);
                i = j + 1;
                if (awaited.answers().length == 0) {
                    break;
                }
                while (true) {
                    byte[] msg;
                    try {
                        msg = c.next(deadline);
                    } catch (IOException e) {
                        throw new ReplayException("no answer to the prefix's message " + awaited.command()
                                + (authenticated ? "" : " before USERAUTH_SUCCESS") + ": " + e.getMessage(), e);
                    }
                    int cmd = msg[0] & 0xff;
                    failOnDisconnect(cmd, new ByteArrayBuffer(msg, 1, msg.length - 1, true));
                    if (Arrays.stream(awaited.answers()).noneMatch(a -> a == cmd)) {
                        continue; // banners, EXT_INFO, hostkeys announcements, IGNORE: thrown away
                    }
                    if (cmd == SshConstants.SSH_MSG_USERAUTH_SUCCESS) {
                        authenticated = true;
                    }
                    break;
                }
            }
            if (!authenticated) {
                throw new ReplayException("the recovery server did not accept the replayed authentication "
                        + "(no USERAUTH_SUCCESS)");
            }
        }

        private static int indexOf(byte[] b, byte v) {
            for (int i = 0; i < b.length; i++) {
                if (b[i] == v) {
                    return i;
                }
            }
            return -1;
        }
    }
}
