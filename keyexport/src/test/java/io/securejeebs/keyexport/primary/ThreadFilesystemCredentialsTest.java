package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The per-thread credentials, with the system's "nobody" account (no test user needed). */
class ThreadFilesystemCredentialsTest {
    @Test
    void onlyTheCallingThreadLosesRootsFileAccess() throws Exception {
        UnixAccount nobody = UnixAccount.lookup("nobody").orElseThrow();
        Path shadow = Path.of("/etc/shadow");
        int[] rootGroups = ThreadFilesystemCredentials.currentGroups();

        String asNobody = ThreadFilesystemCredentials.callAs(nobody, "test-nobody", () -> {
            assertEquals(nobody.uid(), ThreadFilesystemCredentials.currentFsuid());
            assertEquals(nobody.gid(), ThreadFilesystemCredentials.currentFsgid());
            int[] groups = ThreadFilesystemCredentials.currentGroups();
            int[] want = nobody.groups();
            Arrays.sort(groups);
            Arrays.sort(want);
            assertArrayEquals(want, groups);
            assertThrows(AccessDeniedException.class, () -> Files.readAllBytes(shadow));
            return Files.readString(Path.of("/etc/hostname")); // world-readable: still fine
        });
        assertTrue(!asNobody.isEmpty());

        // this thread (and the JVM) kept root's credentials
        assertEquals(0, ThreadFilesystemCredentials.currentFsuid());
        assertArrayEquals(rootGroups, ThreadFilesystemCredentials.currentGroups());
        assertTrue(Files.readAllBytes(shadow).length > 0);
    }

    @Test
    void aThreadCanGoBackToRoot() throws Exception {
        UnixAccount nobody = UnixAccount.lookup("nobody").orElseThrow();
        int[] rootGroups = ThreadFilesystemCredentials.currentGroups();
        ThreadFilesystemCredentials.callAs(nobody, "test-back", () -> {
            ThreadFilesystemCredentials.restoreRoot(rootGroups);
            assertEquals(0, ThreadFilesystemCredentials.currentFsuid());
            return Files.readAllBytes(Path.of("/etc/shadow")).length;
        });
    }
}
