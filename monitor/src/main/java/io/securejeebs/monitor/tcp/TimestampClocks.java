package io.securejeebs.monitor.tcp;

/**
 * The latest RFC 7323 timestamp option values seen each way. The server's TSval clock is what a restored
 * socket must continue (the client's PAWS check drops anything older), so its capture time is kept too.
 *
 * @param serverTsValMicros capture time of {@code serverTsVal}, microseconds since the epoch
 */
public record TimestampClocks(int clientTsVal, int clientTsEcr, int serverTsVal, int serverTsEcr, long serverTsValMicros) {

    /** The server's TSval clock now, assuming it ticks in milliseconds, as Linux does by default. */
    public int serverTsValAt(long nowMicros) {
        return serverTsVal + (int) Math.max(0, (nowMicros - serverTsValMicros) / 1000);
    }
}
