package io.securejeebs.keyexport.primary;

import com.pty4j.PtyProcess;
import com.pty4j.PtyProcessBuilder;
import com.pty4j.WinSize;
import com.pty4j.unix.UnixPtyProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.common.channel.PtyMode;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.Signal;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.session.ServerSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A login shell or an exec command, run as the logged-in user ({@link UserSessionLauncher}): on a real pty
 * (pty4j) when the client asked for one, else on pipes with a separate stderr.
 *
 * <p>Data moves on three threads: process output → channel, process stderr → channel extended data, channel →
 * process input. The channel's streams block while the client's window is full, so a fast producer waits
 * instead of filling memory. A window-change resizes the pty. When the process ends, its remaining output is
 * sent (on pipes: up to EOF, as sshd does; on a pty: what is buffered), then the exit status.
 */
final class UserProcessCommand implements Command {
    private static final Logger log = LoggerFactory.getLogger(UserProcessCommand.class);

    private final String command;
    private final List<String> acceptEnv;
    private InputStream in;
    private OutputStream out;
    private OutputStream err;
    private ExitCallback exitCallback;
    private volatile Process process;
    private volatile String description = "session";

    /** @param command the exec request's command, or null for a login shell */
    UserProcessCommand(String command, List<String> acceptEnv) {
        this.command = command;
        this.acceptEnv = acceptEnv;
    }

    @Override
    public void setInputStream(InputStream in) {
        this.in = in;
    }

    @Override
    public void setOutputStream(OutputStream out) {
        this.out = out;
    }

    @Override
    public void setErrorStream(OutputStream err) {
        this.err = err;
    }

    @Override
    public void setExitCallback(ExitCallback callback) {
        this.exitCallback = callback;
    }

    @Override
    public void start(ChannelSession channel, Environment env) throws IOException {
        ServerSession session = channel.getServerSession();
        String username = session.getUsername();
        UnixAccount account = UnixAccount.lookup(username)
                .orElseThrow(() -> new IOException("user " + username + " no longer exists"));
        boolean pty = channel instanceof UserChannelSession u && u.ptyRequested();
        Map<String, String> environment = UserSessionLauncher.environment(account, session, env.getEnv(), acceptEnv, pty);
        List<String> argv = UserSessionLauncher.argv(account, command, pty, env.getPtyModes());
        Path cwd = UserSessionLauncher.workingDirectory(account);
        description = (command == null ? "shell" : "exec") + (pty ? " on pty" : "") + " for " + username + " from "
                + PamAuthenticator.describe(session.getClientAddress());
        if (pty) {
            startOnPty(account, argv, environment, cwd, env);
        } else {
            startOnPipes(argv, environment, cwd);
        }
        log.info("{}: started (pid {}){}", description, process.pid(),
                command == null ? "" : ", " + command.length() + "-character command");
    }

    private void startOnPty(UnixAccount account, List<String> argv, Map<String, String> environment, Path cwd,
            Environment env) throws IOException {
        int columns = parseSize(env.getEnv().get(Environment.ENV_COLUMNS), 80);
        int rows = parseSize(env.getEnv().get(Environment.ENV_LINES), 24);
        PtyProcess p = new PtyProcessBuilder(argv.toArray(String[]::new))
                .setEnvironment(environment)
                .setDirectory(cwd.toString())
                .setInitialColumns(columns)
                .setInitialRows(rows)
                .setRedirectErrorStream(true)
                .setConsole(false)
                .start();
        process = p;
        giveTerminalTo(account, p);
        env.addSignalListener((ch, signal) -> resize(p, env), Signal.WINCH);
        Thread output = pump(p.getInputStream(), out, "out");
        pumpInput(p.getOutputStream(), false);
        waitForExit(p, output, null, true);
    }

