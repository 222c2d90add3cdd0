package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExporter;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.file.virtualfs.VirtualFileSystemFactory;
import org.apache.sshd.common.session.helpers.AbstractSession;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;
import org.apache.sshd.server.session.ServerSession;
import org.apache.sshd.common.session.ConnectionService;
import org.apache.sshd.common.session.helpers.AbstractConnectionService;

/**
 * TEST FIXTURE: a MINA SSH server on 127.0.0.1 whose sessions export a KEX record for every key exchange
 * (the real {@link ExportingSessionFactory}; the records stay in memory here, the database path is tested
 * in keyexport and end to end), with a shell and exec that echo their input, MINA's SFTP subsystem on the
 * directory {@code sftp-root} under the given one (its streams teed, {@link TeedSftpSubsystemFactory}), and
 * password "pw" for all.
 * It also reads the server session's internal state (seqi, seqo, channels and windows) to compare with
 * what the tracker learnt from the wire.
 */
final class RecordedSshServer implements AutoCloseable {
    final SshServer sshd;
    final List<KexRecord> records = new ArrayList<>();
    final TeedSftpSubsystemFactory sftp = new TeedSftpSubsystemFactory();
    /** What SFTP clients see as "/". */
    final Path sftpRoot;

    RecordedSshServer(Path dir) throws IOException {
        sshd = SshServer.setUpDefaultServer();
        sshd.setHost("127.0.0.1");
        sshd.setPort(0);
        sshd.setKeyPairProvider(new SimpleGeneratorHostKeyProvider(dir.resolve("hostkey")));
        sshd.setPasswordAuthenticator((user, password, session) -> "pw".equals(password));
        sshd.setKeyboardInteractiveAuthenticator(null);
        sshd.setShellFactory(channel -> new io.securejeebs.monitor.bench.EchoCommand());
        sshd.setCommandFactory((channel, command) -> new io.securejeebs.monitor.bench.EchoCommand());
        sftpRoot = Files.createDirectories(dir.resolve("sftp-root"));
        sshd.setFileSystemFactory(new VirtualFileSystemFactory(sftpRoot));
        sshd.setSubsystemFactories(List.of(sftp));
        KexExporter exporter = new KexExporter("test-primary", record -> {
            synchronized (records) {
                records.add(record);
                records.notifyAll();
            }
        }, Duration.ofSeconds(2), true);
        sshd.setSessionFactory(new ExportingSessionFactory(sshd, exporter));
        sshd.addSessionListener(exporter);
        sshd.start();
    }

    int port() {
        return sshd.getPort();
    }

    /** The record of key exchange {@code ordinal} of the only session, waiting up to 5 s for it. */
    KexRecord awaitRecord(int ordinal) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5000;
        synchronized (records) {
            while (true) {
                for (KexRecord r : records) {
                    if (r.ordinal() == ordinal) {
                        return r;
                    }
                }
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    return null;
                }
                records.wait(left);
            }
        }
    }

    ServerSession onlySession() {
        List<AbstractSession> sessions = sshd.getActiveSessions().stream().map(s -> (AbstractSession) s).toList();
        if (sessions.size() != 1) {
            throw new IllegalStateException(sessions.size() + " sessions");
        }
        return (ServerSession) sessions.get(0);
    }

    static long field(AbstractSession s, String name) {
        try {
            Field f = AbstractSession.class.getDeclaredField(name);
            f.setAccessible(true);
            return f.getLong(s);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What the server holds: seqi, seqo, user, and per channel: ids and both windows. */
    static String serverView(ServerSession session) {
        AbstractSession s = (AbstractSession) session;
        StringBuilder out = new StringBuilder();
        out.append("seqi=").append(field(s, "seqi")).append(" seqo=").append(field(s, "seqo"))
                .append(" user=").append(session.getUsername());
        AbstractConnectionService cs = (AbstractConnectionService) s.getService(ConnectionService.class);
        for (Channel ch : cs.getChannels().stream().sorted((a, b) -> Long.compare(a.getChannelId(), b.getChannelId())).toList()) {
            out.append(" [").append(ch.getChannelId()).append('/').append(ch.getRecipient())
                    .append(" local=").append(ch.getLocalWindow().getSize()).append('/').append(ch.getLocalWindow().getPacketSize())
                    .append(" remote=").append(ch.getRemoteWindow().getSize()).append('/').append(ch.getRemoteWindow().getPacketSize())
                    .append(']');
        }
        return out.toString();
    }

    /** The same rendering, from the tracker's model. */
    static String trackerView(SshSessionModel m) {
        StringBuilder out = new StringBuilder();
        out.append("seqi=").append(m.clientToServer().sequence()).append(" seqo=").append(m.serverToClient().sequence())
                .append(" user=").append(m.user());
        for (ChannelModel ch : m.channels()) {
            out.append(" [").append(ch.serverId()).append('/').append(ch.clientId())
                    .append(" local=").append(ch.serverWindow()).append('/').append(ch.serverMaxPacket())
                    .append(" remote=").append(ch.clientWindow()).append('/').append(ch.clientMaxPacket())
                    .append(']');
        }
        return out.toString();
    }

    @Override
    public void close() throws IOException {
        sshd.stop(true);
    }
}
