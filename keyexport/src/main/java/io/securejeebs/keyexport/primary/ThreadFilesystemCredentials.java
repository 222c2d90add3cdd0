package io.securejeebs.keyexport.primary;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * Gives the CALLING THREAD a user's filesystem credentials, so that the kernel checks that thread's file
 * accesses against the user's rights and not root's.
 *
 * <p>Linux keeps credentials per thread (per task). Three raw system calls change only the calling thread:
 * {@code setgroups} (supplementary groups), {@code setfsgid} and {@code setfsuid} (the ids the kernel uses for
 * file permission checks). glibc's {@code setgroups()} wrapper would change every thread of the JVM (it
 * broadcasts to all threads for POSIX semantics), so it is bypassed with {@code syscall(2)}. When the fsuid
 * goes from 0 to the user's, the kernel also clears the file capabilities (CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN, CAP_FSETID, …) from that thread's effective set
 * (capabilities(7)), so root's bypasses are gone too. The real and effective uid stay 0: this is for file
 * access only, never for running code on the user's behalf (processes are started with runuser).
 *
 * <p>Each change is read back from the kernel and any mismatch is an error: a thread that could not take
 * the credentials must not go on to touch files.
 */
public final class ThreadFilesystemCredentials {
    /** System call numbers: x86_64 has its own table, aarch64 uses the generic one. */
    private record Syscalls(long getgroups, long setgroups, long setfsuid, long setfsgid) {}

    private static final Syscalls SYSCALLS = syscallsFor(System.getProperty("os.arch", ""));

    private ThreadFilesystemCredentials() {}

    private static Syscalls syscallsFor(String arch) {
        return switch (arch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> new Syscalls(115, 116, 122, 123);
            case "aarch64", "arm64" -> new Syscalls(158, 159, 151, 152);
            default -> null;
        };
    }

    /** Whether this platform is supported at all (Linux on x86_64 or aarch64). */
    public static boolean supported() {
        return SYSCALLS != null && System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux");
    }

    /** Gives the calling thread {@code account}'s fsuid, fsgid and supplementary groups, and checks them. */
    public static void assume(UnixAccount account) throws IOException {
        apply(account.uid(), account.gid(), account.groups());
    }

    /** Gives the calling thread root's filesystem credentials back (fsuid 0, fsgid 0, {@code groups}). */
    public static void restoreRoot(int[] groups) throws IOException {
        apply(0, 0, groups);
    }

    /** The calling thread's supplementary groups, as the kernel sees them. */
    public static int[] currentGroups() throws IOException {
        requireSupported();
        long n = call(SYSCALLS.getgroups, 0L, null);
        if (n < 0) {
            throw new IOException("getgroups failed: errno " + Native.getLastError());
        }
        if (n == 0) {
            return new int[0];
        }
        Memory buf = new Memory(n * 4);
        long got = call(SYSCALLS.getgroups, n, buf);
        if (got != n) {
            throw new IOException("getgroups returned " + got + " groups, expected " + n);
        }
        return buf.getIntArray(0, (int) n);
    }

    /** The calling thread's fsuid and fsgid (set to an invalid id returns the current one and changes nothing). */
    public static int currentFsuid() {
        return (int) call(SYSCALLS.setfsuid, -1L);
    }

    public static int currentFsgid() {
        return (int) call(SYSCALLS.setfsgid, -1L);
    }

    private static void apply(int uid, int gid, int[] groups) throws IOException {
        requireSupported();
        // Order: groups and fsgid first, while the thread still has root's fsuid; fsuid last.
        Memory list = new Memory(Math.max(4, groups.length * 4L));
        for (int i = 0; i < groups.length; i++) {
            list.setInt(i * 4L, groups[i]);
        }
        if (call(SYSCALLS.setgroups, (long) groups.length, list) != 0) {
            throw new IOException("setgroups(" + Arrays.toString(groups) + ") failed: errno " + Native.getLastError());
        }
        call(SYSCALLS.setfsgid, Integer.toUnsignedLong(gid));
        call(SYSCALLS.setfsuid, Integer.toUnsignedLong(uid));
        int fsuid = currentFsuid();
        int fsgid = currentFsgid();
        int[] now = currentGroups();
        int[] want = groups.clone();
        Arrays.sort(now);
        Arrays.sort(want);
        if (fsuid != uid || fsgid != gid || !Arrays.equals(now, want)) {
            throw new IOException("the kernel did not take the credentials: wanted fsuid=" + uid + " fsgid=" + gid
                    + " groups=" + Arrays.toString(want) + ", has fsuid=" + fsuid + " fsgid=" + fsgid
                    + " groups=" + Arrays.toString(now) + " (is the primary running as root?)");
        }
    }

    private static long call(long number, Object... args) {
        return LibC.INSTANCE.syscall(number, args);
    }

    private static void requireSupported() throws IOException {
        if (!supported()) {
            throw new IOException("per-thread filesystem credentials need Linux on x86_64 or aarch64, this is "
                    + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
    }

    /**
     * Runs {@code work} on a new thread that first takes {@code account}'s filesystem credentials; the thread
     * ends with the work, so the credentials never leak to other work. Waits for the result.
     */
    public static <T> T callAs(UnixAccount account, String threadName, Callable<T> work) throws IOException {
        FutureTask<T> task = new FutureTask<>(() -> {
            assume(account);
            return work.call();
        });
        Thread t = new Thread(task, threadName);
        t.setDaemon(true);
        t.start();
        try {
            return task.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while working as " + account.name(), e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            throw new IOException(cause.getMessage(), cause);
        }
    }
}
