package io.securejeebs.keyexport.probe;

import io.securejeebs.keyexport.export.ExportingServerSession;
import io.securejeebs.keyexport.export.KexExporter;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.sshd.common.channel.AbstractChannel;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.mac.Mac;
import org.apache.sshd.common.session.helpers.AbstractConnectionService;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.forward.TcpipServerChannel;

/**
 * TEST ONLY. An exporting session whose transport state the state probe can read: it notes, when each direction's
 * new keys are installed, which cipher and MAC they are for and (CTR) the counter they start from, and it reads
 * sequence numbers and cipher positions holding MINA's own decode and encode locks, so that no packet is half
 * processed in either direction while it looks (except an inbound packet whose bytes have not all arrived, which
 * it reports).
 *
 * <p>Lock order: decode, then encode, as MINA itself takes them (a handler running under the decode lock writes
 * packets under the encode lock). Both with a timeout: the decode lock is held while a key exchange is exported.
 */
public class ProbedServerSession extends ExportingServerSession {
    private static final Field GRACEFUL_STATE;

    static {
        try {
            GRACEFUL_STATE = AbstractChannel.class.getDeclaredField("gracefulState");
            GRACEFUL_STATE.setAccessible(true);
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError("MINA's AbstractChannel has no gracefulState: " + e.getMessage());
        }
    }

    /** What one direction's keys are, noted when they were installed. */
    private record Epoch(String cipher, String mac, byte[] ctrIv) {
        static final Epoch NONE = new Epoch("none", null, null);
    }

    private Epoch inEpoch = Epoch.NONE;   // guarded by decodeLock
    private Epoch outEpoch = Epoch.NONE;  // guarded by encodeLock
    /** The SFTP handles open in this session, by handle string, in the order opened ({@link ProbedSftpHandles}). */
    private final Map<String, ProbeDocument.SftpHandle> sftpHandles = new LinkedHashMap<>(); // guarded by itself

    public ProbedServerSession(ServerFactoryManager server, IoSession ioSession, KexExporter exporter) throws Exception {
        super(server, ioSession, exporter);
    }

    @Override
    protected void setInputEncoding() throws Exception {
        super.setInputEncoding(); // runs under the decode lock, while NEWKEYS from the client is handled
        inEpoch = epoch(inCipher, inMac, KexProposalOption.C2SENC, KexProposalOption.C2SMAC);
    }

    @Override
    protected void setOutputEncoding() throws Exception {
        super.setOutputEncoding(); // runs under the encode lock, right after our NEWKEYS was encoded
        outEpoch = epoch(outCipher, outMac, KexProposalOption.S2CENC, KexProposalOption.S2CMAC);
    }

    private Epoch epoch(Cipher cipher, Mac mac, KexProposalOption cipherOption, KexProposalOption macOption) {
        return new Epoch(getNegotiatedKexParameter(cipherOption),
                mac == null ? null : getNegotiatedKexParameter(macOption),
                CipherStateReader.ctrIv(cipher));
    }

