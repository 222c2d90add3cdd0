package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.util.List;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostKeysTest {
    @Test
    void keysAreCreatedOnceInOpenSshFormatWithOwnerOnlyPermissions(@TempDir Path dir) throws Exception {
        for (HostKeys.Kind kind : HostKeys.Kind.values()) {
            Path file = dir.resolve("keys").resolve(kind.name().toLowerCase());
            KeyPair created = HostKeys.loadOrCreate(file, kind);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
            assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                    file.resolveSibling(file.getFileName() + ".pub"))));
            KeyPair loaded = HostKeys.loadOrCreate(file, kind);
            assertArrayEquals(created.getPublic().getEncoded(), loaded.getPublic().getEncoded(), "loaded, not re-created");

            // OpenSSH itself reads the private key file and derives the same public key
            Proc.Result r = Proc.run(List.of("ssh-keygen", "-l", "-f", file.toString())).requireSuccess("ssh-keygen -l");
            assertTrue(r.out().contains(KeyUtils.getFingerPrint(created.getPublic())), kind + ": " + r.out());
            String bits = r.out().split(" ")[0];
            assertEquals(switch (kind) { case ED25519, ECDSA -> "256"; case RSA -> "3072"; }, bits);
            Proc.run(List.of("ssh-keygen", "-y", "-f", file.toString())).requireSuccess("ssh-keygen -y");
        }
    }

    @Test
    void aKeyOthersCanReadOrOfTheWrongTypeIsRefused(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("ed25519");
        HostKeys.loadOrCreate(file, HostKeys.Kind.ED25519);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        IOException e = assertThrows(IOException.class, () -> HostKeys.loadOrCreate(file, HostKeys.Kind.ED25519));
        assertTrue(e.getMessage().contains("readable by its owner only"), e.getMessage());

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        e = assertThrows(IOException.class, () -> HostKeys.loadOrCreate(file, HostKeys.Kind.RSA));
        assertTrue(e.getMessage().contains("expected ssh-rsa"), e.getMessage());
    }
}
