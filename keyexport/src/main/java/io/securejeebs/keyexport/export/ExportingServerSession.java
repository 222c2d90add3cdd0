package io.securejeebs.keyexport.export;

import io.securejeebs.keyexport.KexRecord;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.SshException;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.common.kex.KeyExchange;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.session.ServerSessionImpl;

/**
 * A MINA server session that builds a {@link KexRecord} for every key exchange, the initial one and each
 * rekey, and hands it to the {@link KexExporter} inside {@link #checkKeys()}: K and H exist then, and the
 * server's NEWKEYS has not been sent (MINA calls {@code checkKeys()} then {@code sendNewKeys()} in
 * {@code AbstractSession.handleKexMessage}).
 *
 * <p>What is captured, and why it is exactly what went into H (read in MINA 2.20's sources):
 * <ul>
 * <li>I_C, I_S: {@code getClientKexData()} / {@code getServerKexData()}, the very arrays
 *     {@code performKexNegotiation()} passes to {@code KeyExchange.init(v_s, v_c, i_s, i_c)}.</li>
 * <li>V_C, V_S: the {@code clientVersion}/{@code serverVersion} strings; MINA hashes their UTF-8 bytes.</li>
 * <li>The client's KEX messages (30..49): every message MINA hands to {@code KeyExchange.next()} passes through
 *     {@link #handleKexMessage}, whose buffer has just had its opcode read, so the whole payload is
 *     {@code array()[rpos()-1 .. wpos())}. A wrongly guessed first_kex_packet_follows packet is dropped by MINA
 *     before this hook, so it is not recorded. For group exchange the request is recorded as sent, and
 *     {@code DHGEXServer} hashes the client's min/n/max from that very message (n alone for the old request 30).</li>
 * <li>The server's KEX replies (30..49, e.g. 31 and 33): {@link #preProcessEncodeBuffer} sees each outgoing
 *     plaintext payload at {@code [rpos, wpos)}; KEX messages are encoded synchronously, inside
 *     {@code KeyExchange.next()}, so they are all in before {@code checkKeys()}.</li>
 * <li>K: {@code kex.getK()} as MINA holds it; see {@link SharedSecretEncodings} for mpint vs string.</li>
 * <li>H: {@code kex.getH()}. The session id is H of the first exchange; MINA only stores it in
 *     {@code prepareNewKeys()}, after this hook, so for ordinal 0 it is H itself.</li>
 * </ul>
 */
public class ExportingServerSession extends ServerSessionImpl {
    private final KexExporter exporter;
    private final Object captureLock = new Object();
    private final List<byte[]> clientKexMessages = new ArrayList<>();
    private final List<byte[]> serverKexMessages = new ArrayList<>();
    private int nextOrdinal;
    private volatile String unprotectedReason;

    public ExportingServerSession(ServerFactoryManager server, IoSession ioSession, KexExporter exporter)
            throws Exception {
        super(server, ioSession);
        this.exporter = exporter;
    }

    @Override
    protected void handleKexMessage(int cmd, Buffer buffer) throws Exception {
        int start = buffer.rpos() - 1;
        byte[] payload = Arrays.copyOfRange(buffer.array(), start, buffer.wpos());
        if ((payload[0] & 0xFF) != cmd) {
            throw new SshException(SshConstants.SSH2_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "internal error: KEX message " + cmd + " not where expected in its buffer");
        }
        synchronized (captureLock) {
            clientKexMessages.add(payload);
        }
        try {
            super.handleKexMessage(cmd, buffer);
        } catch (KexExporter.ExportRefusedException e) {
            // thrown from checkKeys(), before sendNewKeys(): MINA disconnects with this code and message
            throw new SshException(SshConstants.SSH2_DISCONNECT_KEY_EXCHANGE_FAILED, e.getMessage());
        }
    }

    @Override
    protected Buffer preProcessEncodeBuffer(int cmd, Buffer buffer) throws IOException {
        Buffer out = super.preProcessEncodeBuffer(cmd, buffer);
        if (cmd >= SshConstants.SSH_MSG_KEX_FIRST && cmd <= SshConstants.SSH_MSG_KEX_LAST) {
            byte[] payload = Arrays.copyOfRange(out.array(), out.rpos(), out.wpos());
            synchronized (captureLock) {
                serverKexMessages.add(payload);
            }
        }
        return out;
    }

    @Override
    protected void checkKeys() {
        super.checkKeys();
        exporter.export(this, buildRecord());
    }

    private KexRecord buildRecord() {
        KeyExchange kex = this.kex;
        byte[] k;
        byte[] h;
        try {
            k = kex.getK();
            h = kex.getH();
        } catch (Exception e) {
            throw new IllegalStateException("key exchange " + kex.getName() + " has no K or H", e);
        }
        if (k == null || h == null) {
            throw new IllegalStateException("key exchange " + kex.getName() + " finished without K or H");
        }
        List<byte[]> fromClient;
        List<byte[]> fromServer;
        int ordinal;
        synchronized (captureLock) {
            fromClient = List.copyOf(clientKexMessages);
            fromServer = List.copyOf(serverKexMessages);
            clientKexMessages.clear();
            serverKexMessages.clear();
            ordinal = nextOrdinal++;
        }
        byte[] sid = sessionId != null ? sessionId.clone() : h.clone();
        return new KexRecord(
                exporter.primaryId(),
                inet(getIoSession().getRemoteAddress()),
                inet(getIoSession().getLocalAddress()),
                ordinal,
                kex.getName(),
                kex.getHash().getAlgorithm(),
                clientVersion,
                serverVersion,
                getClientKexData().clone(),
                getServerKexData().clone(),
                fromClient,
                fromServer,
                k.clone(),
                SharedSecretEncodings.of(kex.getName()),
                h.clone(),
                sid,
                strictKex);
    }

    private static InetSocketAddress inet(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i;
        }
        throw new IllegalStateException("not an IP connection: " + a);
    }

    /** How many key exchanges reached the export point so far (the initial one and each rekey): the next ordinal. */
    public int kexCount() {
        synchronized (captureLock) {
            return nextOrdinal;
        }
    }

    /** Marks the session unprotected; true the first time. */
    boolean markUnprotected(String reason) {
        synchronized (captureLock) {
            if (unprotectedReason != null) {
                return false;
            }
            unprotectedReason = reason;
            return true;
        }
    }

    /** Why this session is unprotected (a key exchange could not be exported), or null while it is protected. */
    public String unprotectedReason() {
        return unprotectedReason;
    }

    /** client address:port -> server address:port */
    public String describeConnection() {
        return addr(getIoSession().getRemoteAddress()) + "->" + addr(getIoSession().getLocalAddress());
    }

    private static String addr(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i.getAddress().getHostAddress() + ":" + i.getPort();
        }
        return String.valueOf(a);
    }
}
