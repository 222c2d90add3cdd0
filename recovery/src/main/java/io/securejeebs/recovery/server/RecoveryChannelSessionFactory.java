package io.securejeebs.recovery.server;

import io.securejeebs.keyexport.primary.UserChannelSessionFactory;
import java.util.List;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.session.Session;

/** "session" channels as {@link RecoveryChannelSession}s, on both of the recovery server's listeners. */
public class RecoveryChannelSessionFactory extends UserChannelSessionFactory {
    private final List<String> acceptEnv;

    public RecoveryChannelSessionFactory(List<String> acceptEnv) {
        super(acceptEnv);
        this.acceptEnv = List.copyOf(acceptEnv);
    }

    @Override
    public Channel createChannel(Session session) {
        return new RecoveryChannelSession(acceptEnv);
    }
}
