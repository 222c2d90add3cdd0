package io.securejeebs.kernel;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Owns the file descriptor of a socket built by {@link TcpRepair#restore}.
 *
 * <p>The socket is live (repair mode is off): closing it closes the restored connection normally
 * (FIN, or RST if unread data is queued). Use {@link #release()} or {@link SocketSwap#swap} to hand the
 * fd on, or {@link #closeSilently()} to drop it with nothing on the wire. Thread-safe.
 */
public final class RestoredSocket implements AutoCloseable {

    private final AtomicInteger fd;

    RestoredSocket(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd < 0: " + fd);
        }
        this.fd = new AtomicInteger(fd);
    }

    /**
     * The file descriptor.
     *
     * @throws IllegalStateException if it was released or closed
     */
    public int fd() {
        int v = fd.get();
        if (v < 0) {
            throw new IllegalStateException("restored socket was already released or closed");
        }
        return v;
    }

    /** Whether this object still owns its fd. */
    public boolean isOwned() {
        return fd.get() >= 0;
    }

    /**
     * Hands ownership of the fd to the caller; {@link #close()} then does nothing.
     *
     * @throws IllegalStateException if it was already released or closed
     */
    public int release() {
        int v = fd.getAndSet(-1);
        if (v < 0) {
            throw new IllegalStateException("restored socket was already released or closed");
        }
        return v;
    }

    /** Closes the fd (normal TCP close) unless it was handed off. Idempotent. */
    @Override
    public void close() throws KernelShimException {
        int v = fd.getAndSet(-1);
        if (v >= 0) {
            NativeLoader.ensureLoaded();
            Native.close0(v);
        }
    }

    /**
     * Drops the socket without sending FIN or RST (see {@link TcpRepair#closeSilently(int)}), unless it was
     * handed off. If TCP_REPAIR cannot be switched on, the fd stays open and owned by this object.
     */
    public void closeSilently() throws KernelShimException {
        int v = fd.getAndSet(-1);
        if (v >= 0) {
            try {
                NativeLoader.ensureLoaded();
                Native.closeSilently0(v);
            } catch (KernelShimException | RuntimeException | Error e) {
                fd.set(v); // still open: ownership stays here
                throw e;
            }
        }
    }

    /**
     * Ends the connection with an RST (SO_LINGER 0, then close), unless it was handed off: the peer accepts it
     * when the socket was restored at the sequence number the peer expects next.
     */
    public void reset() throws KernelShimException {
        int v = fd.getAndSet(-1);
        if (v >= 0) {
            NativeLoader.ensureLoaded();
            Native.reset0(v);
        }
    }

    @Override
    public String toString() {
        int v = fd.get();
        return v >= 0 ? "RestoredSocket[fd=" + v + "]" : "RestoredSocket[released]";
    }
}
