package io.securejeebs.recovery;

import io.securejeebs.recovery.config.ApplianceConfig;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appliance's start-up self-test: before it arms, every privilege and path a failover needs must be
 * there. A daemon under a unit that lacks one used to start fine and fail only at the failover, after it had
 * taken the VIP (the unit's bounding set lacked CAP_NET_BIND_SERVICE and CAP_SETUID; ProtectHome hid
 * authorized_keys). Each missing thing is named with the systemd unit setting that fixes it.
 *
 * <p>What a failover does, and what it takes (conf/securejeebs.service says the same per capability):
 * capture and ARP need CAP_NET_RAW; the nftables guard, the VIP and TCP_REPAIR need CAP_NET_ADMIN; binding
 * VIP:22 needs CAP_NET_BIND_SERVICE; for SSH, runuser and PAM need uid 0, runuser and the per-thread
 * filesystem ids (authorized_keys, SFTP) need CAP_SETUID and CAP_SETGID, starting a shell in a 0700 home
 * needs CAP_DAC_READ_SEARCH, and the users' homes must be visible at all.
 */
public final class FailoverPrivileges {
    private static final Logger log = LoggerFactory.getLogger(FailoverPrivileges.class);

    /** The capabilities the appliance uses, with their numbers in linux/capability.h. */
    public enum Capability {
        CHOWN(0), DAC_READ_SEARCH(2), KILL(5), SETGID(6), SETUID(7), NET_BIND_SERVICE(10), NET_ADMIN(12),
        NET_RAW(13), AUDIT_WRITE(29);

        final int bit;

        Capability(int bit) {
            this.bit = bit;
        }

        /** Its bit in the kernel's capability masks. */
        public int bit() {
            return bit;
        }

        public String capName() {
            return "CAP_" + name();
        }
    }

    /** One thing missing; a fatal one stops the start. */
    public record Problem(boolean fatal, String what, String fix) {
        @Override
        public String toString() {
            return what + " (" + fix + ")";
        }
    }

    private static final String BOUNDING = "add it to CapabilityBoundingSet= in securejeebs.service";

    private FailoverPrivileges() {}

