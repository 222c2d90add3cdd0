package io.securejeebs.recovery.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The fence hook ({@code failover.fence-command}, run by {@code /bin/sh -c}; {@code failover.fence-timeout}).
 * Its command line may hold credentials (an IPMI password on the command line), so {@link #toString()} shows
 * only its program: {@code check-config} prints the config into the journal.
 *
 * @param commandLine empty: no fencing
 */
public record FenceCommand(String commandLine, Duration timeout) {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /** What the daemon logs at start and check-config prints when there is no fence command. */
    public static final String NOT_SET_WARNING = "failover.fence-command is not set: fencing is OFF. If the primary is"
            + " only cut off from this appliance rather than dead, both will serve the VIP and its sessions"
            + " (split-brain); the ARP probe before the takeover catches only a primary still reachable on the"
            + " service network. Set a fence command (e.g. an IPMI power-off) that exits 0 once the primary is off.";

    public boolean configured() {
        return !commandLine.isBlank();
    }

    /**
     * The program the shell runs: the first word that is not a variable assignment ({@code A=b}) or
     * {@code exec}, without quotes. Null when none is configured.
     */
    public String program() {
        if (!configured()) {
            return null;
        }
        for (String word : commandLine.strip().split("\\s+")) {
            String w = word.replaceAll("^['\"]|['\"]$", "");
            if (w.matches("[A-Za-z_][A-Za-z0-9_]*=.*") || w.equals("exec")) {
                continue;
            }
            return w;
        }
        return null;
    }

    /** Why the program cannot be run from here (missing, not executable), or null. */
    public String problem() {
        if (!configured()) {
            return null;
        }
        String program = program();
        if (program == null || program.isEmpty()) {
            return "names no program";
        }
        if (program.contains("/")) {
            Path p = Path.of(program);
            if (!p.isAbsolute()) {
                return "program '" + program + "' must be an absolute path (or a name found on PATH)";
            }
            return executableProblem(p);
        }
        String path = System.getenv().getOrDefault("PATH", DEFAULT_PATH);
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && executableProblem(Path.of(dir, program)) == null) {
                return null;
            }
        }
        return "program '" + program + "' is not found on PATH (" + path + ")";
    }

    private static String executableProblem(Path p) {
        if (!Files.exists(p)) {
            return "program '" + p + "' does not exist";
        }
        if (!Files.isRegularFile(p)) {
            return "program '" + p + "' is not a regular file";
        }
        if (!Files.isExecutable(p)) {
            return "program '" + p + "' is not executable";
        }
        return null;
    }

    @Override
    public String toString() {
        return configured()
                ? "FenceCommand[program=" + program() + ", arguments redacted, timeout=" + timeout + "]"
                : "FenceCommand[none: fencing is off]";
    }
}
