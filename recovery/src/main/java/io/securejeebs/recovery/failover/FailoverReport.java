package io.securejeebs.recovery.failover;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The timeline of one failover: when the primary was declared dead, how long each step took, and how
 * each connection ended. Written as JSON to the state dir and logged line by line.
 */
public final class FailoverReport {
    /** One step of the sequence, its start relative to detection, and its duration. */
    public record Step(String name, double startMillis, double durationMillis, String detail) {}

    /** How one connection ended. */
    public record ConnectionOutcome(String connection, String outcome, String reason, double atMillis,
                                    double restoreMillis, int sendQueueBytes, int receiveQueueBytes,
                                    int bytesAwaitingAck, String repairExit) {}

    public String evidence;
    public long lastAliveEpochMillis;
    public long detectedEpochMillis;
    public double totalMillis;
    public int recovered;
    public int unrecoverable;
    public int failed;
    public final List<Step> steps = Collections.synchronizedList(new ArrayList<>());
    public final List<ConnectionOutcome> connections = Collections.synchronizedList(new ArrayList<>());
}
