package io.securejeebs.keyexport.primary;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import org.apache.sshd.common.AttributeRepository.AttributeKey;
import org.apache.sshd.server.session.ServerSession;

/**
 * The server side of a session's connection, as the user's environment (SSH_CONNECTION) reports it. A
 * session that was moved onto another socket (the recovery server continues a primary's session on a
 * connection it accepted elsewhere) sets {@link #SERVER_ADDRESS} to the address the client really
 * connected to, since its I/O session still reports the socket it started on.
 */
public final class SessionAddresses {
    /** The address the client connected to (the VIP and port 22), when the session's socket says otherwise. */
    public static final AttributeKey<InetSocketAddress> SERVER_ADDRESS = new AttributeKey<>();

    private SessionAddresses() {}

    public static SocketAddress serverAddress(ServerSession session) {
        InetSocketAddress moved = session.getAttribute(SERVER_ADDRESS);
        return moved != null ? moved : session.getIoSession().getLocalAddress();
    }
}
