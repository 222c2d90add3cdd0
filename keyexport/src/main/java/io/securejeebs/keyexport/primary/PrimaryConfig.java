package io.securejeebs.keyexport.primary;

import io.securejeebs.config.ConfigException;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.keyexport.export.SharedSecretEncodings;
import io.securejeebs.localsocket.PrivateSocketPath;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.apache.sshd.common.NamedResource;
import org.apache.sshd.common.OptionalFeature;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.kex.BuiltinDHFactories;
import org.apache.sshd.common.mac.BuiltinMacs;
import org.apache.sshd.common.signature.BuiltinSignatures;

/**
 * The primary SSH server's settings, from a hand-edited file ({@link ConfigFile}: {@code key = value}, errors
 * name the file and the line, unknown keys are refused). {@code conf/primary.conf} is the commented sample.
 *
 * @param listen address and port to accept SSH connections on
 * @param primaryId this primary's name in every exported KEX record
 * @param ed25519HostKey OpenSSH private key file; created on first start when absent
 * @param ecdsaHostKey likewise, ECDSA on nistp256
 * @param rsaHostKey likewise, RSA 3072
 * @param identification the software-version part of the SSH identification line (after {@code SSH-2.0-});
 *                       the recovery server must send the same
 * @param kexAlgorithms key exchanges, in preference order
 * @param ciphers ciphers, in preference order
 * @param macs MACs, in preference order
 * @param signatures host key and user key signature algorithms, in preference order
 * @param directTcpip whether clients may open direct-tcpip channels ({@code ssh -L}, {@code -W})
 * @param exportFailClosed whether a session whose key exchange could not be exported is disconnected
 *                         (otherwise it goes on, logged and counted as unprotected)
 * @param exportTimeout how long one export may take before it counts as failed
 * @param pamService the PAM service that checks passwords ({@code /etc/pam.d/NAME})
 * @param publickeyAuth whether publickey authentication (~/.ssh/authorized_keys) is offered
 * @param passwordAuth whether password authentication (PAM) is offered
 * @param keyboardInteractiveAuth whether keyboard-interactive authentication (PAM, one password prompt) is offered
 * @param rootLogin whether root may log in: with a key only (default, as sshd's PermitRootLogin), at all, or not
 * @param acceptEnv client environment variables a session takes ({@code LANG}, or a prefix such as {@code LC_*})
 * @param exportDestination where sealed KEX records go, or null
 * @param probeSocket TEST ONLY: the UNIX socket of the state probe ({@code probe.socket}), or null (the default:
 *                    no probe). The probe reveals every session's sequence numbers and cipher positions.
 */
