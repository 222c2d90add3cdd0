package io.securejeebs.keyexport.probe;

import io.securejeebs.keyexport.export.ExportingSessionFactory;
import io.securejeebs.keyexport.export.KexExporter;
import org.apache.sshd.common.io.IoSession;
import org.apache.sshd.server.ServerFactoryManager;
import org.apache.sshd.server.session.ServerSessionImpl;

/** TEST ONLY. Makes every accepted connection a {@link ProbedServerSession} (exporting, and readable by the probe). */
public class ProbedSessionFactory extends ExportingSessionFactory {
    public ProbedSessionFactory(ServerFactoryManager server, KexExporter exporter) {
        super(server, exporter);
    }

    @Override
    protected ServerSessionImpl doCreateSession(IoSession ioSession) throws Exception {
        return new ProbedServerSession(getServer(), ioSession, exporter());
    }
}
