package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.sshd.common.channel.PtyMode;
import org.apache.sshd.common.channel.RequestHandler;
import org.apache.sshd.server.channel.ChannelSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session channel that remembers whether the client asked for a pty, and takes only the client
 * environment variables the admin allows (like sshd's AcceptEnv); others are refused with a failure reply.
 */
public class UserChannelSession extends ChannelSession {
    private static final Logger log = LoggerFactory.getLogger(UserChannelSession.class);

    private final List<String> acceptEnv;
    private volatile boolean ptyRequested;

    public UserChannelSession(List<String> acceptEnv) {
        this.acceptEnv = List.copyOf(acceptEnv);
    }

    /** Whether a pty-req was accepted on this channel. */
    public boolean ptyRequested() {
        return ptyRequested;
    }

    /** Whether {@code name} is one of the accepted names or starts with an accepted {@code PREFIX*}. */
    static boolean accepted(List<String> acceptEnv, String name) {
        for (String pattern : acceptEnv) {
            if (pattern.endsWith("*") ? name.startsWith(pattern.substring(0, pattern.length() - 1)) : name.equals(pattern)) {
                return true;
            }
        }
        return false;
    }

    @Override
    protected RequestHandler.Result handleEnvParsed(String name, String value) throws IOException {
        if (!accepted(acceptEnv, name)) {
            log.debug("{}: refused environment variable {} (not in session.accept-env)", this, name);
            return RequestHandler.Result.ReplyFailure;
        }
        return super.handleEnvParsed(name, value);
    }

    @Override
    protected RequestHandler.Result handlePtyReqParsed(String term, int tColumns, int tRows, int tWidth, int tHeight,
            Map<PtyMode, Integer> ptyModes) throws IOException {
        RequestHandler.Result result = super.handlePtyReqParsed(term, tColumns, tRows, tWidth, tHeight, ptyModes);
        ptyRequested = true;
        return result;
    }
}
