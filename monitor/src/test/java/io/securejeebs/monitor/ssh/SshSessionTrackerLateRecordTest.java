package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.securejeebs.monitor.ssh.TrackerReplay.Delivery;
import io.securejeebs.monitor.ssh.TrackerReplay.Outcome;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A KEX record that arrives long after its NEWKEYS (a slow database: the client has meanwhile logged in,
 * opened a channel and typed) must not change what the tracker learns. Both directions go on while the
 * record is awaited; their held bytes must then be followed in the order they came: the client's
 * CHANNEL_REQUEST names the server channel id of the OPEN_CONFIRMATION before it. Found by
 * {@link SshSessionTrackerFuzzTest}: the tracker used to follow all held client bytes, then all server bytes.
 */
class SshSessionTrackerLateRecordTest {
    static List<RecordedSession> sessions;

    @BeforeAll
    static void record() throws Exception {
        sessions = List.of(
                RecordedSession.shared(new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false)),
                RecordedSession.shared(new RecordedSession.Script("aes128-gcm@openssh.com", null, true))); // and a rekey
    }

    @Test
    void recordsDeliveredOnlyAfterBothStreamsWentOnGiveTheSameModel() {
        Random rnd = new Random(4);
        for (RecordedSession s : sessions) {
            Outcome inline = TrackerReplay.replay(s, Delivery.SYNC, rnd);
            assertNull(inline.failure());
            for (int run = 0; run < 5; run++) {
                Outcome late = TrackerReplay.replay(s, Delivery.LATE, rnd);
                assertNull(late.bug());
                assertNull(late.failure(), () -> s + ": " + late.failure().getMessage());
                assertNull(late.unrecoverableReason());
                assertEquals(TrackerReplay.describe(inline.model(), false, false),
                        TrackerReplay.describe(late.model(), false, false));
            }
        }
    }
}
