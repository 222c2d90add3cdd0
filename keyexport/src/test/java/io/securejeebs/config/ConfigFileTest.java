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
}
