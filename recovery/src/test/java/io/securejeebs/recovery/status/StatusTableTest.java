package io.securejeebs.recovery.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

class StatusTableTest {
    @Test
    void primariesSessionsAndTheFailoverTimelineInAlignedColumns() throws Exception {
        JsonNode doc = ApplianceStatusTest.JSON.valueToTree(ApplianceStatusTest.sample());
        assertEquals("""
                SecureJeebs appliance 0.1.0, up 1h02m (since 2026-11-21 08:57:57Z)
                config /etc/securejeebs/securejeebs.conf: line-echo on 10.213.0.100/24 port(s) 7000
                capture on eth0: running, 10 frames, 0B, 0 truncated payloads

                PRIMARIES
                HEARTBEAT        STATE  LAST SUCCESS                      MISSES  LAST ERROR
                10.213.0.2:7000  alive  2026-11-21 09:59:59Z (150ms ago)  0/3     -

                SESSIONS (3)
                USER   CLIENT             AGE    CHANNELS  SFTP HANDLES   C->S    S->C    RECOVERABLE  REASON
                -      10.213.0.10:40000  5s     -         -              1.2KiB  5.5KiB  yes          -
                alice  10.213.0.11:40001  1m05s  3         ch1:3 ch2:off  1.2KiB  5.5KiB  yes          -
                -      10.213.0.12:40002  500ms  -         -              1.2KiB  5.5KiB  no           s->c: a hole in the captured server data

                LAST FAILOVER
                detected 2026-11-21 09:59:59Z, 300.0 ms after the last heartbeat success; took 88.3 ms: 1 recovered, 0 unrecoverable, 0 failed
                evidence: 3 consecutive heartbeat misses every 100 ms (last: Connection refused)
                WARNING: another host claims the VIP (split-brain): aa:bb:cc:dd:ee:ff at 2026-11-21T10:00:00Z
                AT       TOOK    STEP   DETAIL
                +0.5 ms  1.3 ms  guard  1 connection(s)

                CONNECTION                            OUTCOME        AT        RESTORE  REASON
                10.213.0.10:40000->10.213.0.100:7000  recovered      +50.0 ms  5.0 ms   -
                10.213.0.13:40003->10.213.0.100:7000  unrecoverable  +51.0 ms  0.0 ms   the initial key exchange has not completed
                10.213.0.10:40000->10.213.0.100:7000:
                  ch0 shell: fresh login shell started
                10.213.0.13:40003->10.213.0.100:7000:
                  client told: RST seq 100 ack 200
                """, StatusTable.render(doc));
    }

    @Test
    void aQuietApplianceAndADocumentWithFieldsMissing() throws Exception {
        JsonNode quiet = ApplianceStatusTest.JSON.readTree("""
                {"version":"dev","generatedAt":"2026-11-21T10:00:00Z","startedAt":"2026-11-21T09:59:58Z",
                 "capture":{"interface":"eth0","running":false,"counters":{}},
                 "primaries":[{"heartbeat":"10.213.0.2:22","state":"waiting-for-first-contact","lastSuccessAt":null,
                               "consecutiveMisses":0,"missesToDead":3,"lastError":"Connection refused"}],
                 "lastFailover":null,"sessions":[]}""");
        String text = StatusTable.render(quiet);
        assertTrue(text.contains("capture on eth0: NOT RUNNING"), text);
        assertTrue(text.contains("10.213.0.2:22  waiting-for-first-contact  never         0/3     Connection refused"), text);
        assertTrue(text.contains("SESSIONS (0)\nnone tracked\n"), text);
        assertTrue(!text.contains("LAST FAILOVER"), text);

        String empty = StatusTable.render(ApplianceStatusTest.JSON.readTree("{}"));
        assertTrue(empty.startsWith("SecureJeebs appliance -\n"), empty);
    }

    @Test
    void agesAndSizes() {
        assertEquals("999ms", StatusTable.age(999));
        assertEquals("59s", StatusTable.age(59_999));
        assertEquals("1m00s", StatusTable.age(60_000));
        assertEquals("2h03m", StatusTable.age((2 * 3600 + 3 * 60 + 59) * 1000L));
        assertEquals("3d04h", StatusTable.age((3 * 86400 + 4 * 3600) * 1000L));
        assertEquals("1023B", StatusTable.bytes(1023));
        assertEquals("1.0KiB", StatusTable.bytes(1024));
        assertEquals("4.0MiB", StatusTable.bytes(4L << 20));
        assertEquals("1.5GiB", StatusTable.bytes(3L << 29));
    }
}