    /**
     * The effective capability set from the text of {@code /proc/self/status} ({@code CapEff:} in hex), as
     * a bit mask.
     *
     * @throws IllegalArgumentException if there is no well-formed CapEff line
     */
    public static long effectiveCapabilities(String procStatus) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith("CapEff:")) {
                String hex = line.substring("CapEff:".length()).strip();
                if (hex.isEmpty() || hex.length() > 16 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                    throw new IllegalArgumentException("CapEff is not a 64-bit hex mask: '" + hex + "'");
                }
                return Long.parseUnsignedLong(hex, 16);
            }
        }
        throw new IllegalArgumentException("no CapEff line in /proc/self/status");
    }

    /** Whether {@code NoNewPrivs: 1} is in the text of {@code /proc/self/status}. */
    static boolean noNewPrivileges(String procStatus) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith("NoNewPrivs:")) {
                return line.substring("NoNewPrivs:".length()).strip().equals("1");
            }
        }
        return false;
    }

    /** The capabilities a failover of {@code protocol} on {@code ports} needs, fatal ones first. */
    static List<Problem> missingCapabilities(long effective, String protocol, Collection<Integer> ports,
                                             int unprivilegedPortStart) {
        List<Problem> problems = new ArrayList<>();
        need(problems, effective, Capability.NET_RAW, true, "capturing the primary's traffic and the ARP probe and announcements of the VIP");
        need(problems, effective, Capability.NET_ADMIN, true, "the nftables guard, adding the VIP and restoring connections with TCP_REPAIR");
        int lowest = ports.stream().mapToInt(Integer::intValue).min().orElse(Integer.MAX_VALUE);
        if (lowest < unprivilegedPortStart) {
            need(problems, effective, Capability.NET_BIND_SERVICE, true, "listening on VIP:" + lowest
                    + " and binding the restored connections to it");
        }
        if (SshSessionTracker.PROTOCOL.equals(protocol)) {
            need(problems, effective, Capability.SETUID, true, "runuser starting the users' shells, and reading"
                    + " authorized_keys and serving SFTP under the user's own filesystem ids");
            need(problems, effective, Capability.SETGID, true, "runuser and the user's groups for authorized_keys and SFTP");
            need(problems, effective, Capability.DAC_READ_SEARCH, true, "starting a user's shell in a home"
                    + " directory that is not world-searchable (0700, 0750)");
            need(problems, effective, Capability.CHOWN, false, "giving each recovered shell's pty to its user, as sshd does");
            need(problems, effective, Capability.KILL, false, "ending a user's processes that outlive a closed channel");
            need(problems, effective, Capability.AUDIT_WRITE, false, "PAM's audit records of the recovered logins");
        }
        problems.sort((a, b) -> Boolean.compare(b.fatal(), a.fatal()));
        return problems;
    }

    private static void need(List<Problem> problems, long effective, Capability c, boolean fatal, String forWhat) {
        if ((effective & (1L << c.bit)) == 0) {
            problems.add(new Problem(fatal, c.capName() + " is missing: needed for " + forWhat, BOUNDING));
        }
    }

    /** The start-up refusal: every fatal problem on a line of its own. */
    static String refusal(List<Problem> problems) {
        StringBuilder b = new StringBuilder("refusing to start: a failover would fail here:");
        for (Problem p : problems) {
            if (p.fatal()) {
                b.append("\n  - ").append(p);
            }
        }
        return b.toString();
    }

    /**
     * Checks this process and host for everything a failover under {@code config} needs; logs what is
     * only degraded, and throws with {@link #refusal} if anything fatal is missing.
     */
    public static void require(ApplianceConfig config) throws IOException {
        List<Problem> problems = check(config);
        for (Problem p : problems) {
            if (!p.fatal()) {
                log.warn("start-up self-test: {}", p);
            }
        }
        if (problems.stream().anyMatch(Problem::fatal)) {
            throw new IOException(refusal(problems));
        }
        log.info("start-up self-test passed: the privileges and paths a failover needs are present");
    }

    /** Every problem found on this host, fatal ones first. */
    public static List<Problem> check(ApplianceConfig config) throws IOException {
        String status = Files.readString(Path.of("/proc/self/status"), StandardCharsets.ISO_8859_1);
        boolean ssh = SshSessionTracker.PROTOCOL.equals(config.protocol());
        List<Problem> problems = new ArrayList<>(missingCapabilities(effectiveCapabilities(status), config.protocol(),
                config.servicePorts(), unprivilegedPortStart()));
        for (String tool : List.of("ip", "nft")) {
            if (onPath(tool) == null) {
                problems.add(new Problem(true, "'" + tool + "' is not on the PATH: the failover runs it",
                        "install " + (tool.equals("ip") ? "iproute2" : "nftables")));
            }
        }
        boolean bindCapabilityMissing = problems.stream().anyMatch(p -> p.what().startsWith("CAP_NET_BIND_SERVICE"));
        problems.addAll(listenersInTheWay(config, !bindCapabilityMissing));
        if (ssh) {
            problems.addAll(sshSessions(status));
        }
        problems.sort((a, b) -> Boolean.compare(b.fatal(), a.fatal()));
        return problems;
    }

    /** What starting and serving the users' sessions needs beyond capabilities. */
    private static List<Problem> sshSessions(String status) throws IOException {
        List<Problem> problems = new ArrayList<>();
        long uid = Long.parseLong(field(status, "Uid:").split("\\s+")[0]); // real (runuser checks it), effective, saved, fs
        if (uid != 0) {
            problems.add(new Problem(true, "the daemon runs as uid " + uid + ": runuser and PAM start the users'"
                    + " sessions and need root", "remove User= from securejeebs.service; the bounding set limits root"));
        }
        if (noNewPrivileges(status)) {
            problems.add(new Problem(true, "no_new_privs is set: su and sudo would not work in the recovered shells",
                    "remove NoNewPrivileges= from securejeebs.service"));
        }
        for (Path program : List.of(Path.of("/usr/sbin/runuser"), Path.of("/bin/sh"))) {
            if (!Files.isExecutable(program)) {
                problems.add(new Problem(true, program + " is not executable: recovered shells are started with it",
                        "install util-linux and a POSIX sh"));
            }
        }
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1);
        if (privateTmp(mounts)) {
            problems.add(new Problem(true, "/tmp is a private one: the recovered shells would not see the host's /tmp",
                    "remove PrivateTmp= from securejeebs.service"));
        }
        Problem homes = homesOutOfReach(Files.readAllLines(Path.of("/etc/passwd"), StandardCharsets.ISO_8859_1));
        if (homes != null) {
            problems.add(homes);
        }
        return problems;
    }

    /** A mount on /tmp whose source is systemd's private directory (PrivateTmp=yes). */
    static boolean privateTmp(String mountinfo) {
        for (String line : mountinfo.split("\n")) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].equals("/tmp") && f[3].contains("systemd-private-")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the local users' homes, where their authorized_keys live, can be reached: the directories that
     * hold them must be searchable, and at least one of the login accounts' homes must exist (ProtectHome
     * hides them all behind an inaccessible or empty /home).
     */
    static Problem homesOutOfReach(List<String> passwd) {
        Set<Path> parents = new LinkedHashSet<>();
        List<Path> homes = new ArrayList<>();
        for (String line : passwd) {
            String[] f = line.split(":", -1);
            if (f.length < 7 || !f[2].chars().allMatch(Character::isDigit) || f[2].isEmpty()) {
                continue;
            }
            long uid = Long.parseLong(f[2]);
            String shell = f[6];
            if (uid < 1000 || uid >= 60000 || shell.endsWith("/nologin") || shell.endsWith("/false") || f[5].isEmpty()) {
                continue;
            }
            Path home = Path.of(f[5]);
            homes.add(home);
            if (home.getParent() != null) {
                parents.add(home.getParent());
            }
        }
        for (Path parent : parents) {
            if (Files.exists(parent) && !(Files.isDirectory(parent) && Files.isExecutable(parent))) {
                return new Problem(true, "cannot enter " + parent + ": the users' authorized_keys and homes there are"
                        + " out of reach", "remove ProtectHome= from securejeebs.service");
            }
        }
        if (!homes.isEmpty() && homes.stream().noneMatch(Files::isDirectory)) {
            return new Problem(true, "none of the " + homes.size() + " local users' home directories is visible ("
                    + homes.get(0) + (homes.size() > 1 ? ", …" : "") + "): their authorized_keys are out of reach",
                    "remove ProtectHome= from securejeebs.service");
        }
        return null;
    }

    /** Another server listening on a service port on every address or on the VIP takes the port first. */
    private static List<Problem> listenersInTheWay(ApplianceConfig config, boolean tryBinding) throws IOException {
        List<Problem> problems = new ArrayList<>();
        Set<Integer> ports = new TreeSet<>(config.servicePorts());
        Set<String> blocking = new TreeSet<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(table);
            if (Files.isReadable(p)) {
                blocking.addAll(listeners(Files.readAllLines(p, StandardCharsets.ISO_8859_1), ports,
                        config.vip().address()));
            }
        }
        for (String b : blocking) {
            problems.add(new Problem(true, "another server already listens on " + b
                    + ": the recovery server could not take the service port",
                    "stop it, or make it listen on this host's own address only"));
        }
        for (int port : tryBinding ? ports : Set.<Integer>of()) {
            // The privilege, tried for real where no one is in the way: loopback, then released at once.
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            } catch (java.net.BindException e) {
                String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
                if (m.contains("permission denied")) {
                    problems.add(new Problem(true, "binding port " + port + " is not permitted: the recovery"
                            + " server listens on it", "add CAP_NET_BIND_SERVICE to CapabilityBoundingSet= in securejeebs.service"));
                }
            } catch (SocketException e) {
                log.debug("bind test of port {}: {}", port, e.getMessage());
            }
        }
        return problems;
    }

    /**
     * The listening sockets ({@code /proc/net/tcp} lines in state 0A) on one of {@code ports} whose address
     * is the wildcard or {@code vip}, as "address:port".
     */
    static List<String> listeners(List<String> procNetTcp, Set<Integer> ports, InetAddress vip) {
        List<String> found = new ArrayList<>();
        for (String line : procNetTcp) {
            String[] f = line.strip().split("\\s+");
            if (f.length < 4 || !f[3].equals("0A") || !f[1].contains(":")) {
                continue;
            }
            String[] local = f[1].split(":");
            int port;
            try {
                port = Integer.parseInt(local[1], 16);
            } catch (NumberFormatException e) {
                continue;
            }
            if (!ports.contains(port)) {
                continue;
            }
            byte[] address = procAddress(local[0]);
            if (address == null) {
                continue;
            }
            boolean wildcard = true;
            for (byte x : address) {
                wildcard &= x == 0;
            }
            boolean isVip = java.util.Arrays.equals(address, vip.getAddress())
                    || (address.length == 16 && vip.getAddress().length == 4 && v4Mapped(address, vip.getAddress()));
            if (wildcard || isVip) {
                found.add((wildcard ? (address.length == 4 ? "0.0.0.0" : "[::]") : vip.getHostAddress()) + ":" + port);
            }
        }
        return found;
    }

    /** /proc/net/tcp{,6} addresses: 32-bit words in host (little-endian) order. */
    private static byte[] procAddress(String hex) {
        if (hex.length() != 8 && hex.length() != 32) {
            return null;
        }
        byte[] out = new byte[hex.length() / 2];
        for (int word = 0; word < out.length / 4; word++) {
            for (int i = 0; i < 4; i++) {
                int at = word * 8 + (3 - i) * 2;
                out[word * 4 + i] = (byte) Integer.parseInt(hex.substring(at, at + 2), 16);
            }
        }
        return out;
    }

    private static boolean v4Mapped(byte[] v6, byte[] v4) {
        for (int i = 0; i < 10; i++) {
            if (v6[i] != 0) {
                return false;
            }
        }
        return v6[10] == (byte) 0xff && v6[11] == (byte) 0xff
                && java.util.Arrays.equals(java.util.Arrays.copyOfRange(v6, 12, 16), v4);
    }

    private static int unprivilegedPortStart() {
        try {
            return Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start")).strip());
        } catch (IOException | NumberFormatException e) {
            return 1024;
        }
    }

    private static Path onPath(String program) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, program);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }

    private static String field(String status, String name) {
        for (String line : status.split("\n")) {
            if (line.startsWith(name)) {
                return line.substring(name.length()).strip();
            }
        }
        throw new IllegalArgumentException("no " + name + " line in /proc/self/status");
    }
}
