package io.securejeebs.keyexport.export;

import java.util.Objects;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.session.ServerSessionImpl;
import org.apache.sshd.server.session.SessionFactory;

/** Makes every accepted connection an {@link ExportingServerSession}. */
public class ExportingSessionFactory extends SessionFactory {
    private final KexExporter exporter;

    public ExportingSessionFactory(ServerFactoryManager server, KexExporter exporter) {
        super(server);
        this.exporter = Objects.requireNonNull(exporter, "exporter");
    }

    protected KexExporter exporter() {
        return exporter;
    }

    @Override
    protected ServerSessionImpl doCreateSession(IoSession ioSession) throws Exception {
        return new ExportingServerSession(getServer(), ioSession, exporter);
    }
}
