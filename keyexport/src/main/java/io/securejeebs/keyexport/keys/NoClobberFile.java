package io.securejeebs.keyexport.keys;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Set;

/**
 * Creates a file that appears complete or not at all, with its permissions set from the moment it
 * exists, and never replaces an existing file.
 *
 * <p>How: the bytes go to a temporary file in the same directory, created by {@code open(O_CREAT|O_EXCL)}
 * with the final mode (so a secret is never readable by anyone else, not even for an instant), then
 * flushed to disk; then the final name is made a hard link to it ({@code link(2)}, which fails if the
 * name exists: no check-then-act race), and the temporary name is removed.
 */
final class NoClobberFile {
    static final Set<PosixFilePermission> OWNER_READ_WRITE = PosixFilePermissions.fromString("rw-------");
    static final Set<PosixFilePermission> WORLD_READABLE = PosixFilePermissions.fromString("rw-r--r--");

    private static final SecureRandom RANDOM = new SecureRandom();

    private NoClobberFile() {
    }

    /**
     * @param permissions the final mode. For {@link #OWNER_READ_WRITE} the process umask can only take
     *        bits away (never add any); any other (non-secret) mode is set exactly, before the content
     * @throws KeyFileException if the file exists (naming it) or cannot be written
     */
    static void create(Path target, byte[] content, Set<PosixFilePermission> permissions) throws KeyFileException {
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        if (Files.exists(absolute, LinkOption.NOFOLLOW_LINKS)) {
            throw exists(absolute);
        }
        Path temp = dir.resolve("." + absolute.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
        FileChannel channel;
        try {
            // One open(O_CREAT|O_EXCL|O_WRONLY, mode): the file has its final mode before it has a byte.
            channel = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(permissions));
        } catch (IOException | UnsupportedOperationException e) {
            throw new KeyFileException("cannot create a file in " + dir + ": " + describe(e), e);
        }
        try {
            try (channel) {
                if (!permissions.equals(OWNER_READ_WRITE)) {
                    // Not secret: give it exactly the mode asked for, whatever the umask took away.
                    Files.setPosixFilePermissions(temp, permissions);
                }
                ByteBuffer buffer = ByteBuffer.wrap(content);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                channel.force(true);
            }
            try {
                Files.createLink(absolute, temp);
            } catch (FileAlreadyExistsException e) {
                throw exists(absolute);
            }
            syncDirectory(dir);
        } catch (IOException e) {
            throw new KeyFileException("cannot write " + absolute + ": " + describe(e), e);
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException e) {
                // The temporary name is left behind; the target is complete (or absent) either way.
            }
        }
    }

    private static KeyFileException exists(Path file) {
        return new KeyFileException(file + " already exists; refusing to overwrite it"
                + " (move it away first if you really mean to replace the key)");
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // Some file systems cannot fsync a directory; the file itself is already on disk.
        }
    }

    static String describe(Exception e) {
        String m = e.getMessage();
        String what = e.getClass().getSimpleName().replace("Exception", "");
        return m == null ? what : what + ": " + m;
    }
}
