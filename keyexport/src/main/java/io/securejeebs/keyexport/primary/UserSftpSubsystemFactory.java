package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.nio.file.FileSystem;
import org.apache.sshd.common.util.GenericUtils;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.sftp.server.SftpErrorStatusDataHandler;
import org.apache.sshd.sftp.server.SftpFileSystemAccessor;
import org.apache.sshd.sftp.server.SftpSubsystem;
import org.apache.sshd.sftp.server.SftpSubsystemConfigurator;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;
import org.apache.sshd.sftp.server.UnsupportedAttributePolicy;
import org.apache.sshd.common.util.threads.CloseableExecutorService;
import org.apache.sshd.server.channel.ChannelDataReceiver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The "sftp" subsystem on the real filesystem, with the logged-in USER's rights.
 *
 * <p>MINA's {@link SftpSubsystem} does all its file work on one thread of its own: {@code start()} submits
 * the subsystem's {@code run()} loop to a fresh single-thread executor, and every request is processed
 * there, handles included (they are closed at the end of that loop). {@link UserSftpSubsystem#run()} makes
 * that thread take the user's filesystem credentials ({@link ThreadFilesystemCredentials}: fsuid, fsgid,
 * supplementary groups; root's file capabilities drop with the fsuid) before the first request, and stops
 * the subsystem if it cannot. So the kernel checks every open, stat, mkdir, rename, chmod or chown of the
 * session against the user, exactly as for a process of theirs; created files belong to the user.
 *
 * <p>Limits of this design, stated plainly: the thread's real uid stays 0, so anything on it that does
 * not go through filesystem permission checks (e.g. raising resource limits) would still be root's; the
 * SFTP code does none of that. pam_limits (e.g. a file size limit) is not applied to SFTP. Classes loaded
 * for the first time on that thread are read with the user's rights, which is why the server installs
 * into world-readable directories.
 */
public final class UserSftpSubsystemFactory extends SftpSubsystemFactory {
    private static final Logger log = LoggerFactory.getLogger(UserSftpSubsystemFactory.class);

    @Override
    public Command createSubsystem(ChannelSession channel) throws IOException {
        String username = channel.getServerSession().getUsername();
        UnixAccount account = UnixAccount.lookup(username)
                .orElseThrow(() -> new IOException("user " + username + " no longer exists"));
        UserSftpSubsystem subsystem = new UserSftpSubsystem(channel, new PerSession(this), account);
        GenericUtils.forEach(getRegisteredListeners(), subsystem::addSftpEventListener);
        return subsystem;
    }

    /** The factory's settings, but always a fresh executor (and so a fresh thread) per subsystem. */
    private record PerSession(SftpSubsystemFactory factory) implements SftpSubsystemConfigurator {
        @Override
        public CloseableExecutorService getExecutorService() {
            return null; // SftpSubsystem then makes its own single-thread executor
        }

        @Override
        public SftpFileSystemAccessor getFileSystemAccessor() {
            return factory.getFileSystemAccessor();
        }

        @Override
        public UnsupportedAttributePolicy getUnsupportedAttributePolicy() {
            return factory.getUnsupportedAttributePolicy();
        }

        @Override
        public SftpErrorStatusDataHandler getErrorStatusDataHandler() {
            return factory.getErrorStatusDataHandler();
        }

        @Override
        public ChannelDataReceiver getErrorChannelDataReceiver() {
            return factory.getErrorChannelDataReceiver();
        }
    }

    static final class UserSftpSubsystem extends SftpSubsystem {
        private final UnixAccount account;

        UserSftpSubsystem(ChannelSession channel, SftpSubsystemConfigurator configurator, UnixAccount account) {
            super(channel, configurator);
            this.account = account;
            this.defaultDir = UserSessionLauncher.workingDirectory(account);
        }

        @Override
        public void setFileSystem(FileSystem fileSystem) {
            super.setFileSystem(fileSystem);
            this.defaultDir = fileSystem.getPath(UserSessionLauncher.workingDirectory(account).toString());
        }

        @Override
        public void run() {
            try {
                ThreadFilesystemCredentials.assume(account);
            } catch (IOException | RuntimeException | LinkageError e) {
                log.error("sftp for {}: cannot take the user's filesystem credentials, refusing the subsystem: {}",
                        account.name(), e.getMessage());
                callback.onExit(1, "sftp is unavailable: the server could not take the user's file permissions", true);
                return;
            }
            log.info("sftp for {} from {}: started in {}", account.name(),
                    PamAuthenticator.describe(getServerSession().getClientAddress()), defaultDir);
            super.run();
        }
    }
}
