package io.securejeebs.recovery.ssh;

import io.securejeebs.cpr.CprClient;
import io.securejeebs.cpr.RecoveryEndpoint;
import io.securejeebs.cpr.ReplayException;
import io.securejeebs.cpr.ReplayPlan;
import io.securejeebs.monitor.ssh.ChannelModel;
import io.securejeebs.monitor.ssh.SshSessionTracker;
import io.securejeebs.monitor.tcp.ConnectionSnapshot;
import io.securejeebs.recovery.failover.ConnectionTakeover;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * Takes over an SSH connection by Controlled Partial Replay: builds the session's {@link ReplayPlan} from
 * the monitor's model and drives it against the recovery server, which installs the final state, restores
 * the TCP connection with TCP_REPAIR, swaps it under the session and releases the guard.
 */
public final class SshTakeover implements ConnectionTakeover {
    private final CprClient cpr;
    private final boolean listCommandLines;

    public SshTakeover(RecoveryEndpoint endpoint, Duration replayTimeout, boolean listCommandLines) {
        this.cpr = new CprClient(endpoint, replayTimeout);
        this.listCommandLines = listCommandLines;
    }

    @Override
    public String protocol() {
        return SshSessionTracker.PROTOCOL;
    }

    @Override
    public Result takeOver(ConnectionSnapshot snapshot, GuardRelease release) throws IOException {
        try {
            ReplayPlan plan = ReplayPlan.of(snapshot);
            CprClient.Report report = cpr.replay(plan, release::release, noticeExtra(plan),
                    () -> System.currentTimeMillis() * 1000);
            return new Result(String.format(Locale.ROOT, "session %s user %s replayed in %.1f ms (%d controlled step(s));"
                            + " %d shell(s) restarted, %d channel(s) closed; server steps %s", report.session(),
                    plan.model().user(), report.totalMillis(), plan.controlled().size(),
                    report.outcome().shellsStarted(), report.outcome().channelsClosed(), report.outcome().steps()),
                    report.outcome().channels());
        } catch (ReplayException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * Lines for the recovered shells' notice: the input the dead primary may have read before it died (always:
     * it was not run again, and the user must know to check), then the command lines seen typed before the
     * failure (only when configured).
     */
    private String noticeExtra(ReplayPlan plan) {
        StringBuilder out = new StringBuilder();
        for (ChannelModel ch : plan.model().channels()) {
            List<String> doubtful = plan.model().possiblyReadInput().get(ch.serverId());
            if (doubtful != null && !doubtful.isEmpty()) {
                out.append("[securejeebs] this input reached the failed server just before it died and was NOT run"
                        + " again here (it may or may not have run there):\n");
                doubtful.forEach(l -> out.append("    ").append(l).append('\n'));
            }
        }
        if (listCommandLines) {
            for (ChannelModel ch : plan.model().channels()) {
                if (!ch.commandLines().isEmpty()) {
                    out.append("[securejeebs] command lines typed before the failure (not re-run):\n");
                    ch.commandLines().forEach(l -> out.append("    ").append(l).append('\n'));
                }
            }
        }
        return out.toString();
    }
}