    /** This session's state, read consistently; the transport fields are null if a lock stays busy. */
    public ProbeDocument.Session probe(Duration lockTimeout) {
        InetSocketAddress client = inet(getIoSession().getRemoteAddress());
        InetSocketAddress server = inet(getIoSession().getLocalAddress());
        String user = isAuthenticated() ? getUsername() : null;
        try {
            if (!decodeLock.tryLock(lockTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
                return failed(client, server, user, "the decode lock stayed busy for " + lockTimeout.toMillis() + " ms");
            }
            try {
                if (!encodeLock.tryLock(lockTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
                    return failed(client, server, user,
                            "the encode lock stayed busy for " + lockTimeout.toMillis() + " ms");
                }
                try {
                    return read(client, server, user);
                } finally {
                    encodeLock.unlock();
                }
            } finally {
                decodeLock.unlock();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failed(client, server, user, "interrupted");
        } catch (RuntimeException e) {
            return failed(client, server, user, e.toString());
        }
    }

    private ProbeDocument.Session read(InetSocketAddress client, InetSocketAddress server, String user) {
        if (!decodeLock.isHeldByCurrentThread() || !encodeLock.isHeldByCurrentThread()) {
            throw new IllegalStateException("read() needs both transport locks");
        }
        ProbeDocument.Direction c2s = new ProbeDocument.Direction(inEpoch.cipher, inEpoch.mac, seqi,
                CipherStateReader.blocks(inCipher, inEpoch.ctrIv));
        ProbeDocument.Direction s2c = new ProbeDocument.Direction(outEpoch.cipher, outEpoch.mac, seqo,
                CipherStateReader.blocks(outCipher, outEpoch.ctrIv));
        return new ProbeDocument.Session(client.getAddress().getHostAddress(), client.getPort(),
                server.getAddress().getHostAddress(), server.getPort(), fingerprint(sessionId), user, kexCount(),
                seqi, seqo, decoderState != 0, c2s, s2c, channels(), sftpHandles(), null);
    }

    private ProbeDocument.Session failed(InetSocketAddress client, InetSocketAddress server, String user, String why) {
        return new ProbeDocument.Session(client.getAddress().getHostAddress(), client.getPort(),
                server.getAddress().getHostAddress(), server.getPort(), fingerprint(sessionId), user, kexCount(),
                null, null, null, null, null, List.of(), sftpHandles(), why);
    }

    /** An SFTP subsystem of this session opened a handle (on its own thread). */
    void sftpOpened(String handle, boolean directory, String path) {
        synchronized (sftpHandles) {
            sftpHandles.put(handle, new ProbeDocument.SftpHandle(wireHex(handle), directory ? "directory" : "file", path, 0));
        }
    }

    /** A read or write of {@code length} bytes at {@code offset} was asked on a file handle. */
    void sftpAccessed(String handle, long offset, int length) {
        synchronized (sftpHandles) {
            sftpHandles.computeIfPresent(handle, (k, h) -> new ProbeDocument.SftpHandle(h.handle(), h.kind(), h.path(),
                    offset + length));
        }
    }

    void sftpClosed(String handle) {
        synchronized (sftpHandles) {
            sftpHandles.remove(handle);
        }
    }

    private List<ProbeDocument.SftpHandle> sftpHandles() {
        synchronized (sftpHandles) {
            return List.copyOf(sftpHandles.values());
        }
    }

    /** A handle string as the client holds it: its bytes on the wire (an SSH string, UTF-8), in hex. */
    private static String wireHex(String handle) {
        return HexFormat.of().formatHex(handle.getBytes(StandardCharsets.UTF_8));
    }

    private List<ProbeDocument.Channel> channels() {
        AbstractConnectionService service;
        try {
            service = getService(AbstractConnectionService.class);
        } catch (IllegalStateException notYet) {
            return List.of(); // before authentication there is no connection service
        }
        List<ProbeDocument.Channel> out = new ArrayList<>();
        for (Channel ch : service.getChannels()) {
            boolean closeSent = false;
            boolean closeReceived = false;
            boolean eofSent = false;
            boolean eofReceived = false;
            if (ch instanceof AbstractChannel a) {
                String state = String.valueOf(gracefulState(a));
                closeSent = state.equals("CloseSent") || state.equals("Closed");
                closeReceived = state.equals("CloseReceived") || state.equals("Closed");
                eofSent = a.isEofSent();
                eofReceived = a.isEofSignalled();
            }
            var local = ch.getLocalWindow();
            var remote = ch.getRemoteWindow();
            out.add(new ProbeDocument.Channel(ch.getChannelId(), ch.getRecipient(), type(ch), local.getSize(),
                    local.getMaxSize(), local.getPacketSize(), remote.getSize(), remote.getPacketSize(), eofSent,
                    eofReceived, closeSent, closeReceived));
        }
        out.sort(Comparator.comparingLong(ProbeDocument.Channel::localId));
        return out;
    }

    private static Object gracefulState(AbstractChannel channel) {
        try {
            return ((AtomicReference<?>) GRACEFUL_STATE.get(channel)).get();
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String type(Channel ch) {
        if (ch instanceof ChannelSession) {
            return "session";
        }
        if (ch instanceof TcpipServerChannel t) {
            return t.getTcpipChannelType().getName();
        }
        return ch.getClass().getSimpleName();
    }

    /** The first 8 hex digits of SHA-256(session id): enough to match sessions, useless to an attacker. */
    static String fingerprint(byte[] sessionId) {
        if (sessionId == null) {
            return null;
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(sessionId);
            return HexFormat.of().formatHex(d, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static InetSocketAddress inet(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i;
        }
        throw new IllegalStateException("not an IP connection: " + a);
    }
}