public record PrimaryConfig(
        InetSocketAddress listen,
        String primaryId,
        Path ed25519HostKey,
        Path ecdsaHostKey,
        Path rsaHostKey,
        String identification,
        List<String> kexAlgorithms,
        List<String> ciphers,
        List<String> macs,
        List<String> signatures,
        boolean directTcpip,
        boolean exportFailClosed,
        Duration exportTimeout,
        String pamService,
        boolean publickeyAuth,
        boolean passwordAuth,
        boolean keyboardInteractiveAuth,
        RootLogin rootLogin,
        List<String> acceptEnv,
        ExportDestination exportDestination,
        Path probeSocket) {

    /**
     * Where sealed KEX records go ({@code export.database.*}, {@code export.appliance-key},
     * {@code export.signing-key}); null when {@code export.database.url} is not set, and the primary runs
     * unprotected (or refuses to start, with {@code export.fail-closed}).
     */
    public record ExportDestination(String databaseUrl, String databaseUser, Path databasePasswordFile,
                                    Path appliancePublicKey, Path exportSigningKey) {}

    /** sshd's PermitRootLogin: yes, prohibit-password (keys only), no. */
    public enum RootLogin {
        YES("yes"), PROHIBIT_PASSWORD("prohibit-password"), NO("no");

        final String word;

        RootLogin(String word) {
            this.word = word;
        }
    }

    /** A modern OpenSSH server's key exchanges, restricted to those MINA SSHD 2.20 implements. */
    public static final List<String> DEFAULT_KEX = List.of(
            "mlkem768x25519-sha256",
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384",
            "ecdh-sha2-nistp521",
            "diffie-hellman-group-exchange-sha256",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group14-sha256");
    public static final List<String> DEFAULT_CIPHERS = List.of(
            "chacha20-poly1305@openssh.com",
            "aes128-gcm@openssh.com",
            "aes256-gcm@openssh.com",
            "aes128-ctr",
            "aes192-ctr",
            "aes256-ctr");
    public static final List<String> DEFAULT_MACS = List.of(
            "hmac-sha2-256-etm@openssh.com",
            "hmac-sha2-512-etm@openssh.com",
            "hmac-sha1-etm@openssh.com",
            "hmac-sha2-256",
            "hmac-sha2-512",
            "hmac-sha1");
    /** No ssh-rsa (SHA-1) and no DSA, as in OpenSSH ≥ 8.8. */
    public static final List<String> DEFAULT_SIGNATURES = List.of(
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
            "rsa-sha2-512",
            "rsa-sha2-256");
    public static final List<String> DEFAULT_ACCEPT_ENV = List.of("LANG", "LC_*", "COLORTERM", "NO_COLOR");
    public static final String DEFAULT_IDENTIFICATION = "SecureJeebs_0.1";
    public static final String DEFAULT_PAM_SERVICE = "securejeebs";

    private static final Pattern SOFTWARE_VERSION = Pattern.compile("[\\x21-\\x2C\\x2E-\\x7E]+( [\\x20-\\x7E]*)?");
    private static final Pattern PAM_SERVICE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*\\*?");

    public PrimaryConfig {
        kexAlgorithms = List.copyOf(kexAlgorithms);
        ciphers = List.copyOf(ciphers);
        macs = List.copyOf(macs);
        signatures = List.copyOf(signatures);
        acceptEnv = List.copyOf(acceptEnv);
    }

    /** The full identification line the server sends, without CR LF. */
    public String identificationLine() {
        return "SSH-2.0-" + identification;
    }

    /** The same settings listening elsewhere (tests listen on 127.0.0.1 and port 0, which the file does not allow). */
    public PrimaryConfig withListen(InetSocketAddress address) {
        return new PrimaryConfig(address, primaryId, ed25519HostKey, ecdsaHostKey, rsaHostKey, identification,
                kexAlgorithms, ciphers, macs, signatures, directTcpip, exportFailClosed, exportTimeout, pamService,
                publickeyAuth, passwordAuth, keyboardInteractiveAuth, rootLogin, acceptEnv, exportDestination,
                probeSocket);
    }

    public static PrimaryConfig load(Path file) throws ConfigException {
        return from(ConfigFile.load(file));
    }

    public static PrimaryConfig parse(String name, String text) throws ConfigException {
        return from(ConfigFile.parse(name, text));
    }

    /** Reads every setting, then refuses keys nobody asked for. */
    public static PrimaryConfig from(ConfigFile f) throws ConfigException {
        PrimaryConfig config = readFrom(f);
        f.rejectUnknownKeys();
        return config;
    }

    private static PrimaryConfig readFrom(ConfigFile f) throws ConfigException {
        InetSocketAddress listen = f.has("listen") ? f.ipv4SocketAddress("listen")
                : new InetSocketAddress(anyAddress(), 22);
        String primaryId = f.requiredString("primary.id");
        if (!primaryId.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
            throw f.error("primary.id", "'" + primaryId + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        Path ed25519 = path(f, "hostkey.ed25519", "/etc/securejeebs/ssh_host_ed25519_key");
        Path ecdsa = path(f, "hostkey.ecdsa", "/etc/securejeebs/ssh_host_ecdsa_key");
        Path rsa = path(f, "hostkey.rsa", "/etc/securejeebs/ssh_host_rsa_key");

        String ident = f.string("ssh.identification", DEFAULT_IDENTIFICATION);
        if (ident.startsWith("SSH-2.0-")) {
            ident = ident.substring("SSH-2.0-".length());
        }
        if (!SOFTWARE_VERSION.matcher(ident).matches() || ident.length() > 240) {
            throw f.error("ssh.identification", "'" + ident + "' is not an SSH software version: printable US-ASCII,"
                    + " no '-' and no space before the first space (RFC 4253 §4.2), at most 240 characters");
        }

        List<String> kex = algorithms(f, "algorithms.kex", DEFAULT_KEX, name -> {
            BuiltinDHFactories factory = BuiltinDHFactories.fromFactoryName(name);
            if (factory != null && factory.isSupported()) {
                SharedSecretEncodings.of(name); // every offered KEX must have a known K encoding
            }
            return factory;
        });
        List<String> ciphers = algorithms(f, "algorithms.ciphers", DEFAULT_CIPHERS, name -> {
            BuiltinCiphers c = BuiltinCiphers.fromFactoryName(name);
            if (c == BuiltinCiphers.none) {
                return null;
            }
            return c;
        });
        List<String> macs = algorithms(f, "algorithms.macs", DEFAULT_MACS, BuiltinMacs::fromFactoryName);
        List<String> signatures = algorithms(f, "algorithms.signatures", DEFAULT_SIGNATURES,
                BuiltinSignatures::fromFactoryName);

        boolean directTcpip = f.bool("forwarding.direct-tcpip", false);
        boolean failClosed = f.bool("export.fail-closed", false);
        Duration timeout = f.duration("export.timeout", Duration.ofSeconds(2), Duration.ofMillis(10),
                Duration.ofMinutes(1));

        String pam = f.string("auth.pam-service", DEFAULT_PAM_SERVICE);
        if (!PAM_SERVICE.matcher(pam).matches()) {
            throw f.error("auth.pam-service", "'" + pam + "' is not a PAM service name (a file name in /etc/pam.d)");
        }
        boolean publickey = f.bool("auth.publickey", true);
        boolean password = f.bool("auth.password", true);
        boolean keyboardInteractive = f.bool("auth.keyboard-interactive", true);
        String root = f.choice("auth.root-login", RootLogin.PROHIBIT_PASSWORD.word,
                Set.of("yes", "prohibit-password", "no"));
        RootLogin rootLogin = root.equals("yes") ? RootLogin.YES : root.equals("no") ? RootLogin.NO : RootLogin.PROHIBIT_PASSWORD;
        if (!publickey && !password && !keyboardInteractive) {
            throw new ConfigException(f.name(), 0, "every authentication method is switched off: nobody could log in");
        }

        List<String> acceptEnv = f.has("session.accept-env") ? words(f, "session.accept-env") : DEFAULT_ACCEPT_ENV;
        for (String v : acceptEnv) {
            if (!ENV_NAME.matcher(v).matches()) {
                throw f.error("session.accept-env", "'" + v + "' is not a variable name or a prefix ending in '*'");
            }
        }
        ExportDestination destination = null;
        if (f.has("export.database.url")) {
            String url = f.requiredString("export.database.url");
            if (!url.startsWith("jdbc:mysql://") && !url.startsWith("jdbc:mariadb://")) {
                throw f.error("export.database.url", "must be a jdbc:mysql:// URL, got '" + url + "'");
            }
            destination = new ExportDestination(url, f.string("export.database.user", "sj_primary"),
                    requiredPath(f, "export.database.password-file"),
                    requiredPath(f, "export.appliance-key"),
                    requiredPath(f, "export.signing-key"));
        }
        Path probeSocket = null;
        if (f.has("probe.socket")) {
            probeSocket = Path.of(f.requiredString("probe.socket"));
            String problem = PrivateSocketPath.problem(probeSocket);
            if (problem != null) {
                throw f.error("probe.socket", problem);
            }
        }
        return new PrimaryConfig(listen, primaryId, ed25519, ecdsa, rsa, ident, kex, ciphers, macs, signatures,
                directTcpip, failClosed, timeout, pam, publickey, password, keyboardInteractive, rootLogin, acceptEnv,
                destination, probeSocket);
    }

    private static InetAddress anyAddress() {
        try {
            return InetAddress.getByAddress(new byte[4]);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    private static Path path(ConfigFile f, String key, String defaultValue) throws ConfigException {
        String v = f.string(key, defaultValue);
        Path p = Path.of(v);
        if (!p.isAbsolute()) {
            throw f.error(key, "'" + v + "' must be an absolute path");
        }
        return p;
    }

    private static Path requiredPath(ConfigFile f, String key) throws ConfigException {
        f.requiredString(key);
        return path(f, key, null);
    }

    private static List<String> words(ConfigFile f, String key) throws ConfigException {
        List<String> out = new ArrayList<>();
        for (String w : f.requiredString(key).split("[,\\s]+")) {
            if (!w.isEmpty()) {
                out.add(w);
            }
        }
        return out;
    }

    /** A comma-separated algorithm list; each name must be one MINA implements AND can run here. */
    private static <T extends NamedResource & OptionalFeature> List<String> algorithms(
            ConfigFile f, String key, List<String> defaults, Function<String, T> lookup) throws ConfigException {
        if (!f.has(key)) {
            for (String name : defaults) {
                T t = lookup.apply(name);
                if (t == null || !t.isSupported()) {
                    throw new ConfigException(f.name(), 0, "built-in default '" + name + "' of '" + key
                            + "' is not supported by this MINA SSHD / JCE (is Bouncy Castle on the class path?)");
                }
            }
            return defaults;
        }
        Set<String> out = new LinkedHashSet<>();
        for (String name : words(f, key)) {
            T t = lookup.apply(name);
            if (t == null) {
                throw f.error(key, "'" + name + "' is not an algorithm MINA SSHD 2.20 offers here");
            }
            if (!t.isSupported()) {
                throw f.error(key, "'" + name + "' is not supported by this JVM's crypto providers");
            }
            if (!out.add(name)) {
                throw f.error(key, "'" + name + "' is listed twice");
            }
        }
        if (out.isEmpty()) {
            throw f.error(key, "the list is empty");
        }
        return List.copyOf(out);
    }
}
