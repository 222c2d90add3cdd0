package io.securejeebs.monitor.warmup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The warm-up really follows a recorded bulk session per cipher, and skips what it cannot warm. */
class TrackingWarmUpTest {
    @Test
    void followsOneRecordedBulkSessionPerCipher() {
        List<TrackingWarmUp.Result> results = new TrackingWarmUp(0.1, 2).run(
                List.of("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "no-such-cipher"));
        assertEquals(List.of("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"),
                results.stream().map(TrackingWarmUp.Result::cipher).toList(), "each real cipher warmed, the unknown one skipped");
        for (TrackingWarmUp.Result r : results) {
            assertTrue(r.sessionBytes() > 1_000_000, r + ": a bulk session was recorded");
            assertEquals(2, r.passes(), r.toString());
            assertTrue(r.lastPassMbitPerSecond() > 0, r.toString());
        }
        assertTrue(TrackingWarmUp.describe(results).contains("chacha20-poly1305@openssh.com"));
    }
}
