package io.securejeebs.monitor.warmup;

import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.config.hosts.HostConfigEntryResolver;
import org.apache.sshd.common.keyprovider.KeyIdentityProvider;

/**
 * A MINA SSH client for the appliance's own in-JVM loopback sessions (the start-up warm-ups), which reads
 * nothing of the host it runs on. MINA's default client reads the running user's {@code ~/.ssh/config} at
 * every connect and offers the keys in {@code ~/.ssh/id_*} at every login: the appliance runs as root with a
 * bounded capability set and perhaps no readable home, so those reads failed the warm-up at start, and
 * root's own files have no business in it anyway. Callers log in with the identity they add to the session.
 */
public final class IsolatedSshClient {
    private IsolatedSshClient() {}

    /**
     * Not started; the caller closes it. Host keys are accepted silently (MINA's accept-all verifier logs a
     * warning per connect): the peer is a server this JVM started on loopback for the warm-up.
     */
    public static SshClient create() {
        SshClient client = SshClient.setUpDefaultClient();
        client.setHostConfigEntryResolver(HostConfigEntryResolver.EMPTY);
        client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
        client.setServerKeyVerifier((session, remote, key) -> true);
        return client;
    }
}
