package io.securejeebs.recovery.failover;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a host tool (nft, ip) with optional stdin, and fails loudly with its exit status and stderr. */
public final class HostCommand {
    private HostCommand() {}

    public static String run(List<String> command, String stdin, long timeoutMillis) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(false).start();
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread errReader = drain(p.getErrorStream(), err);
        p.getInputStream().transferTo(out);
        try {
            if (!p.waitFor(timeoutMillis, TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + ": no answer within " + timeoutMillis + " ms");
            }
            errReader.join(1000);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", command) + ": interrupted", e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited with " + p.exitValue() + ": "
                    + err.toString(StandardCharsets.UTF_8).strip());
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static Thread drain(InputStream s, ByteArrayOutputStream sink) {
        Thread t = new Thread(() -> {
            try {
                s.transferTo(sink);
            } catch (IOException ignored) {
                // the process is gone; what was read is kept
            }
        }, "sj-cmd-stderr");
        t.setDaemon(true);
        t.start();
        return t;
    }
}
