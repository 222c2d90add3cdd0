package io.securejeebs.recovery.server;

import java.io.IOException;
import org.apache.sshd.client.future.OpenFuture;
import org.apache.sshd.common.channel.ChannelFactory;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.net.SshdSocketAddress;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.channel.AbstractServerChannel;
import org.apache.sshd.server.forward.DirectTcpipFactory;
import org.apache.sshd.server.forward.ForwardingFilter;
import org.apache.sshd.server.forward.TcpForwardingFilter;

/**
 * A direct-tcpip channel ({@code ssh -L}, {@code -W}) opened again by a replay. The forwarded connection
 * ended with the primary: its far end was a socket of the dead host, and whatever protocol it carried (TLS, a
 * database session) has state that cannot be rebuilt. So the replay must not dial the target again: this
 * channel answers the open as the primary did (after the same forwarding policy check), carries nothing,
 * and at REPLAY_END is closed cleanly (EOF, then CLOSE), so that the client's application sees the end of
 * its stream and can connect again through the same session.
 */
final class ReplayedForwardChannel extends AbstractServerChannel {
    private String target = "?";

    ReplayedForwardChannel() {
        super(null);
    }

    /** direct-tcpip channels of the recovery server: dialled on login sessions, never during a replay. */
    static final class Factory implements ChannelFactory {
        @Override
        public String getName() {
            return DirectTcpipFactory.INSTANCE.getName();
        }

        @Override
        public Channel createChannel(Session session) throws IOException {
            if (session instanceof RecoverySession r && r.isReplaying()) {
                return new ReplayedForwardChannel();
            }
            return DirectTcpipFactory.INSTANCE.createChannel(session);
        }
    }

    /** host:port the original forward connected to. */
    String target() {
        return target;
    }

    @Override
    protected OpenFuture doInit(Buffer buffer) {
        String host = buffer.getString();
        int port = buffer.getInt();
        target = host + ":" + port;
        ForwardingFilter filter = getSession().getFactoryManager() instanceof ServerFactoryManager m
                ? m.getForwardingFilter() : null;
        if (filter == null || !filter.canConnect(TcpForwardingFilter.Type.Direct, new SshdSocketAddress(host, port),
                getSession())) {
            // the primary has the same policy: it refused this open too, and the replay expects that answer
            OpenFuture refused = new org.apache.sshd.client.future.DefaultOpenFuture(this, this);
            refused.setException(new org.apache.sshd.common.channel.exception.SshChannelOpenException(getChannelId(),
                    org.apache.sshd.common.SshConstants.SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, "forwarding refused"));
            return refused;
        }
        return super.doInit(buffer);
    }

    @Override
    protected void doWriteData(byte[] data, int off, long len) throws IOException {
        // nothing listens: the forwarded connection is gone (the channel is being closed)
    }

    @Override
    protected void doWriteExtendedData(byte[] data, int off, long len) throws IOException {
        // likewise
    }

    /** EOF, then CLOSE: the client's end of the forward sees a clean end of stream. */
    void closeCleanly() throws IOException {
        sendEof();
        close(false);
    }
}
