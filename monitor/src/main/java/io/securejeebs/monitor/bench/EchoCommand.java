package io.securejeebs.monitor.bench;

import java.io.IOException;
import org.apache.sshd.server.Environment;

/** Echoes its input until EOF (a shell or exec of the benchmark and test servers). */
public final class EchoCommand extends ThreadedCommand {
    @Override
    protected void work(Environment env) throws IOException {
        echoUntilEof();
    }
}
