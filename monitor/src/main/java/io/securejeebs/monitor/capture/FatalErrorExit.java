package io.securejeebs.monitor.capture;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a thread the appliance cannot work without (capture, tracking, checkpoints) does with an {@link Error}
 * (OutOfMemoryError, StackOverflowError, LinkageError…), or the capture loop with anything that ends it while
 * it should run: it logs it and ends the process with a non-zero
 * status, so that systemd restarts it ({@code Restart=on-failure}). A process that lives on after its capture
 * thread died looks healthy and protects nothing. The shutdown hooks run (they release the guard table); if
 * they cannot finish within {@link #HOOKS_LIMIT_SECONDS} (a heap too full to run them), the JVM is halted.
 */
public final class FatalErrorExit {
    private static final Logger log = LoggerFactory.getLogger(FatalErrorExit.class);
    /** EX_SOFTWARE (sysexits.h): an internal software error. */
    public static final int STATUS = 70;
    static final int HOOKS_LIMIT_SECONDS = 10;
    private static final AtomicBoolean exiting = new AtomicBoolean();

    private FatalErrorExit() {}

    /**
     * Logs and ends the process; returns at once (the caller's thread should then end), the exit runs on
     * threads of its own.
     *
     * @param what the thread's job, for the log: "capture on eth0"
     */
    public static void exit(String what, Throwable error) {
        try {
            log.error("{} stopped by {}: the process exits with status {} so that it is restarted", what, error,
                    STATUS, error);
        } catch (Throwable ignored) {
            // logging needs memory too: the exit below matters more
        }
        if (!exiting.compareAndSet(false, true)) {
            return;
        }
        try {
            Thread halt = new Thread(() -> {
                try {
                    TimeUnit.SECONDS.sleep(HOOKS_LIMIT_SECONDS);
                } catch (InterruptedException ignored) {
                    // halt now
                }
                Runtime.getRuntime().halt(STATUS);
            }, "sj-fatal-halt");
            halt.setDaemon(true);
            halt.start();
            Thread exit = new Thread(() -> System.exit(STATUS), "sj-fatal-exit");
            exit.setDaemon(true);
            exit.start();
        } catch (Throwable e) { // no memory left even for a thread
            Runtime.getRuntime().halt(STATUS);
        }
    }
}
