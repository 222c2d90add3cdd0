package io.securejeebs.cpr;

import java.util.List;

/**
 * How one session's recovery ended at the recovery server, once REPLAY_END was installed.
 *
 * @param fingerprint     the session (see {@link SessionFingerprint})
 * @param user            who the session belongs to
 * @param steps           each step of the installation and its duration, in order
 * @param socketSwapped   whether the session now talks to the real client (REPLAY_END carried TCP state)
 * @param shellsStarted   channels on which a fresh login shell was started
 * @param channelsClosed  channels closed because their application could not be carried over (exec,
 *                        subsystem, forwards), or closed already on the original connection
 * @param channels        what happened to each channel, one line each ("ch0 shell: fresh login shell started")
 */
public record RecoveryOutcome(String fingerprint, String user, List<Step> steps, boolean socketSwapped,
                              int shellsStarted, int channelsClosed, List<String> channels) {
    /** One step and how long it took, in milliseconds. */
    public record Step(String name, double millis) {
        @Override
        public String toString() {
            return name + "=" + String.format(java.util.Locale.ROOT, "%.3f", millis) + "ms";
        }
    }

    public RecoveryOutcome {
        steps = List.copyOf(steps);
        channels = List.copyOf(channels);
    }

    public double totalMillis() {
        return steps.stream().mapToDouble(Step::millis).sum();
    }
}
