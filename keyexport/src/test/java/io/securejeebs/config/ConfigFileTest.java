package io.securejeebs.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigFileTest {
    private static ConfigException fails(String text, ThrowingUse use) {
        return assertThrows(ConfigException.class, () -> use.apply(ConfigFile.parse("test.conf", text)));
    }

    private interface ThrowingUse {
        void apply(ConfigFile f) throws ConfigException;
    }

    @Test
    void parsesValuesCommentsAndUnits() throws Exception {
        ConfigFile f = ConfigFile.parse("t.conf", """
                # a comment
                heartbeat.interval = 100ms   # trailing comment
                buffer = 4MiB
                ports = 22, 7000

                enabled = yes
                """);
        assertEquals(Duration.ofMillis(100), f.duration("heartbeat.interval", null, Duration.ZERO, Duration.ofHours(1)));
        assertEquals(4L << 20, f.bytes("buffer", 0, 0, Long.MAX_VALUE));
        assertEquals(List.of(22, 7000), f.ports("ports", List.of()));
        assertTrue(f.bool("enabled", false));
        assertEquals("dflt", f.string("absent", "dflt"));
        f.rejectUnknownKeys();
    }

    @Test
    void everyErrorNamesTheFileTheLineAndTheReason() {
        ConfigException e = fails("\n\nthis is not a setting\n", f -> { });
        assertEquals(3, e.line());
        assertEquals("test.conf:3: expected 'key = value', got 'this is not a setting'", e.getMessage());

        e = fails("a = 1\nheartbeat.misses = lots\n", f -> f.integer("heartbeat.misses", 3, 1, 100));
        assertEquals("test.conf:2: 'heartbeat.misses': 'lots' is not a whole number", e.getMessage());

        e = fails("heartbeat.misses = 0\n", f -> f.integer("heartbeat.misses", 3, 1, 100));
        assertTrue(e.getMessage().startsWith("test.conf:1: 'heartbeat.misses': must be between 1 and 100"));

        e = fails("x = 1\nx = 2\n", f -> { });
        assertEquals("test.conf:2: 'x' is set twice (first on line 1)", e.getMessage());

        e = fails("x =\n", f -> { });
        assertEquals(1, e.line());

        e = fails("heartbeat.intervall = 100ms\n", f -> {
            f.duration("heartbeat.interval", Duration.ofMillis(100), Duration.ZERO, Duration.ofHours(1));
            f.rejectUnknownKeys();
        });
        assertEquals("test.conf:1: unknown setting 'heartbeat.intervall' (did you mean 'heartbeat.interval'?)",
                e.getMessage());

        e = fails("i = 100\n", f -> f.duration("i", null, Duration.ZERO, Duration.ofHours(1)));
        assertTrue(e.getMessage().contains("not a duration"), e.getMessage());

        e = fails("vip = 10.213.0.300/24\n", f -> f.ipv4Prefix("vip"));
        assertTrue(e.getMessage().contains("not an IPv4 address"), e.getMessage());

        e = fails("vip = 10.213.0.100\n", f -> f.ipv4Prefix("vip"));
        assertTrue(e.getMessage().contains("needs a prefix length"), e.getMessage());

        e = fails("p = 22, 70000\n", f -> f.ports("p", List.of()));
        assertTrue(e.getMessage().contains("between 1 and 65535"), e.getMessage());

        e = fails("", f -> f.requiredString("capture.interface"));
        assertEquals("test.conf: missing required setting 'capture.interface'", e.getMessage());
        assertEquals(0, e.line());

        e = fails("b = 12 parsecs\n", f -> f.bytes("b", 0, 0, 100));
        assertTrue(e.getMessage().contains("not a size"), e.getMessage());

        e = fails("e = maybe\n", f -> f.bool("e", true));
        assertTrue(e.getMessage().contains("not yes or no"), e.getMessage());
    }

    @Test
    void aHugeDurationIsOutOfRangeNotAnArithmeticException() {
        ConfigException e = fails("\nt = 9999999999999999999h\n",
                f -> f.duration("t", null, Duration.ZERO, Duration.ofHours(1)));
        assertEquals("test.conf:2: 't': must be between 0 ms and 3600000 ms, got 35999999999999999996400000 ms",
                e.getMessage());
        e = fails("t = 9223372036854775807min\n", f -> f.duration("t", null, Duration.ZERO, Duration.ofHours(1)));
        assertTrue(e.getMessage().startsWith("test.conf:1: 't': must be between"), e.getMessage());
    }

    @Test
    void aHugeSizeIsRefusedNotWrapped() {
        // 17179869185 << 30 wraps to exactly 1 GiB in a long
        ConfigException e = fails("b = 17179869185g\n", f -> f.bytes("b", 0, 1L << 20, 2L << 30));
        assertEquals("test.conf:1: 'b': must be between 1048576 and 2147483648 bytes, got 18446744074783293440",
                e.getMessage());
        e = fails("b = 99999999999999999999999\n", f -> f.bytes("b", 0, 0, Long.MAX_VALUE));
        assertTrue(e.getMessage().startsWith("test.conf:1: 'b': must be between"), e.getMessage());
    }

    @Test
    void onlyAsciiDigitsAreNumbers() {
        // ARABIC-INDIC DIGIT THREE and FULLWIDTH DIGIT TWO: Integer.parseInt takes both
        ConfigException e = fails("n = \u0663\n", f -> f.integer("n", 0, 0, 10));
        assertEquals("test.conf:1: 'n': '\u0663' is not a whole number", e.getMessage());
        e = fails("p = \uff12\uff12\n", f -> f.ports("p", List.of()));
        assertEquals("test.conf:1: 'p': '\uff12\uff12' is not a port number", e.getMessage());
        e = fails("a = 10.0.0.\u0661\n", f -> f.ipv4("a"));
        assertTrue(e.getMessage().endsWith("is not an IPv4 address"), e.getMessage());
        e = fails("a = 10.0.0.1/\u0662\u0664\n", f -> f.ipv4Prefix("a"));
        assertTrue(e.getMessage().endsWith("is not a prefix length"), e.getMessage());
        e = fails("t = \u0665s\n", f -> f.duration("t", null, Duration.ZERO, Duration.ofHours(1)));
        assertTrue(e.getMessage().endsWith("is not a duration (examples: 100ms, 2s, 5min)"), e.getMessage());
        e = fails("b = \u0665k\n", f -> f.bytes("b", 0, 0, Long.MAX_VALUE));
        assertTrue(e.getMessage().contains("is not a size"), e.getMessage());
        e = fails("n = 99999999999999999999\n", f -> f.integer("n", 0, 0, 10));
        assertEquals("test.conf:1: 'n': must be between 0 and 10, got 99999999999999999999", e.getMessage());
    }

    @Test
    void aFileThatIsNotUtf8NamesTheLineOfTheFirstBadByte(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = dir.resolve("latin1.conf");
        java.nio.file.Files.write(file, "a = 1\n# comment\nname = caf\u00e9\n".getBytes(
                java.nio.charset.StandardCharsets.ISO_8859_1));
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigFile.load(file));
        assertEquals(3, e.line());
        assertEquals(file + ":3: not UTF-8 text (byte 0xe9 at offset 26)", e.getMessage());
    }
}
