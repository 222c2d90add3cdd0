package io.securejeebs.recovery.failover;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a host tool (nft, ip, the fence command) with optional stdin, with a hard timeout, and fails loudly with
 * its exit status and stderr.
 *
 * <p>Each command runs as the leader of its own session and process group ({@code setsid(1)} from util-linux
 * execs it after {@code setsid()}; the JVM's child is never a group leader, so setsid does not fork and the
 * child's PID is the group's ID). Its output is read on separate threads into bounded buffers, so a command
 * that never closes its output cannot hold up the caller. At the timeout the WHOLE group gets SIGTERM, then
 * SIGKILL after {@link #TERM_GRACE_MILLIS}: an IPMI tool stuck on a dead BMC, and whatever it forked, are
 * gone before the failover goes on. What a command that exits leaves running in its group is killed the same way
 * (a program that means to outlive it starts its own session).
 *
 * <p>Errors name the command by {@code what} ("nft", "fence command"), never by its command line, which may
 * hold credentials.
 */
public final class HostCommand {
    /** How long a timed-out group has between SIGTERM and SIGKILL. */
    public static final long TERM_GRACE_MILLIS = 1000;
    /** Output kept per stream; the rest is read and dropped. */
    static final int MAX_OUTPUT_BYTES = 64 * 1024;
    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private HostCommand() {}

    /** The one libc call Java has no API for: a signal to a process group ({@code kill(-pgid, sig)}). */
    private interface Signals extends Library {
        Signals INSTANCE = Native.load("c", Signals.class);

        int kill(int pid, int sig);
    }

    /** {@link #run(String, List, String, long)} named by its program (for nft, ip: no secrets in their names). */
    public static String run(List<String> command, String stdin, long timeoutMillis) throws IOException {
        return run(command.get(0), command, stdin, timeoutMillis);
    }

    /**
     * @param what the command's name in errors and logs
     * @return its standard output (at most {@link #MAX_OUTPUT_BYTES})
     * @throws IOException it could not be started, exited non-zero, or did not finish (and close its output)
     *     within {@code timeoutMillis}: then its process group was killed
     */
    public static String run(String what, List<String> command, String stdin, long timeoutMillis)
            throws IOException {
        List<String> argv = new ArrayList<>(command.size() + 1);
        argv.add("setsid");
        argv.addAll(command);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        Process p;
        try {
            p = new ProcessBuilder(argv).start();
        } catch (IOException e) {
            throw new IOException(what + " could not be started (is util-linux's setsid installed?): "
                    + e.getMessage(), e);
        }
        int pgid = (int) p.pid();
        BoundedSink out = new BoundedSink();
        BoundedSink err = new BoundedSink();
        Thread outReader = drain(p.getInputStream(), out, "sj-cmd-stdout");
        Thread errReader = drain(p.getErrorStream(), err, "sj-cmd-stderr");
        feed(p.getOutputStream(), stdin);
        try {
            if (!p.waitFor(remaining(deadline), TimeUnit.NANOSECONDS)) {
                killGroup(p, pgid);
                throw new IOException(what + " timed out after " + duration(timeoutMillis)
                        + ", killed process group " + pgid);
            }
            if (Signals.INSTANCE.kill(-pgid, 0) == 0) {
                killGroup(p, pgid); // what the command left running in its group does not outlive it
            }
            // Its pipes are closed now, unless a process that left the group holds them: then what was read is kept.
            long joinMillis = Math.max(TERM_GRACE_MILLIS, TimeUnit.NANOSECONDS.toMillis(remaining(deadline)));
            outReader.join(joinMillis);
            errReader.join(joinMillis);
        } catch (InterruptedException e) {
            killGroup(p, pgid);
            Thread.currentThread().interrupt();
            throw new IOException(what + ": interrupted, killed process group " + pgid, e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(what + " exited with " + p.exitValue() + ": " + err.text().strip());
        }
        return out.text();
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    static String duration(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    /**
     * SIGTERM to the group, then SIGKILL to whatever of it is left after the grace period (at once if this thread
     * is interrupted meanwhile; the interrupt is kept).
     */
    private static void killGroup(Process p, int pgid) {
        if (Signals.INSTANCE.kill(-pgid, SIGTERM) != 0) {
            p.destroyForcibly(); // no such group: setsid never ran; the child alone is there to kill
            return;
        }
        long graceEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TERM_GRACE_MILLIS);
        boolean interrupted = false;
        try {
            // Until the group is empty (ESRCH) or the grace is over; zombies not yet reaped still count, harmlessly.
            while (Signals.INSTANCE.kill(-pgid, 0) == 0 && System.nanoTime() < graceEnd) {
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            interrupted = true;
        }
        Signals.INSTANCE.kill(-pgid, SIGKILL);
        try {
            p.waitFor(TERM_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void feed(OutputStream in, String stdin) {
        if (stdin == null) {
            try {
                in.close();
            } catch (IOException ignored) {
                // the process is already gone; its exit status says why
            }
            return;
        }
        // On its own thread: a command that does not read its input must not block the caller past the deadline.
        Thread t = new Thread(() -> {
            try (in) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the process exited or was killed; its exit status or the timeout says why
            }
        }, "sj-cmd-stdin");
        t.setDaemon(true);
        t.start();
    }

    private static Thread drain(InputStream s, BoundedSink sink, String name) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try (s) {
                int n;
                while ((n = s.read(buf)) >= 0) {
                    sink.write(buf, n);
                }
            } catch (IOException ignored) {
                // the process is gone; what was read is kept
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Keeps the first {@link #MAX_OUTPUT_BYTES} bytes written to it. */
    private static final class BoundedSink {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        synchronized void write(byte[] b, int n) {
            bytes.write(b, 0, Math.min(n, MAX_OUTPUT_BYTES - bytes.size()));
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }
}
