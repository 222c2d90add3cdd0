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
 * so an appliance started before its primary never takes over a service that was never up. A failover that
 * was aborted (the VIP still answered, fencing failed) {@linkplain #rearm re-arms} it: the appliance stays on
 * guard.
 */
public final class Heartbeat implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Heartbeat.class);

    /** Called on the heartbeat thread when the primary is declared dead (once, until {@link #rearm}). */
    @FunctionalInterface
    public interface DeathListener {
        /**
         * @param lastAliveEpochMillis the end of the last probe the primary answered
         * @param deadAfterEpochMillis the start of the first probe of this run of misses, plus
         *                             {@link #ANSWER_SLACK_MILLIS}: the primary did not answer it, so it was not
         *                             serving after then (up to then, it may still have read what clients sent)
         */
        void primaryDead(String evidence, long lastAliveEpochMillis, long deadAfterEpochMillis);
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

    /** How late after a probe's start a live primary may still answer it (a busy host's softirq latency). */
    static final long ANSWER_SLACK_MILLIS = 10;

    private final InetSocketAddress target;
    private final Duration interval;
    private final int misses;
    private final DeathListener listener;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile State state = State.WAITING_FOR_FIRST_CONTACT;
    private volatile long lastAliveMillis;
    private volatile long firstMissMillis;
    private volatile long rearmAtNanos;
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
            if (state == State.DEAD) {
                long at = rearmAtNanos;
                if (at == 0 || started - at < 0) {
                    pause(started);
                    continue;
                }
                rearmAtNanos = 0;
                consecutiveMisses = 0;
                state = State.MISSING;
                log.warn("heartbeat to {} re-armed: the primary is declared dead again after {} consecutive misses",
                        target, misses);
            }
            long probeStartedMillis = System.currentTimeMillis();
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
                if (consecutiveMisses == 1) {
                    // alive when this probe's SYN came, it would have answered it within microseconds
                    firstMissMillis = probeStartedMillis + ANSWER_SLACK_MILLIS;
                }
                state = State.MISSING;
                log.info("heartbeat miss {}/{} for {}: {}", consecutiveMisses, misses, target, error);
                if (consecutiveMisses >= misses) {
                    state = State.DEAD;
                    String evidence = consecutiveMisses + " consecutive heartbeat misses every "
                            + interval.toMillis() + " ms (last: " + error + ")";
                    log.warn("primary {} declared dead: {}", target, evidence);
                    listener.primaryDead(evidence, lastAliveMillis, firstMissMillis);
                }
            } else if (!error.equals(lastLogged)) {
                log.info("waiting for first contact with primary {}: {}", target, error);
                lastLogged = error;
            }
            pause(started);
        }
    }

    private void pause(long startedNanos) {
        long sleep = interval.toNanos() - (System.nanoTime() - startedNanos);
        if (sleep > 0) {
            try {
                TimeUnit.NANOSECONDS.sleep(sleep);
            } catch (InterruptedException e) {
                running = false;
            }
        }
    }

    /**
     * After a failover that did not take over (aborted): counts misses again from zero once {@code after} has
     * passed (a back-off, so that a primary that is alive but unreachable from here is not failed over every few
     * hundred milliseconds), and declares the primary dead again after as many misses.
     */
    public void rearm(Duration after) {
        if (state == State.DEAD) {
            rearmAtNanos = System.nanoTime() + Math.max(1, after.toNanos());
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
