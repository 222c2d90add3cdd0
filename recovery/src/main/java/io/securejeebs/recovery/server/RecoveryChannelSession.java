package io.securejeebs.recovery.server;

import io.securejeebs.cpr.ReplayEnd.ChannelState;
import io.securejeebs.keyexport.primary.UserChannelSession;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.channel.RequestHandler;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.shell.ShellFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A "session" channel of the recovery server. On a login session it is exactly the primary's
 * {@link UserChannelSession}. On a {@link RecoverySession} that is still replaying, shell, exec and subsystem
 * requests are answered as the primary answered them (success) but nothing is started: the original command
 * ran on the primary and must not run twice. pty-req, env and window-change are handled as usual, so the
 * terminal type, size, modes and environment are remembered for the shell started after REPLAY_END.
 */
public class RecoveryChannelSession extends UserChannelSession {
    private static final Logger log = LoggerFactory.getLogger(RecoveryChannelSession.class);

    /** What the replay asked this channel to run: shell, exec or subsystem; null if nothing yet. */
    private volatile String replayedRequest;
    private volatile String replayedDetail = "";

    public RecoveryChannelSession(List<String> acceptEnv) {
        super(acceptEnv);
    }

    private boolean replaying() {
        return getSession() instanceof RecoverySession r && r.isReplaying();
    }

    @Override
    protected RequestHandler.Result handleShellParsed(String request) throws IOException {
        if (replaying()) {
            return suppressed(request, "");
        }
        return super.handleShellParsed(request);
    }

    @Override
    protected RequestHandler.Result handleExecParsed(String request, String commandLine) throws IOException {
        if (replaying()) {
            return suppressed(request, commandLine.length() + "-character command");
        }
        return super.handleExecParsed(request, commandLine);
    }

    @Override
    protected RequestHandler.Result handleSubsystemParsed(String request, String subsystem) throws IOException {
        if (replaying()) {
            return suppressed(request, subsystem);
        }
        return super.handleSubsystemParsed(request, subsystem);
    }

    private RequestHandler.Result suppressed(String request, String detail) {
        replayedRequest = request;
        replayedDetail = detail;
        log.debug("{}: replayed '{}' request answered, nothing started", this, request);
        return RequestHandler.Result.ReplySuccess;
    }

    /** shell, exec or subsystem if the replay made one of those requests on this channel, else null. */
    String replayedRequest() {
        return replayedRequest;
    }

    String replayedDetail() {
        return replayedDetail;
    }

    /** Sets the EOF state the original connection reached (the windows are set by the caller). */
    void installEof(ChannelState state) {
        if (state.has(ChannelState.EOF_FROM_CLIENT)) {
            eofReceived.set(true);
        }
        if (state.has(ChannelState.EOF_FROM_SERVER)) {
            eofSent.set(true);
        }
    }

    /**
     * Read thread, at REPLAY_END: creates the fresh login shell and wires its streams, so that data the client
     * sends from now on reaches it (it is buffered until the process starts). Data the replay may have sent
     * to the old shell is dropped: it was the old shell's.
     */
    void prepareFreshShell() throws IOException {
        receiverBuffer = null;
        ShellFactory factory = getServerSession().getFactoryManager().getShellFactory();
        if (factory == null) {
            throw new IOException("the recovery server has no shell factory");
        }
        Command shell = factory.createShell(this);
        if (shell == null) {
            throw new IOException("the shell factory made no shell");
        }
        commandInstance = shell;
        RequestHandler.Result r = prepareChannelCommand(Channel.CHANNEL_SHELL, shell);
        if (r != RequestHandler.Result.ReplySuccess) {
            throw new IOException("the fresh shell could not be prepared (" + r + ")");
        }
        commandStarted.set(true);
    }

    /** Writes the notice to the user's terminal, then starts the shell prepared by {@link #prepareFreshShell}. */
    void startFreshShell(String notice) throws IOException {
        boolean pty = ptyRequested();
        String text = pty ? "\r\n" + notice.replace("\n", "\r\n") : notice;
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
        commandInstance.start(this, getEnvironment());
    }

    /**
     * An exec or subsystem whose process died with the primary: a line on the channel's stderr saying so (when
     * the client's window has room for it), then exit status, EOF and CLOSE. A script that ignores {@code $?}
     * still gets the word on its stderr.
     *
     * @return whether the stderr line was sent
     */
    boolean closeLostCommand(int exitStatus, String message) throws IOException {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        boolean told = false;
        if (!eofSent.get() && getRemoteWindow().getSize() >= text.length
                && getRemoteWindow().getPacketSize() >= text.length) {
            getRemoteWindow().consume(text.length);
            org.apache.sshd.common.util.buffer.Buffer b = getSession().createBuffer(
                    org.apache.sshd.common.SshConstants.SSH_MSG_CHANNEL_EXTENDED_DATA, text.length + 16);
            b.putUInt(getRecipient());
            b.putUInt(org.apache.sshd.common.SshConstants.SSH_EXTENDED_DATA_STDERR);
            b.putBytes(text);
            writePacket(b);
            told = true;
        }
        closeShell(exitStatus, false);
        return told;
    }
}
