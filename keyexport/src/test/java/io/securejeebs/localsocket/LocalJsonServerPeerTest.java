package io.securejeebs.localsocket;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.Map;
import jdk.net.UnixDomainPrincipal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real UNIX sockets and a real client. Whether the peer may in is decided on its SO_PEERCRED credentials; the
 * kernel always gives them on Linux, so their failure is injected where they are read.
 */
class LocalJsonServerPeerTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private LocalJsonServer start(LocalJsonServer.PeerCredentials peers) throws IOException {
        return LocalJsonServer.start("test", dir.resolve("s").resolve("ctl.sock"), true,
                LocalJsonServer.Mode.REQUEST_LINE, LocalJsonServer.Limits.DEFAULT, new ObjectMapper(),
                request -> Map.of("answer", request), peers);
    }

    @Test
    void theOwnerIsServedOnItsRealCredentials() throws Exception {
        try (LocalJsonServer s = start(LocalJsonServer.PeerCredentials.SO_PEERCRED)) {
            assertEquals("{\"answer\":\"status\"}", LocalJsonClient.exchange(s.path(), "status", WAIT));
        }
    }

    @Test
    void aPeerWhoseCredentialsCannotBeReadIsRefused() throws Exception {
        try (LocalJsonServer s = start(ch -> {
            throw new IOException("getsockopt SO_PEERCRED failed");
        })) {
            assertRefused(s, "permission denied: the peer's credentials cannot be read");
        }
        try (LocalJsonServer s = start(ch -> null)) {
            assertRefused(s, "permission denied: the peer's credentials cannot be read");
        }
    }

    @Test
    void aPeerOfAnotherUserIsRefused() throws Exception {
        UserPrincipalLookupService users = FileSystems.getDefault().getUserPrincipalLookupService();
        UnixDomainPrincipal nobody = new UnixDomainPrincipal(users.lookupPrincipalByName("nobody"),
                users.lookupPrincipalByGroupName("nogroup"));
        try (LocalJsonServer s = start(ch -> nobody)) {
            assertRefused(s, "permission denied: only " + System.getProperty("user.name")
                    + " may use this socket, not nobody");
        }
    }

    private static void assertRefused(LocalJsonServer s, String error) throws Exception {
        String answer = LocalJsonClient.exchange(s.path(), "status", WAIT);
        assertEquals(error, new ObjectMapper().readTree(answer).path("error").asText(), answer);
    }
}
