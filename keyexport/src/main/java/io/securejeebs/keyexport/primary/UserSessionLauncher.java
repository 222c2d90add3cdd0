package io.securejeebs.keyexport.primary;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.sshd.common.channel.PtyMode;
import org.apache.sshd.server.session.ServerSession;

/**
 * How a shell or command is started as the logged-in user: the command line and the environment.
 *
 * <p>Privilege drop: {@code runuser -u USER -- …} (util-linux). runuser, as root, sets the user's uid, gid and
 * supplementary groups (initgroups) from the passwd entry and runs the PAM service "runuser", whose session
 * stack applies pam_limits and logs the session (pam_unix), as sshd's PAM session would. It stays as a small
 * root parent that waits for the user's process and passes its exit status back. It keeps the environment it
 * is given, so the environment is built here from scratch (nothing of the server's own leaks into it).
 *
 * <p>On a pty, {@code /bin/sh} (as the user) first applies the client's terminal modes with {@code stty},
 * exports SSH_TTY, then execs the user's shell.
 */
final class UserSessionLauncher {
    static final Path RUNUSER = Path.of("/usr/sbin/runuser");
    static final Path SH = Path.of("/bin/sh");
    private static final String ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final String USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games";

    /**
     * Run by /bin/sh on a pty: {@code $1} shell, {@code $2} "-l" (login shell) or "-c" (command), {@code $3} the
     * command, then stty arguments.
     */
    private static final String PTY_SCRIPT = "shell=$1; mode=$2; cmd=$3; shift 3; "
            + "if [ $# -gt 0 ]; then stty \"$@\" 2>/dev/null; fi; "
            + "SSH_TTY=$(tty 2>/dev/null) && export SSH_TTY; "
            + "if [ \"$mode\" = -l ]; then exec \"$shell\" -l; else exec \"$shell\" -c \"$cmd\"; fi";

    private UserSessionLauncher() {}

    /** The program and arguments; {@code command} null means a login shell. */
    static List<String> argv(UnixAccount account, String command, boolean pty, Map<PtyMode, Integer> modes) {
        List<String> argv = new ArrayList<>(List.of(RUNUSER.toString(), "-u", account.name(), "--"));
        if (pty) {
            argv.addAll(List.of(SH.toString(), "-c", PTY_SCRIPT, "securejeebs-session", account.shell(),
                    command == null ? "-l" : "-c", command == null ? "" : command));
            argv.addAll(SttyModes.args(modes));
        } else if (command == null) {
            argv.addAll(List.of(account.shell(), "-l"));
        } else {
            argv.addAll(List.of(account.shell(), "-c", command));
        }
        return argv;
    }

    /** The user's environment: what sshd sets, plus the client variables the admin accepts. */
    static Map<String, String> environment(UnixAccount account, ServerSession session, Map<String, String> channelEnv,
            List<String> acceptEnv, boolean pty) {
        Map<String, String> env = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : channelEnv.entrySet()) {
            if (UserChannelSession.accepted(acceptEnv, e.getKey())) {
                env.put(e.getKey(), e.getValue());
            }
        }
        env.put("USER", account.name());
        env.put("LOGNAME", account.name());
        env.put("HOME", account.home().toString());
        env.put("SHELL", account.shell());
        env.put("PATH", account.uid() == 0 ? ROOT_PATH : USER_PATH);
        env.put("MAIL", "/var/mail/" + account.name());
        SocketAddress client = session.getClientAddress();
        SocketAddress server = SessionAddresses.serverAddress(session);
        if (client instanceof InetSocketAddress c && server instanceof InetSocketAddress s) {
            env.put("SSH_CLIENT", c.getAddress().getHostAddress() + " " + c.getPort() + " " + s.getPort());
            env.put("SSH_CONNECTION", c.getAddress().getHostAddress() + " " + c.getPort() + " "
                    + s.getAddress().getHostAddress() + " " + s.getPort());
        }
        if (pty) {
            String term = channelEnv.get("TERM");
            env.put("TERM", term == null || term.isEmpty() ? "dumb" : term);
        }
        return env;
    }

    /** The home directory if it is one, else "/" (as sshd, which then says it could not chdir). */
    static Path workingDirectory(UnixAccount account) {
        return Files.isDirectory(account.home()) ? account.home() : Path.of("/");
    }
}
