package io.securejeebs.keyexport.primary;

import com.sun.jna.Memory;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * A local account as the system's name service (NSS: /etc/passwd, LDAP, …) reports it: what a session of
 * this user runs with.
 *
 * @param name the login name
 * @param uid the user id
 * @param gid the primary group id
 * @param home the home directory
 * @param shell the login shell
 * @param groups every group id the user is in, primary group included ({@code getgrouplist})
 */
public record UnixAccount(String name, int uid, int gid, Path home, String shell, int[] groups) {

    /** OpenSSH's default when the passwd entry has no shell. */
    private static final String DEFAULT_SHELL = "/bin/sh";

    public UnixAccount {
        groups = groups.clone();
    }

    @Override
    public int[] groups() {
        return groups.clone();
    }

    /** Looks the user up; empty if there is no such user. */
    public static Optional<UnixAccount> lookup(String name) throws IOException {
        if (name == null || name.isEmpty() || name.indexOf('\0') >= 0) {
            return Optional.empty();
        }
        LibC libc = LibC.INSTANCE;
        for (long size = 4096; size <= 1 << 20; size *= 4) {
            LibC.Passwd pwd = new LibC.Passwd();
            Memory buf = new Memory(size);
            PointerByReference result = new PointerByReference();
            int rc = libc.getpwnam_r(name, pwd, buf, size, result);
            if (rc == 34 /* ERANGE */) {
                continue;
            }
            if (rc != 0) {
                throw new IOException("getpwnam_r(" + name + ") failed: errno " + rc);
            }
            if (result.getValue() == null) {
                return Optional.empty();
            }
            pwd.read();
            String shell = pwd.pw_shell == null ? "" : pwd.pw_shell.getString(0, StandardCharsets.UTF_8.name());
            String home = pwd.pw_dir == null ? "" : pwd.pw_dir.getString(0, StandardCharsets.UTF_8.name());
            return Optional.of(new UnixAccount(name, pwd.pw_uid, pwd.pw_gid,
                    Path.of(home.isEmpty() ? "/" : home), shell.isEmpty() ? DEFAULT_SHELL : shell,
                    groupsOf(name, pwd.pw_gid)));
        }
        throw new IOException("getpwnam_r(" + name + "): passwd entry larger than 1 MiB");
    }

    private static int[] groupsOf(String name, int gid) throws IOException {
        int[] groups = new int[64];
        for (int attempt = 0; attempt < 8; attempt++) {
            IntByReference n = new IntByReference(groups.length);
            int rc = LibC.INSTANCE.getgrouplist(name, gid, groups, n);
            if (rc >= 0) {
                return Arrays.copyOf(groups, n.getValue());
            }
            if (n.getValue() <= groups.length) {
                throw new IOException("getgrouplist(" + name + ") failed");
            }
            groups = new int[n.getValue()];
        }
        throw new IOException("getgrouplist(" + name + "): group list keeps growing");
    }

    @Override
    public String toString() {
        return name + "(uid=" + uid + ",gid=" + gid + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UnixAccount a && a.name.equals(name) && a.uid == uid && a.gid == gid
                && a.home.equals(home) && a.shell.equals(shell) && Arrays.equals(a.groups, groups);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + uid;
    }
}
