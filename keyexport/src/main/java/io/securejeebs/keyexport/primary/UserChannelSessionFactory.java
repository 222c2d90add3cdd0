package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.util.List;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.server.channel.ChannelSessionFactory;

/** "session" channels as {@link UserChannelSession}s. */
public class UserChannelSessionFactory extends ChannelSessionFactory {
    private final List<String> acceptEnv;

    public UserChannelSessionFactory(List<String> acceptEnv) {
        this.acceptEnv = List.copyOf(acceptEnv);
    }

    @Override
    public Channel createChannel(Session session) throws IOException {
        return new UserChannelSession(acceptEnv);
    }
}
