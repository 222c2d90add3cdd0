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
        try (Heartbeat hb = new Heartbeat(target, Duration.ofMillis(20), 3, (why, lastAlive, deadAfter) -> {
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
    void reArmedAfterAnAbortedFailoverItFiresAgain() throws Exception {
        java.util.concurrent.atomic.AtomicInteger deaths = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicLong firstMiss = new java.util.concurrent.atomic.AtomicLong();
        ServerSocket primary = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        InetSocketAddress target = new InetSocketAddress(InetAddress.getLoopbackAddress(), primary.getLocalPort());
        try (Heartbeat hb = new Heartbeat(target, Duration.ofMillis(20), 2, (why, lastAlive, deadAfter) -> {
            firstMiss.set(deadAfter);
            deaths.incrementAndGet();
        }).start()) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (hb.state() != Heartbeat.State.ALIVE && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            long closedAt = System.currentTimeMillis();
            primary.close();
            while (deaths.get() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, deaths.get(), "declared dead once");
            assertTrue(firstMiss.get() >= closedAt - 30, "the first miss came about when the primary went away");
            assertTrue(firstMiss.get() >= hb.lastAliveEpochMillis(), "the first miss follows the last success");
            Thread.sleep(200); // dead, not re-armed: no second declaration however long the primary stays away
            assertEquals(1, deaths.get(), "not declared dead again before it is re-armed");
            hb.rearm(Duration.ofMillis(1));
            while (deaths.get() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(2, deaths.get(), "re-armed: declared dead again");
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
                Duration.ofMillis(10), 2, (why, lastAlive, deadAfter) -> dead.countDown()).start()) {
            assertTrue(!dead.await(300, TimeUnit.MILLISECONDS), "fired without ever seeing the primary");
            assertEquals(Heartbeat.State.WAITING_FOR_FIRST_CONTACT, hb.state());
        }
    }
}
