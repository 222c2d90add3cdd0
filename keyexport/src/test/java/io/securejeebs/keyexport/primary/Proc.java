package io.securejeebs.keyexport.primary;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a program to completion with a time limit, collecting its output. */
final class Proc {
    record Result(int exit, String out, String err, List<String> command) {
        Result requireSuccess(String what) throws IOException {
            if (exit != 0) {
                throw new IOException(what + " failed (" + exit + "): " + err.strip() + " " + out.strip());
            }
            return this;
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
        }
    }

    private Proc() {}

    static Result run(List<String> command) throws IOException {
        return run(command, null);
    }

    static Result run(List<String> command, String stdin) throws IOException {
        return run(command, stdin == null ? null : stdin.getBytes(StandardCharsets.UTF_8), Map.of(), Duration.ofSeconds(60));
    }

    static Result run(List<String> command, byte[] stdin, Map<String, String> env, Duration limit) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        if (stdin == null) {
            pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        }
        Process p = pb.start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread o = copy(p.getInputStream(), out);
        Thread e = copy(p.getErrorStream(), err);
        if (stdin != null) {
            try (OutputStream in = p.getOutputStream()) {
                in.write(stdin);
            } catch (IOException closedEarly) {
                // the program stopped reading; its exit status tells
            }
        }
        try {
            if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new IOException(command.get(0) + " did not finish within " + limit + ": " + command
                        + "\nstdout so far: " + out + "\nstderr so far: " + err);
            }
            o.join(5000);
            e.join(5000);
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", x);
        }
        return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), command);
    }

    private static Thread copy(InputStream from, ByteArrayOutputStream to) {
        Thread t = new Thread(() -> {
            try {
                from.transferTo(to);
            } catch (IOException ignored) {
                // the process is gone
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }
}
