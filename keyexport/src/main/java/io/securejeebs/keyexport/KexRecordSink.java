package io.securejeebs.keyexport;

/**
 * Where the primary hands each key exchange's record, synchronously, from inside {@code checkKeys()}:
 * the server's NEWKEYS waits until {@link #export} returns.
 */
public interface KexRecordSink {
    /**
     * @throws KexExportException if the record could not be exported; the session then continues
     *         unprotected, or is closed if the primary is configured to fail closed
     */
    void export(KexRecord record) throws KexExportException;
}
