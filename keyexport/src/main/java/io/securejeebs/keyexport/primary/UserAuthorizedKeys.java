package io.securejeebs.keyexport.primary;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.security.PublicKey;
import java.util.List;
import java.util.Optional;
import org.apache.sshd.common.config.keys.AuthorizedKeyEntry;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.PublicKeyEntryResolver;
import org.apache.sshd.server.auth.pubkey.PublickeyAuthenticator;
import org.apache.sshd.server.session.ServerSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * publickey authentication against the logging-in user's own {@code ~/.ssh/authorized_keys}, read fresh at
 * each attempt, with the file read under the USER's filesystem credentials (as sshd does), so that a
 * symlink cannot make root read a file the user may not.
 *
 * <p>Like sshd's StrictModes, the key file, {@code ~/.ssh} and the home directory must each be owned by the
 * user or root and not be writable by group or others; otherwise the file is ignored (logged).
 *
 * <p>Entries with options ({@code command=}, {@code from=}, {@code restrict}, {@code no-pty}, …) are ignored
 * with a warning: the primary does not enforce such options, and honouring the key without them would
 * grant more than the admin wrote. Certificates and {@code @cert-authority} lines are not supported.
 */
public final class UserAuthorizedKeys implements PublickeyAuthenticator {
    private static final Logger log = LoggerFactory.getLogger(UserAuthorizedKeys.class);

    private final boolean rootAllowed;

    /** @param rootAllowed whether root may log in with a key (auth.root-login is not "no") */
    public UserAuthorizedKeys(boolean rootAllowed) {
        this.rootAllowed = rootAllowed;
    }

    @Override
    public boolean authenticate(String username, PublicKey key, ServerSession session) {
        String from = PamAuthenticator.describe(session.getClientAddress());
        try {
            Optional<UnixAccount> account = UnixAccount.lookup(username);
            if (account.isEmpty()) {
                log.info("publickey for unknown user {} from {} refused", username, from);
                return false;
            }
            UnixAccount user = account.get();
            if (user.uid() == 0 && !rootAllowed) {
                log.info("publickey for {} from {} refused: root may not log in (auth.root-login = no)", username, from);
                return false;
            }
            Path file = user.home().resolve(".ssh").resolve("authorized_keys");
            String unsafe = unsafeReason(user, file);
            if (unsafe != null) {
                log.warn("publickey for {} from {} refused: ignoring {}: {}", username, from, file, unsafe);
                return false;
            }
            String text;
            try {
                text = ThreadFilesystemCredentials.callAs(user, "authorized-keys-" + username,
                        () -> Files.readString(file, StandardCharsets.UTF_8));
            } catch (NoSuchFileException e) {
                log.info("publickey for {} from {} refused: no {}", username, from, file);
                return false;
            }
            List<AuthorizedKeyEntry> entries = AuthorizedKeyEntry.readAuthorizedKeys(new StringReader(text), true);
            for (AuthorizedKeyEntry entry : entries) {
                PublicKey allowed;
                try {
                    allowed = entry.resolvePublicKey(session, PublicKeyEntryResolver.IGNORING);
                } catch (Exception e) {
                    log.debug("{}: unusable entry of type {}: {}", file, entry.getKeyType(), e.getMessage());
                    continue;
                }
                if (allowed == null || !KeyUtils.compareKeys(allowed, key)) {
                    continue;
                }
                if (entry.getLoginOptions() != null && !entry.getLoginOptions().isEmpty()) {
                    log.warn("publickey for {} from {}: the matching key in {} has options {}, which the primary"
                            + " does not enforce; entry ignored", username, from, file, entry.getLoginOptions().keySet());
                    continue;
                }
                log.debug("publickey {} {} matches {} for {}", KeyUtils.getKeyType(key),
                        KeyUtils.getFingerPrint(key), file, username);
                return true;
            }
            log.info("publickey {} {} for {} from {} refused: not in {}", KeyUtils.getKeyType(key),
                    KeyUtils.getFingerPrint(key), username, from, file);
            return false;
        } catch (IOException | RuntimeException e) {
            log.warn("publickey for {} from {} refused: {}", username, from, e.getMessage());
            return false;
        }
    }

    /** sshd's StrictModes for the key file and the two directories above it; null when safe. */
    private static String unsafeReason(UnixAccount user, Path file) throws IOException {
        for (Path p : List.of(file, file.getParent(), user.home())) {
            PosixFileAttributes a;
            try {
                a = Files.readAttributes(p, PosixFileAttributes.class);
            } catch (NoSuchFileException e) {
                continue; // a missing file is reported when it is read
            }
            int owner = (Integer) Files.getAttribute(p, "unix:uid");
            if (owner != 0 && owner != user.uid()) {
                return p + " is owned by uid " + owner + ", not by " + user.name() + " or root";
            }
            if (a.permissions().contains(PosixFilePermission.GROUP_WRITE)
                    || a.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
                return p + " is writable by group or others";
            }
        }
        return null;
    }
}
