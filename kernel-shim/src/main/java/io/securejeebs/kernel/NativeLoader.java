package io.securejeebs.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;

/**
 * Loads libsjshim.so exactly once.
 *
 * <p>The library is a resource of this jar ({@value #RESOURCE}). It is copied into a fresh private
 * (0700) temporary directory, {@link System#load loaded}, and the copy is deleted right away (the
 * mapping stays valid on Linux). The directory's parent is {@code java.io.tmpdir}, or the system property
 * {@value #TMPDIR_PROPERTY} when /tmp is mounted noexec.
 */
final class NativeLoader {

    static final String RESOURCE = "/native/linux-x86_64/libsjshim.so";
    static final String TMPDIR_PROPERTY = "io.securejeebs.kernel.tmpdir";

    private static volatile boolean loaded;
    private static UnsatisfiedLinkError failure;

    private NativeLoader() {
    }

    /**
     * Loads the library if that has not happened yet.
     *
     * @throws UnsatisfiedLinkError if the platform is not linux x86_64, the resource is missing, or
     *                              loading failed (every later call throws the same reason again)
     */
    static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (NativeLoader.class) {
            if (loaded) {
                return;
            }
            if (failure == null) {
                try {
                    load();
                    loaded = true;
                    return;
                } catch (UnsatisfiedLinkError e) {
                    failure = e;
                } catch (IOException | RuntimeException e) {
                    failure = linkError("kernel-shim: cannot load " + RESOURCE + ": " + e, e);
                }
            }
            throw linkError(failure.getMessage(), failure);
        }
    }

    private static void load() throws IOException {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsatisfiedLinkError("kernel-shim supports only linux x86_64 (TCP_REPAIR is Linux-only),"
                    + " this JVM runs on os.name=" + os + " os.arch=" + arch);
        }
        try (InputStream in = NativeLoader.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("kernel-shim: resource " + RESOURCE
                        + " is missing from the classpath (was the module built with gcc?)");
            }
            String parent = System.getProperty(TMPDIR_PROPERTY, System.getProperty("java.io.tmpdir"));
            Path dir = Files.createTempDirectory(Paths.get(parent), "sjshim-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            Path lib = dir.resolve("libsjshim.so");
            try {
                Files.copy(in, lib, StandardCopyOption.REPLACE_EXISTING);
                System.load(lib.toAbsolutePath().toString());
            } finally {
                Files.deleteIfExists(lib);
                Files.deleteIfExists(dir);
            }
        }
    }

    private static UnsatisfiedLinkError linkError(String message, Throwable cause) {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError(message);
        e.initCause(cause);
        return e;
    }
}
