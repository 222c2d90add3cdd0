package io.securejeebs.keyexport.export;

/**
 * Counters of the primary's key-exchange export, for status output and tests.
 *
 * @param exportedRecords records the sink accepted
 * @param failedExports exports that threw or timed out
 * @param unprotectedSessions sessions that went on although at least one of their key exchanges could not be
 *                            exported (fail-open); the appliance cannot carry them over a failover
 * @param refusedSessions sessions disconnected because an export failed (fail-closed)
 */
public record KexExportStatistics(long exportedRecords, long failedExports, long unprotectedSessions,
        long refusedSessions) {}
