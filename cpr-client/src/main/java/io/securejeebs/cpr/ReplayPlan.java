package io.securejeebs.cpr;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.KexRecordException;
import io.securejeebs.keyexport.kex.NegotiatedAlgorithms;
import io.securejeebs.keyexport.kex.SessionKeys;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.SshSessionModel;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * How one SSH session is rebuilt on the recovery server (DESIGN §4 step 4), in three parts:
 * <ol>
 * <li>the verbatim prefix: the client's ciphertext from its identification line through the setup
 *     messages, replayed byte for byte against the recorded key exchange, so the recovery server's
 *     inbound state matches by construction and it re-verifies the user's authentication itself;</li>
 * <li>the controlled part: the state-setting messages sent after the prefix (later channel opens and
 *     their requests, window changes, global requests), re-encrypted under the replay transport; a
 *     channel id that was used and closed since is consumed with an empty session open and a close, so
 *     the recovery server hands out the same ids;</li>
 * <li>REPLAY_END, with the original connection's final transport state, the channel windows and the TCP
 *     state.</li>
 * </ol>
 * Rekeys are not replayed: REPLAY_END carries the latest keys.
 */
public final class ReplayPlan {
    /** A client message of the controlled part and the answer it must get. */
    public record Step(String description, byte[] payload, Expect expect, int channel) {}

    /** What the recovery server must answer to a step. */
    public enum Expect {
        /** CHANNEL_OPEN_CONFIRMATION whose sender channel is {@link Step#channel()}. */
        OPEN_CONFIRMATION,
        /** CHANNEL_SUCCESS or CHANNEL_FAILURE for channel {@link Step#channel()}'s client id. */
        CHANNEL_REPLY,
        /** REQUEST_SUCCESS or REQUEST_FAILURE. */
        GLOBAL_REPLY,
        /** CHANNEL_CLOSE back for that channel. */
        CHANNEL_CLOSE,
        NOTHING
    }

    /** Client channel ids for the placeholder opens that consume ids of channels closed since. */
    private static final int PLACEHOLDER_CLIENT_ID = 0x7fff0000;

    private final ConnectionSnapshot snapshot;
    private final SshSessionModel model;
    private final SessionKeys replayKeys;
    private final List<Step> controlled;

    private ReplayPlan(ConnectionSnapshot snapshot, SshSessionModel model, SessionKeys replayKeys, List<Step> controlled) {
        this.snapshot = snapshot;
        this.model = model;
        this.replayKeys = replayKeys;
        this.controlled = controlled;
    }

    /**
     * @throws ReplayException when the session cannot be replayed, with the reason
     */
    public static ReplayPlan of(ConnectionSnapshot snapshot) throws ReplayException {
        if (!snapshot.recoverable()) {
            throw new ReplayException("unrecoverable: " + snapshot.unrecoverableReason());
        }
        if (!(snapshot.resume() instanceof SshSessionModel model)) {
            throw new ReplayException("not an SSH session: " + snapshot.protocol());
        }
        KexRecord first = model.firstKex();
        if (first == null || model.prefixEndPosition() == null || model.prefixLength() == 0) {
            throw new ReplayException("no complete setup prefix to replay");
        }
        if (model.user() == null) {
            throw new ReplayException("the session never authenticated");
        }
        SessionKeys keys;
        try {
            keys = SessionKeys.derive(first, NegotiatedAlgorithms.of(first.clientKexInit(), first.serverKexInit()));
        } catch (KexRecordException e) {
            throw new ReplayException("first KEX record: " + e.getMessage());
        }
        return new ReplayPlan(snapshot, model, keys, controlledPart(model));
    }

