package io.securejeebs.localsocket;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.EnumSet;
import java.util.Set;

/**
 * A root-only UNIX domain socket file (JDK 16+ {@link UnixDomainSocketAddress}, no JNI): mode 0600, in a
 * directory of mode 0700 owned by this process's user. The directory is what keeps others out: the socket file
 * exists with the umask's mode for a moment between {@code bind} and {@code chmod}, and nobody else can reach
 * it through a 0700 directory in that moment either.
 */
public final class PrivateSocketPath {
    /** {@code sun_path} holds 108 bytes including the terminating NUL. */
    public static final int MAX_PATH_BYTES = 107;

    private static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> GROUP_OR_OTHER = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private PrivateSocketPath() {}

    /** What is wrong with {@code path} as a socket path (for a config error), or null. */
    public static String problem(Path path) {
        if (!path.isAbsolute()) {
            return "'" + path + "' must be an absolute path";
        }
        if (path.getParent() == null || path.getFileName() == null) {
            return "'" + path + "' must name a file inside a directory";
        }
        int bytes = path.toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_PATH_BYTES) {
            return "'" + path + "' is " + bytes + " bytes long; a UNIX socket path may have at most " + MAX_PATH_BYTES;
        }
        return null;
    }

    /**
     * Binds a listening socket at {@code socket}, mode 0600.
     *
     * <ul>
     * <li>A missing directory is created, mode 0700 (and its missing parents, likewise).</li>
     * <li>An existing directory must be a directory (not a symbolic link) owned by this process's user, with no
     *     permission for group or others. With {@code tightenParent} (for a directory this program owns, such as
     *     the appliance's state dir) group and other permissions are removed instead, unless others may write to
     *     it: a shared directory such as /tmp is never changed, always refused.</li>
     * <li>A socket file left behind by a process that is gone is replaced; one that still accepts connections
     *     is refused (another instance is running); any other kind of file is refused.</li>
     * </ul>
     */
    public static ServerSocketChannel bind(Path socket, boolean tightenParent) throws IOException {
        String problem = problem(socket);
        if (problem != null) {
            throw new IOException(problem);
        }
        prepareDirectory(socket.getParent(), tightenParent);
        removeStale(socket);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socket));
            Files.setPosixFilePermissions(socket, OWNER_ONLY_FILE);
            return server;
        } catch (IOException | RuntimeException e) {
            server.close();
            Files.deleteIfExists(socket);
            throw new IOException("cannot listen on " + socket + ": " + e.getMessage(), e);
        }
    }

    /** Removes the socket file (at shutdown). */
    public static void remove(Path socket) {
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // the next start replaces a stale socket anyway
        }
    }

    private static void prepareDirectory(Path dir, boolean tighten) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            try {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIR));
            } catch (FileAlreadyExistsException raced) {
                // created meanwhile: checked below like any existing directory
            }
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException("cannot create " + dir);
            }
        }
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isDirectory()) {
            throw new IOException(dir + " is not a directory" + (a.isSymbolicLink() ? " (a symbolic link)" : ""));
        }
        UserPrincipal me = dir.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(System.getProperty("user.name"));
        if (!a.owner().equals(me)) {
            throw new IOException(dir + " belongs to " + a.owner().getName() + ", not to " + me.getName()
                    + ": a private socket must live in a directory of its own user, mode 0700");
        }
        Set<PosixFilePermission> perms = a.permissions();
        boolean open = perms.stream().anyMatch(GROUP_OR_OTHER::contains);
        if (!open) {
            return;
        }
        if (tighten && !perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            Set<PosixFilePermission> tightened = EnumSet.copyOf(perms);
            tightened.removeAll(GROUP_OR_OTHER);
            Files.setPosixFilePermissions(dir, tightened);
            return;
        }
        throw new IOException(dir + " has mode " + PosixFilePermissions.toString(perms)
                + ": a private socket must live in a directory only its owner may enter (chmod 700 " + dir
                + ", or choose a path in a directory of its own)");
    }

    private static void removeStale(Path socket) throws IOException {
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IOException(socket + " exists and is not a socket: remove it or choose another path");
        }
        try {
            SocketChannel.open(UnixDomainSocketAddress.of(socket)).close();
        } catch (java.net.SocketException gone) {
            Files.deleteIfExists(socket); // left behind by a process that is gone
            return;
        }
        throw new IOException(socket + " is in use: another instance is running and answers on it");
    }
}
