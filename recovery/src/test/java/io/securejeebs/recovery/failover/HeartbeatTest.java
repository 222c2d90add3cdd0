package io.securejeebs.recovery.failover;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Over loopback, with a real listener: the heartbeat arms on contact and fires once after N misses. */
class HeartbeatTest {
    @Test
    void declaresThePrimaryDeadOnlyAfterContactAndConsecutiveMisses() throws Exception {
        CountDownLatch dead = new CountDownLatch(1);
        AtomicReference<String> evidence = new AtomicReference<>();
        ServerSocket primary = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        InetSocketAddress target = new InetSocketAddress(InetAddress.getLoopbackAddress(), primary.getLocalPort());
        try (Heartbeat hb = new Heartbeat(target, Duration.ofMillis(20), 3, (why, lastAlive) -> {
            evidence.set(why);
            dead.countDown();
        }).start()) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (hb.state() != Heartbeat.State.ALIVE && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(Heartbeat.State.ALIVE, hb.state());
            assertEquals(1, dead.getCount(), "alive: not declared dead");
            primary.close(); // the port now refuses connections
            assertTrue(dead.await(10, TimeUnit.SECONDS), "never declared dead");
            assertEquals(Heartbeat.State.DEAD, hb.state());
            assertTrue(evidence.get().startsWith("3 consecutive heartbeat misses"), evidence.get());
        }
    }

    @Test
    void neverFiresBeforeFirstContact() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        CountDownLatch dead = new CountDownLatch(1);
        try (Heartbeat hb = new Heartbeat(new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
                Duration.ofMillis(10), 2, (why, lastAlive) -> dead.countDown()).start()) {
            assertTrue(!dead.await(300, TimeUnit.MILLISECONDS), "fired without ever seeing the primary");
            assertEquals(Heartbeat.State.WAITING_FOR_FIRST_CONTACT, hb.state());
        }
    }
}
