package io.securejeebs.keyexport.primary;

import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.net.SshdSocketAddress;
import org.apache.sshd.server.forward.ForwardingFilter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwarding policy: direct-tcpip (client-side {@code ssh -L}/{@code -W}) only when the config switches it
 * on; remote forwarding ({@code -R}), agent and X11 forwarding never (the appliance can re-dial a
 * direct-tcpip forward after a failover, not the others).
 */
final class PrimaryForwardingFilter implements ForwardingFilter {
    private static final Logger log = LoggerFactory.getLogger(PrimaryForwardingFilter.class);
    private final boolean directTcpip;

    PrimaryForwardingFilter(boolean directTcpip) {
        this.directTcpip = directTcpip;
    }

    @Override
    public boolean canForwardAgent(Session session, String requestType) {
        return false;
    }

    @Override
    public boolean canForwardX11(Session session, String requestType) {
        return false;
    }

    @Override
    public boolean canListen(SshdSocketAddress address, Session session) {
        log.info("refused remote forwarding of {} for {}", address, session.getUsername());
        return false;
    }

    @Override
    public boolean canConnect(Type type, SshdSocketAddress address, Session session) {
        boolean allowed = directTcpip && type == Type.Direct;
        if (!allowed) {
            log.info("refused {} to {} for {} (forwarding.direct-tcpip is off)", type.getName(), address,
                    session.getUsername());
        } else {
            log.debug("direct-tcpip to {} for {}", address, session.getUsername());
        }
        return allowed;
    }
}
