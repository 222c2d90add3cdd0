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

    /**
     * How one connection ended: "recovered", "unrecoverable" or "failed", with the reason for the latter two.
     *
     * @param repairExit the takeover's own account (for SSH: the replay and the recovery server's steps)
     * @param channels   what happened to each channel ("ch0 shell: fresh login shell started", "ch1 direct-tcpip
     *                   to …: closed cleanly"); empty when none or not recovered
     * @param reset      for a connection not recovered: how its client was told ("RST seq … ack …"), or why it
     *                   could not be (null when nothing was tried: the failover was aborted)
     */
    public record ConnectionOutcome(String connection, String outcome, String reason, double atMillis,
                                    double restoreMillis, int sendQueueBytes, int receiveQueueBytes,
                                    int bytesAwaitingAck, String repairExit, List<String> channels, String reset) {
        public ConnectionOutcome {
            channels = channels == null ? List.of() : List.copyOf(channels);
        }

        static ConnectionOutcome notRecovered(String connection, String outcome, String reason, double atMillis,
                                              double tookMillis, String reset) {
            return new ConnectionOutcome(connection, outcome, reason, atMillis, tookMillis, 0, 0, 0, null, List.of(),
                    reset);
        }
    }

    public String evidence;
    /** Why the failover stopped before taking the VIP (split-brain, fencing failed), or null. */
    public String aborted;
    public long lastAliveEpochMillis;
    /** The end of the first heartbeat probe the primary failed: client bytes captured later reached a dead host. */
    public long deadAfterEpochMillis;
    public long detectedEpochMillis;
    public double totalMillis;
    public int recovered;
    public int unrecoverable;
    public int failed;
    public final List<Step> steps = Collections.synchronizedList(new ArrayList<>());
    public final List<ConnectionOutcome> connections = Collections.synchronizedList(new ArrayList<>());
    /** After the takeover: other hosts seen claiming the VIP ("MAC at TIME"), split-brain to resolve by hand. */
    public final List<String> vipClaimedBy = Collections.synchronizedList(new ArrayList<>());
}
