package io.securejeebs.recovery.failover;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Probes the primary's own address with a TCP connect every interval. After the configured number of
 * consecutive misses it declares the primary dead, once. It arms only after a first successful probe,
 * so an appliance started before its primary never takes over a service that was never up.
 */
public final class Heartbeat implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Heartbeat.class);

    /** Called once, on the heartbeat thread, when the primary is declared dead. */
    @FunctionalInterface
    public interface DeathListener {
        void primaryDead(String evidence, long lastAliveEpochMillis);
    }

    public enum State { WAITING_FOR_FIRST_CONTACT, ALIVE, MISSING, DEAD, STOPPED }

    /**
     * What {@code securejeebs status} shows of a heartbeat, read at one moment.
     *
     * @param lastAliveEpochMillis the last successful probe, 0 if none yet
     * @param consecutiveMisses misses since the last success (MISSING, DEAD)
     * @param lastError what the last failed probe said, null if none failed yet
     */
    public record Status(InetSocketAddress target, State state, long lastAliveEpochMillis, int consecutiveMisses,
                         int missesToDead, Duration interval, String lastError) {}

    private final InetSocketAddress target;
    private final Duration interval;
    private final int misses;
    private final DeathListener listener;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile State state = State.WAITING_FOR_FIRST_CONTACT;
    private volatile long lastAliveMillis;
    private volatile int consecutiveMisses;
    private volatile String lastError;

    public Heartbeat(InetSocketAddress target, Duration interval, int misses, DeathListener listener) {
        this.target = target;
        this.interval = interval;
        this.misses = misses;
        this.listener = listener;
        this.thread = new Thread(this::run, "sj-heartbeat");
        this.thread.setDaemon(true);
    }

    public Heartbeat start() {
        log.info("heartbeat to {} every {} ms, dead after {} consecutive misses",
                target, interval.toMillis(), misses);
        thread.start();
        return this;
    }

    public State state() {
        return state;
    }

    public long lastAliveEpochMillis() {
        return lastAliveMillis;
    }

    public int consecutiveMisses() {
        return consecutiveMisses;
    }

    public InetSocketAddress target() {
        return target;
    }

    public Status status() {
        return new Status(target, state, lastAliveMillis, consecutiveMisses, misses, interval, lastError);
    }

    private void run() {
        int timeout = (int) Math.max(1, interval.toMillis());
        String lastLogged = null;
        while (running) {
            long started = System.nanoTime();
            String error = probe(timeout);
            if (error != null) {
                lastError = error;
            }
            if (error == null) {
                if (state != State.ALIVE) {
                    log.info("primary {} is alive{}", target,
                            state == State.MISSING ? " again after " + consecutiveMisses + " miss(es)" : "");
                }
                state = State.ALIVE;
                consecutiveMisses = 0;
                lastAliveMillis = System.currentTimeMillis();
            } else if (state == State.ALIVE || state == State.MISSING) {
                consecutiveMisses++;
                state = State.MISSING;
                log.info("heartbeat miss {}/{} for {}: {}", consecutiveMisses, misses, target, error);
                if (consecutiveMisses >= misses) {
                    state = State.DEAD;
                    running = false;
                    String evidence = consecutiveMisses + " consecutive heartbeat misses every "
                            + interval.toMillis() + " ms (last: " + error + ")";
                    log.warn("primary {} declared dead: {}", target, evidence);
                    listener.primaryDead(evidence, lastAliveMillis);
                    return;
                }
            } else if (!error.equals(lastLogged)) {
                log.info("waiting for first contact with primary {}: {}", target, error);
                lastLogged = error;
            }
            long spent = System.nanoTime() - started;
            long sleep = interval.toNanos() - spent;
            if (sleep > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(sleep);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /** @return null if the primary accepted the connection, else what went wrong */
    private String probe(int timeoutMillis) {
        try (Socket s = new Socket()) {
            s.connect(target, timeoutMillis);
            return null;
        } catch (java.net.SocketTimeoutException e) {
            return "no answer within " + timeoutMillis + " ms";
        } catch (IOException e) {
            return e.getMessage();
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        if (state != State.DEAD) {
            state = State.STOPPED;
        }
    }
}
