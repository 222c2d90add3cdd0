package io.securejeebs.kernel;

import java.nio.channels.AsynchronousSocketChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.SocketChannel;
import java.util.Objects;
import java.util.Set;

/**
 * Puts a restored socket underneath an existing JDK channel object.
 *
 * <p>{@code dup3(newfd, channelfd, O_CLOEXEC)} atomically replaces the socket behind the channel's fd
 * number; the Java object (and everything holding it, such as a MINA SSHD Nio2Session) then talks over
 * the restored connection. The old socket loses its last reference and is closed, so its peer sees a
 * normal close (EOF). For an AsynchronousSocketChannel the JDK's epoll port recovers by itself: its next
 * EPOLL_CTL_MOD on the fd fails with ENOENT and it falls back to EPOLL_CTL_ADD (DESIGN §5.1).
 */
public final class SocketSwap {

    private static final Set<String> SUPPORTED = Set.of(
            "sun.nio.ch.SocketChannelImpl", "sun.nio.ch.UnixAsynchronousSocketChannelImpl");

    private SocketSwap() {
    }

    /**
     * The fd number of a JDK socket channel: the private int field {@code fdVal} of
     * sun.nio.ch.SocketChannelImpl or sun.nio.ch.UnixAsynchronousSocketChannelImpl, read from JNI with
     * GetFieldID (no --add-opens needed).
     *
     * @throws IllegalArgumentException for any other channel class (including DatagramChannel,
     *                                  ServerSocketChannel and third-party SocketChannel implementations)
     * @throws IllegalStateException    if the channel is closed
     */
    public static int fdOf(NetworkChannel channel) {
        Objects.requireNonNull(channel, "channel");
        if (!(channel instanceof SocketChannel || channel instanceof AsynchronousSocketChannel)
                || !isJdkImplementation(channel.getClass())) {
            throw new IllegalArgumentException("unsupported channel class " + channel.getClass().getName()
                    + ": only the JDK's own SocketChannel and AsynchronousSocketChannel implementations "
                    + SUPPORTED + " are supported");
        }
        if (!channel.isOpen()) {
            throw new IllegalStateException("channel is closed: " + channel);
        }
        NativeLoader.ensureLoaded();
        return Native.fdOf0(channel);
    }

    /**
     * Swaps the restored socket in under {@code target}; afterwards {@code restored} no longer owns an fd.
     *
     * <p>Steps: O_NONBLOCK on the new socket is set to match the target (SocketChannel:
     * {@code !isBlocking()}; AsynchronousSocketChannel: always non-blocking); then
     * {@code dup3(newfd, fdOf(target), O_CLOEXEC)}; then the original new fd is closed. If the
     * fcntl or dup3 fails, {@code restored} still owns its fd and the target is unchanged.
     *
     * <p>Constraints (DESIGN §5.1):
     * <ul>
     * <li>No read may be pending on the target during the swap: {@code dup3} while a read is pending hangs.
     * With MINA SSHD's Nio2Session, swap inside the read completion handler: the next read is issued on
     * the same thread after the handler returns. A blocking SocketChannel must not have a thread blocked
     * in read or write.</li>
     * <li>The target's write queue must be empty (nothing pending or partially written), or bytes meant for
     * the old connection go to the new one, or are lost.</li>
     * <li>Do not change the target's blocking mode concurrently.</li>
     * <li>No other dup of the old socket may exist: its stale epoll registration would survive.</li>
     * <li>The channel caches its addresses: {@code getRemoteAddress()} (and {@code getLocalAddress()}) keep
     * returning the old values. MINA sessions need {@code setClientAddress(original)} afterwards.</li>
     * <li>The channel's socket options set before the swap (TCP_NODELAY, SO_KEEPALIVE, buffer sizes...)
     * belong to the old socket and are not carried over.</li>
     * </ul>
     *
     * @throws IllegalArgumentException if the target is not a connected JDK socket channel
     * @throws IllegalStateException    if {@code restored} was already released or closed
     * @throws KernelShimException      naming the failing system call
     */
    public static void swap(RestoredSocket restored, NetworkChannel target) throws KernelShimException {
        Objects.requireNonNull(restored, "restored");
        Objects.requireNonNull(target, "target");
        boolean nonBlocking;
        if (target instanceof SocketChannel sc) {
            if (!sc.isConnected()) {
                throw new IllegalArgumentException("target SocketChannel is not connected: " + sc);
            }
            nonBlocking = !sc.isBlocking();
        } else if (target instanceof AsynchronousSocketChannel ac) {
            try {
                if (ac.getRemoteAddress() == null) {
                    throw new IllegalArgumentException("target AsynchronousSocketChannel is not connected: " + ac);
                }
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("target AsynchronousSocketChannel is closed: " + ac, e);
            }
            nonBlocking = true;
        } else {
            throw new IllegalArgumentException("unsupported swap target " + target.getClass().getName());
        }
        int targetFd = fdOf(target);
        int newFd = restored.fd();
        Native.swap0(newFd, targetFd, nonBlocking);
        Native.close0(restored.release());
    }

    private static boolean isJdkImplementation(Class<?> c) {
        for (; c != null; c = c.getSuperclass()) {
            if (SUPPORTED.contains(c.getName())) {
                return true;
            }
        }
        return false;
    }
}
