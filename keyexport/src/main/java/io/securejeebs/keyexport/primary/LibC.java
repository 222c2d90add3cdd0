package io.securejeebs.keyexport.primary;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/** The few glibc functions the primary calls directly (account lookup, raw per-thread credential syscalls). */
interface LibC extends Library {
    LibC INSTANCE = Native.load("c", LibC.class);

    /** {@code struct passwd} as glibc lays it out on Linux. */
    @Structure.FieldOrder({"pw_name", "pw_passwd", "pw_uid", "pw_gid", "pw_gecos", "pw_dir", "pw_shell"})
    class Passwd extends Structure {
        public Pointer pw_name;
        public Pointer pw_passwd;
        public int pw_uid;
        public int pw_gid;
        public Pointer pw_gecos;
        public Pointer pw_dir;
        public Pointer pw_shell;

        public Passwd() {
            super();
        }
    }

    int getpwnam_r(String name, Passwd pwd, Memory buf, long buflen, PointerByReference result);

    int getgrouplist(String user, int group, int[] groups, IntByReference ngroups);

    int geteuid();

    void free(Pointer p);

    /** {@code long syscall(long number, ...)}: the raw system call, bypassing glibc's all-threads setxid broadcast. */
    long syscall(long number, Object... args);
}
