package io.securejeebs.kernel;

/**
 * The JNI entry points of libsjshim.so (src/main/c/sjshim.c).
 *
 * <p>javac {@code -h} turns the constants below into {@code #define}s in
 * {@code io_securejeebs_kernel_Native.h}, so the C side indexes the arrays with the same numbers.
 * Callers must call {@link NativeLoader#ensureLoaded()} first.
 */
final class Native {

    private Native() {
    }

    // Option flags, deliberately equal to the kernel's TCPI_OPT_* bits of tcp_info.tcpi_options.
    static final int OPT_TIMESTAMPS = 1;
    static final int OPT_SACK = 2;
    static final int OPT_WSCALE = 4;

    // Indices into the int[] given to restore0.
    static final int RP_LOCAL_PORT = 0;
    static final int RP_REMOTE_PORT = 1;
    static final int RP_SCOPE_ID = 2;
    static final int RP_SEND_SEQ = 3;
    static final int RP_RECV_SEQ = 4;
    static final int RP_MSS = 5;
    static final int RP_OPTIONS = 6;
    static final int RP_SND_WSCALE = 7;
    static final int RP_RCV_WSCALE = 8;
    static final int RP_TIMESTAMP = 9;
    static final int RP_SND_WND = 10;
    static final int RP_RCV_WND = 11;
    static final int RP_REPAIR_OFF = 12;
    static final int RP_COUNT = 13;

    // Indices into the int[] filled by read0.
    static final int RS_SEND_END = 0;
    static final int RS_OUTQ = 1;
    static final int RS_RCV_NXT = 2;
    static final int RS_INQ = 3;
    static final int RS_MSS = 4;
    static final int RS_OPTIONS = 5;
    static final int RS_SND_WSCALE = 6;
    static final int RS_RCV_WSCALE = 7;
    static final int RS_TIMESTAMP = 8;
    static final int RS_SND_WL1 = 9;
    static final int RS_SND_WND = 10;
    static final int RS_MAX_WINDOW = 11;
    static final int RS_RCV_WND = 12;
    static final int RS_RCV_WUP = 13;
    static final int RS_LOCAL_PORT = 14;
    static final int RS_REMOTE_PORT = 15;
    static final int RS_LOCAL_SCOPE = 16;
    static final int RS_REMOTE_SCOPE = 17;
    static final int RS_COUNT = 18;

    // Indices into the byte[][] filled by read0.
    static final int RB_SEND_QUEUE = 0;
    static final int RB_RECV_QUEUE = 1;
    static final int RB_LOCAL_ADDR = 2;
    static final int RB_REMOTE_ADDR = 3;
    static final int RB_COUNT = 4;

    /** Builds a repaired socket (DESIGN §5.3) and returns its fd. Addresses are 4 or 16 raw bytes. */
    static native int restore0(int[] params, byte[] localAddr, byte[] remoteAddr, byte[] sendQueue,
                               byte[] recvQueue) throws KernelShimException;

    /** Reads the repair state of a live ESTABLISHED socket into {@code result} and {@code bytes}. */
    static native void read0(int fd, int[] result, byte[][] bytes) throws KernelShimException;

    /** TCP_REPAIR on, then close(fd): neither FIN nor RST. */
    static native void closeSilently0(int fd) throws KernelShimException;

    /** TCP_REPAIR on the socket at fd, then dup3() an unconnected socket over fd (silently dropping it). */
    static native void detachSilently0(int fd) throws KernelShimException;

    /** SO_LINGER {1, 0} and close: the kernel sends an RST at snd_nxt/rcv_nxt. The fd is gone either way. */
    static native void reset0(int fd) throws KernelShimException;

    /** Plain close(fd). */
    static native void close0(int fd) throws KernelShimException;

    /** Sets/clears O_NONBLOCK on newFd, then dup3(newFd, targetFd, O_CLOEXEC). Does not close newFd. */
    static native void swap0(int newFd, int targetFd, boolean nonBlocking) throws KernelShimException;

    /** The private int field fdVal of a JDK channel implementation; IllegalArgumentException if absent. */
    static native int fdOf0(Object channel);
}