    private static List<Step> controlledPart(SshSessionModel model) throws ReplayException {
        List<Step> steps = new ArrayList<>();
        Map<Integer, ChannelModel> open = new TreeMap<>();
        for (ChannelModel ch : model.channels()) {
            open.put(ch.serverId(), ch);
        }
        // Channels opened in the prefix and closed since: the prefix re-opens them, so close them again.
        for (int id = 0; id <= model.prefixMaxChannelId(); id++) {
            if (!open.containsKey(id)) {
                steps.add(new Step("close channel " + id + " (closed before the crash)", channelClose(id),
                        Expect.CHANNEL_CLOSE, id));
            }
        }
        for (byte[] global : model.globalRequests()) {
            steps.add(new Step("global request " + requestName(global, false), global,
                    wantsReply(global, false) ? Expect.GLOBAL_REPLY : Expect.NOTHING, -1));
        }
        Set<Integer> usedClientIds = new HashSet<>();
        for (ChannelModel ch : model.channels()) {
            usedClientIds.add(ch.clientId());
        }
        int placeholder = PLACEHOLDER_CLIENT_ID;
        for (int id = model.prefixMaxChannelId() + 1; id < model.nextServerChannelId(); id++) {
            ChannelModel ch = open.get(id);
            if (ch == null) {
                while (usedClientIds.contains(placeholder)) {
                    placeholder++;
                }
                steps.add(new Step("consume channel id " + id + " (closed before the crash)",
                        sessionOpen(placeholder++), Expect.OPEN_CONFIRMATION, id));
                steps.add(new Step("close channel " + id, channelClose(id), Expect.CHANNEL_CLOSE, id));
                continue;
            }
            steps.add(new Step("open " + ch.type() + " channel " + id, ch.openPayload(), Expect.OPEN_CONFIRMATION, id));
        }
        for (ChannelModel ch : model.channels()) {
            for (byte[] request : ch.requestsAfterPrefix()) {
                steps.add(new Step(requestName(request, true) + " on channel " + ch.serverId(), request,
                        wantsReply(request, true) ? Expect.CHANNEL_REPLY : Expect.NOTHING, ch.serverId()));
            }
        }
        return steps;
    }

    private static byte[] channelClose(int serverId) {
        Buffer b = new ByteArrayBuffer(5);
        b.putByte(SshConstants.SSH_MSG_CHANNEL_CLOSE);
        b.putUInt(serverId);
        return b.getCompactData();
    }

    private static byte[] sessionOpen(int clientId) {
        Buffer b = new ByteArrayBuffer(32);
        b.putByte(SshConstants.SSH_MSG_CHANNEL_OPEN);
        b.putString("session");
        b.putUInt(clientId);
        b.putUInt(0);
        b.putUInt(32768);
        return b.getCompactData();
    }

    private static String requestName(byte[] payload, boolean channel) {
        Buffer b = new ByteArrayBuffer(payload, 1, payload.length - 1, true);
        if (channel) {
            b.getInt();
        }
        return b.getString();
    }

    private static boolean wantsReply(byte[] payload, boolean channel) {
        Buffer b = new ByteArrayBuffer(payload, 1, payload.length - 1, true);
        if (channel) {
            b.getInt();
        }
        b.getString();
        return b.getBoolean();
    }

    public ConnectionSnapshot snapshot() {
        return snapshot;
    }

    public SshSessionModel model() {
        return model;
    }

    public KexRecord firstKex() {
        return model.firstKex();
    }

    public byte[] sessionId() {
        return model.firstKex().sessionId();
    }

    public byte[] prefix() {
        return model.prefix();
    }

    /** The client-to-server cipher position right after the prefix, where the controlled part continues. */
    public CipherPosition prefixEnd() {
        return model.prefixEndPosition();
    }

    /** The keys of the replay transport (the first key exchange's, replayed). */
    public SessionKeys replayKeys() {
        return replayKeys;
    }

    public List<Step> controlled() {
        return controlled;
    }

    @Override
    public String toString() {
        return "ReplayPlan[" + snapshot.key() + " session " + model.sessionIdFingerprint() + " user " + model.user()
                + ": prefix " + model.prefixLength() + " B / " + model.prefixPackets() + " packets, "
                + controlled.size() + " controlled step(s), " + model.channels().size() + " channel(s)]";
    }
}