    private void startOnPipes(List<String> argv, Map<String, String> environment, Path cwd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argv).directory(cwd.toFile());
        pb.environment().clear();
        pb.environment().putAll(environment);
        Process p = pb.start();
        process = p;
        Thread output = pump(p.getInputStream(), out, "out");
        Thread errors = pump(p.getErrorStream(), err, "err");
        pumpInput(p.getOutputStream(), true);
        waitForExit(p, output, errors, false);
    }

    /**
     * As sshd: the pty belongs to the user, group tty, mode 0620. The mode is set first, while root still owns
     * the pty: afterwards it would take CAP_FOWNER, which the appliance's unit does not grant (CAP_CHOWN does).
     *
     * <p>pty4j's child opens the pty by its name after the fork, so the pty is given away only once the child
     * holds it: a user's pty cannot be opened by a root without CAP_DAC_OVERRIDE (the appliance's unit), and
     * under load the child lost that race and the recovered shell never started (10 concurrent recoveries).
     */
    private void giveTerminalTo(UnixAccount account, PtyProcess p) {
        if (!(p instanceof UnixPtyProcess u)) {
            return;
        }
        Path tty = Path.of(u.getPty().getSlaveName());
        if (!childHolds(p, tty)) {
            if (p.isAlive()) {
                log.warn("{}: {} is left to root: the process did not open it within {} s", description, tty,
                        SLAVE_OPEN_WAIT.toSeconds());
            }
            return;
        }
        try {
            Files.setPosixFilePermissions(tty, PosixFilePermissions.fromString("rw--w----"));
            Files.setAttribute(tty, "unix:uid", account.uid());
            try {
                GroupPrincipal ttyGroup = tty.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName("tty");
                Files.getFileAttributeView(tty, java.nio.file.attribute.PosixFileAttributeView.class).setGroup(ttyGroup);
            } catch (IOException noTtyGroup) {
                Files.setAttribute(tty, "unix:gid", account.gid());
            }
        } catch (IOException | RuntimeException e) {
            log.warn("{}: cannot give {} to {}: {}", description, tty, account.name(), e.getMessage());
        }
    }

    private static final java.time.Duration SLAVE_OPEN_WAIT = java.time.Duration.ofSeconds(5);

    /** Whether the child has the pty as its standard input (pty4j dup2s it there right after opening it). */
    private static boolean childHolds(PtyProcess p, Path tty) {
        Path stdin = Path.of("/proc", Long.toString(p.pid()), "fd", "0");
        long deadline = System.nanoTime() + SLAVE_OPEN_WAIT.toNanos();
        while (p.isAlive() && System.nanoTime() < deadline) {
            try {
                if (Files.readSymbolicLink(stdin).equals(tty)) {
                    return true;
                }
            } catch (IOException notYet) {
                // the fd table is being replaced by the exec, or the process just ended
            }
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        return false;
    }

    private void resize(PtyProcess p, Environment env) {
        int columns = parseSize(env.getEnv().get(Environment.ENV_COLUMNS), -1);
        int rows = parseSize(env.getEnv().get(Environment.ENV_LINES), -1);
        if (columns > 0 && rows > 0 && p.isAlive()) {
            try {
                p.setWinSize(new WinSize(columns, rows));
            } catch (RuntimeException e) {
                log.debug("{}: window change to {}x{} failed: {}", description, columns, rows, e.getMessage());
            }
        }
    }

    private static int parseSize(String value, int fallback) {
        try {
            int v = Integer.parseInt(value);
            return v > 0 && v < 10000 ? v : fallback;
        } catch (NumberFormatException | NullPointerException e) {
            return fallback;
        }
    }

    private Thread pump(InputStream from, OutputStream to, String what) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[32 * 1024];
            try {
                for (int n; (n = from.read(buf)) > 0; ) {
                    to.write(buf, 0, n);
                    to.flush();
                }
            } catch (IOException e) {
                log.debug("{}: {} stream ended: {}", description, what, e.getMessage());
            }
        }, "session-" + what);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Client → process. On pipes the client's EOF closes the process's stdin; a pty has no half-close. */
    private void pumpInput(OutputStream toProcess, boolean closeOnEof) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[32 * 1024];
            try {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    if (n > 0) {
                        toProcess.write(buf, 0, n);
                        toProcess.flush();
                    }
                }
                if (closeOnEof) {
                    toProcess.close();
                }
            } catch (IOException e) {
                log.debug("{}: input stream ended: {}", description, e.getMessage());
            }
        }, "session-in");
        t.setDaemon(true);
        t.start();
    }

    private void waitForExit(Process p, Thread output, Thread errors, boolean pty) {
        Thread t = new Thread(() -> {
            int status;
            try {
                status = p.waitFor();
                // pipes: all output up to EOF (sshd does the same); pty: what is buffered, then the pty reports EOF
                output.join(pty ? 2000 : 0);
                if (errors != null) {
                    errors.join();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            log.info("{}: exited with status {}", description, status);
            try {
                out.flush();
            } catch (IOException ignored) {
                // the channel is going away; nothing left to tell the client
            }
            exitCallback.onExit(status);
        }, "session-wait");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void destroy(ChannelSession channel) {
        Process p = process;
        if (p == null || !p.isAlive()) {
            return;
        }
        log.info("{}: channel closed, stopping the process", description);
        // pty4j's process has no toHandle() (Process.descendants() throws UnsupportedOperationException): by pid
        List<ProcessHandle> descendants = ProcessHandle.of(p.pid()).map(h -> h.descendants().toList()).orElse(List.of());
        p.destroy(); // SIGTERM to runuser, which passes it on to the user's process
        try {
            if (!p.waitFor(2, TimeUnit.SECONDS)) {
                descendants.forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
