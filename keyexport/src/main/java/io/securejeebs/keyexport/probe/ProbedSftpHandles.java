package io.securejeebs.keyexport.probe;

import org.apache.sshd.server.session.ServerSession;
import org.apache.sshd.sftp.server.DirectoryHandle;
import org.apache.sshd.sftp.server.FileHandle;
import org.apache.sshd.sftp.server.Handle;
import org.apache.sshd.sftp.server.SftpEventListener;

/**
 * TEST ONLY. Tells each {@link ProbedServerSession} which SFTP handles its subsystems hold open, and where the
 * latest read or write on each file was asked, so that the state probe can report them: the oracle of the
 * appliance's SFTP hook. Registered on the primary's SFTP subsystem factory only when {@code probe.socket} is
 * set. It never sees or keeps file data beyond the offsets and lengths.
 */
public final class ProbedSftpHandles implements SftpEventListener {
    @Override
    public void open(ServerSession session, String remoteHandle, Handle localHandle) {
        if (session instanceof ProbedServerSession p) {
            p.sftpOpened(remoteHandle, localHandle instanceof DirectoryHandle, String.valueOf(localHandle.getFile()));
        }
    }

    @Override
    public void reading(ServerSession session, String remoteHandle, FileHandle localHandle, long offset, byte[] data,
                        int dataOffset, int dataLen) {
        if (session instanceof ProbedServerSession p) {
            p.sftpAccessed(remoteHandle, offset, dataLen);
        }
    }

    @Override
    public void writing(ServerSession session, String remoteHandle, FileHandle localHandle, long offset, byte[] data,
                        int dataOffset, int dataLen) {
        if (session instanceof ProbedServerSession p) {
            p.sftpAccessed(remoteHandle, offset, dataLen);
        }
    }

    @Override
    public void closed(ServerSession session, String remoteHandle, Handle localHandle, Throwable thrown) {
        if (session instanceof ProbedServerSession p) {
            p.sftpClosed(remoteHandle);
        }
    }
}
