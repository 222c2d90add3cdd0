package io.securejeebs.monitor.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Bytes in, answers out: which unacknowledged client bytes were captured by when. */
class ClientArrivalsTest {
    @Test
    void answersTheEndOfTheBytesCapturedByATime() {
        ClientArrivals a = new ClientArrivals();
        assertEquals(-1, a.capturedBy(1_000));
        a.arrived(100, 10);
        a.arrived(250, 20);
        a.arrived(250, 25); // a retransmission keeps the first time
        a.arrived(400, 30);
        assertEquals(-1, a.capturedBy(9));
        assertEquals(100, a.capturedBy(10));
        assertEquals(250, a.capturedBy(29));
        assertEquals(400, a.capturedBy(30));
        a.acknowledged(250);
        assertEquals(-1, a.capturedBy(29), "acknowledged bytes are no longer in doubt");
        assertEquals(400, a.capturedBy(31));
        a.acknowledged(400);
        assertEquals(-1, a.capturedBy(Long.MAX_VALUE));
    }

    @Test
    void whenFullItDatesTheNewestBytesEarlierNeverLater() {
        ClientArrivals a = new ClientArrivals();
        for (int i = 1; i <= ClientArrivals.MAX; i++) {
            a.arrived(i * 10L, i * 100L);
        }
        a.arrived(10_000, 999_999);
        long lastTime = ClientArrivals.MAX * 100L;
        assertEquals(10_000, a.capturedBy(lastTime), "the newest bytes take the time of the last entry: in doubt sooner");
        assertEquals((ClientArrivals.MAX - 1) * 10L, a.capturedBy(lastTime - 1));
    }
}
