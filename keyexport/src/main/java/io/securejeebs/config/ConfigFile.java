package io.securejeebs.config;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A hand-edited config file: one {@code key = value} per line, {@code #} starts a comment, blank lines
 * are ignored. Keys are dotted names ({@code heartbeat.interval}). Every accessor validates its value and
 * throws a {@link ConfigException} that names the file and the line. Keys nobody asked for are errors
 * too ({@link #rejectUnknownKeys()}), so a typo never silently falls back to a default.
 */
public final class ConfigFile {
    private static final Pattern LINE = Pattern.compile("^([A-Za-z][A-Za-z0-9_.-]*)\\s*=\\s*(.*?)\\s*$");
    private static final Pattern SIZE = Pattern.compile("^([0-9]+)\\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)$");
    private static final Pattern TIME = Pattern.compile("^([0-9]+)\\s*(ms|s|m|min|h)$");
    /** A whole number in ASCII digits only (Integer.parseInt would take any Unicode digit). */
    private static final Pattern WHOLE = Pattern.compile("^-?[0-9]+$");

    private record Entry(String value, int line) {}

    private final String name;
    private final Map<String, Entry> entries;
    private final Set<String> asked = new TreeSet<>();

    private ConfigFile(String name, Map<String, Entry> entries) {
        this.name = name;
        this.entries = entries;
    }

    public static ConfigFile load(Path path) throws ConfigException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new ConfigException(path.toString(), 0, "cannot read: " + e.getMessage());
        }
        return parse(path.toString(), decode(path.toString(), bytes));
    }

    /** Strict UTF-8; a byte that is not names its line. */
    static String decode(String name, byte[] bytes) throws ConfigException {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        CoderResult r = decoder.decode(in, out, true);
        if (!r.isError()) {
            r = decoder.flush(out);
        }
        if (r.isError()) {
            int line = 1;
            for (int i = 0; i < in.position(); i++) {
                if (bytes[i] == '\n') {
                    line++;
                }
            }
            throw new ConfigException(name, line, "not UTF-8 text (byte 0x"
                    + String.format("%02x", bytes[in.position()] & 0xff) + " at offset " + in.position() + ")");
        }
        return out.flip().toString();
    }

    public static ConfigFile parse(String name, String text) throws ConfigException {
        Map<String, Entry> entries = new LinkedHashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String raw = stripComment(lines[i]).strip();
            if (raw.isEmpty()) {
                continue;
            }
            Matcher m = LINE.matcher(raw);
            if (!m.matches()) {
                throw new ConfigException(name, i + 1, "expected 'key = value', got '" + raw + "'");
            }
            String key = m.group(1).toLowerCase(Locale.ROOT);
            String value = m.group(2);
            if (value.isEmpty()) {
                throw new ConfigException(name, i + 1, "'" + key + "' has no value");
            }
            Entry previous = entries.put(key, new Entry(value, i + 1));
            if (previous != null) {
                throw new ConfigException(name, i + 1, "'" + key + "' is set twice (first on line " + previous.line + ")");
            }
        }
        return new ConfigFile(name, entries);
    }

    private static String stripComment(String line) {
        int hash = line.indexOf('#');
        return hash < 0 ? line : line.substring(0, hash);
    }

    public String name() {
        return name;
    }

    public boolean has(String key) {
        asked.add(key);
        return entries.containsKey(key);
    }

    public String string(String key, String defaultValue) {
        asked.add(key);
        Entry e = entries.get(key);
        return e == null ? defaultValue : e.value;
    }

    public String requiredString(String key) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            throw new ConfigException(name, 0, "missing required setting '" + key + "'");
        }
        return e.value;
    }

    public int integer(String key, int defaultValue, int min, int max) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        if (!WHOLE.matcher(e.value).matches()) {
            throw error(key, "'" + e.value + "' is not a whole number");
        }
        BigInteger v = new BigInteger(e.value);
        if (v.compareTo(BigInteger.valueOf(min)) < 0 || v.compareTo(BigInteger.valueOf(max)) > 0) {
            throw error(key, "must be between " + min + " and " + max + ", got " + v);
        }
        return v.intValueExact();
    }

    /** A byte size: {@code 4MiB}, {@code 512k}, {@code 1048576}. k, m, g are binary (1024) multiples. */
    public long bytes(String key, long defaultValue, long min, long max) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        Matcher m = SIZE.matcher(e.value.toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw error(key, "'" + e.value + "' is not a size (examples: 65536, 512KiB, 4MiB)");
        }
        int shift = switch (m.group(2)) {
            case "k", "kb", "kib" -> 10;
            case "m", "mb", "mib" -> 20;
            case "g", "gb", "gib" -> 30;
            default -> 0;
        };
        // In BigInteger: 17179869185g must be refused as too large, not wrap round to 1 GiB.
        BigInteger v = new BigInteger(m.group(1)).shiftLeft(shift);
        if (v.compareTo(BigInteger.valueOf(min)) < 0 || v.compareTo(BigInteger.valueOf(max)) > 0) {
            throw error(key, "must be between " + min + " and " + max + " bytes, got " + v);
        }
        return v.longValueExact();
    }

    /** A duration: {@code 100ms}, {@code 2s}, {@code 5min}, {@code 1h}. The unit is required. */
    public Duration duration(String key, Duration defaultValue, Duration min, Duration max) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        Matcher m = TIME.matcher(e.value.toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw error(key, "'" + e.value + "' is not a duration (examples: 100ms, 2s, 5min)");
        }
        long unitMillis = switch (m.group(2)) {
            case "ms" -> 1;
            case "s" -> 1000;
            case "m", "min" -> 60_000;
            default -> 3_600_000;
        };
        // In BigInteger: a huge value is out of range, not an ArithmeticException.
        BigInteger millis = new BigInteger(m.group(1)).multiply(BigInteger.valueOf(unitMillis));
        if (millis.compareTo(BigInteger.valueOf(min.toMillis())) < 0
                || millis.compareTo(BigInteger.valueOf(max.toMillis())) > 0) {
            throw error(key, "must be between " + min.toMillis() + " ms and " + max.toMillis() + " ms, got "
                    + millis + " ms");
        }
        return Duration.ofMillis(millis.longValueExact());
    }

    public boolean bool(String key, boolean defaultValue) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        return switch (e.value.toLowerCase(Locale.ROOT)) {
            case "yes", "true", "on" -> true;
            case "no", "false", "off" -> false;
            default -> throw error(key, "'" + e.value + "' is not yes or no");
        };
    }

    /** One of a fixed set of words. */
    public String choice(String key, String defaultValue, Set<String> allowed) throws ConfigException {
        String v = string(key, defaultValue);
        if (v != null && !allowed.contains(v)) {
            throw error(key, "'" + v + "' is not one of " + allowed);
        }
        return v;
    }

    /** A dotted-quad IPv4 address (host names are refused: resolution must not happen at failover time). */
    public InetAddress ipv4(String key) throws ConfigException {
        String v = requiredString(key);
        return parseIpv4(key, v);
    }

    /** An IPv4 address with a prefix length, as in {@code 10.213.0.100/24}. */
    public Ipv4Prefix ipv4Prefix(String key) throws ConfigException {
        String v = requiredString(key);
        int slash = v.indexOf('/');
        if (slash < 0) {
            throw error(key, "'" + v + "' needs a prefix length, as in 10.213.0.100/24");
        }
        InetAddress a = parseIpv4(key, v.substring(0, slash));
        String lenText = v.substring(slash + 1);
        if (!lenText.matches("[0-9]{1,2}")) {
            throw error(key, "'" + lenText + "' is not a prefix length");
        }
        int len = Integer.parseInt(lenText);
        if (len < 1 || len > 32) {
            throw error(key, "prefix length must be between 1 and 32, got " + len);
        }
        return new Ipv4Prefix(a, len);
    }

    /** An IPv4 address and port, as in {@code 10.213.0.2:22}. */
    public java.net.InetSocketAddress ipv4SocketAddress(String key) throws ConfigException {
        String v = requiredString(key);
        int colon = v.lastIndexOf(':');
        if (colon < 0) {
            throw error(key, "'" + v + "' needs a port, as in 10.213.0.2:22");
        }
        InetAddress a = parseIpv4(key, v.substring(0, colon));
        return new java.net.InetSocketAddress(a, parsePort(key, v.substring(colon + 1)));
    }

    /** A comma-separated list of TCP ports. */
    public List<Integer> ports(String key, List<Integer> defaultValue) throws ConfigException {
        asked.add(key);
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        List<Integer> out = new ArrayList<>();
        for (String p : e.value.split(",")) {
            int port = parsePort(key, p.strip());
            if (out.contains(port)) {
                throw error(key, "port " + port + " is listed twice");
            }
            out.add(port);
        }
        return List.copyOf(out);
    }

    private int parsePort(String key, String p) throws ConfigException {
        if (!p.matches("[0-9]{1,5}")) {
            throw error(key, "'" + p + "' is not a port number");
        }
        int port = Integer.parseInt(p);
        if (port < 1 || port > 65535) {
            throw error(key, "port must be between 1 and 65535, got " + port);
        }
        return port;
    }

    private InetAddress parseIpv4(String key, String v) throws ConfigException {
        String[] parts = v.split("\\.", -1);
        if (parts.length != 4) {
            throw error(key, "'" + v + "' is not an IPv4 address");
        }
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
            if (!parts[i].matches("[0-9]{1,3}") || Integer.parseInt(parts[i]) > 255) {
                throw error(key, "'" + v + "' is not an IPv4 address");
            }
            b[i] = (byte) Integer.parseInt(parts[i]);
        }
        try {
            return InetAddress.getByAddress(b);
        } catch (UnknownHostException x) {
            throw new AssertionError(x);
        }
    }

    /** A problem with the value of {@code key}, reported at its line. */
    public ConfigException error(String key, String reason) {
        Entry e = entries.get(key);
        return new ConfigException(name, e == null ? 0 : e.line, "'" + key + "': " + reason);
    }

    /** Fails on the first key that no accessor asked for: most likely a typo. */
    public void rejectUnknownKeys() throws ConfigException {
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            if (!asked.contains(e.getKey())) {
                throw new ConfigException(name, e.getValue().line, "unknown setting '" + e.getKey() + "'"
                        + suggestion(e.getKey()));
            }
        }
    }

    private String suggestion(String unknown) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String k : asked) {
            int d = editDistance(unknown, k);
            if (d < bestDistance) {
                bestDistance = d;
                best = k;
            }
        }
        return best != null && bestDistance <= 3 ? " (did you mean '" + best + "'?)" : "";
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
