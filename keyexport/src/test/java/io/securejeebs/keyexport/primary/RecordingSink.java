package io.securejeebs.keyexport.primary;

import io.securejeebs.keyexport.KexExportException;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.KexRecordSink;
import java.util.ArrayList;
import java.util.List;

/** TEST ONLY: keeps the records in memory (the real sink seals them and stores them in MySQL). */
final class RecordingSink implements KexRecordSink {
    private final List<KexRecord> records = new ArrayList<>();
    private volatile String failWith;
    private volatile long delayMillis;

    @Override
    public void export(KexRecord record) throws KexExportException {
        if (delayMillis > 0) {
            try {
                Thread.sleep(delayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new KexExportException("interrupted");
            }
        }
        if (failWith != null) {
            throw new KexExportException(failWith);
        }
        synchronized (records) {
            records.add(record);
        }
    }

    /** From now on every export throws with this message (null: works again). */
    void failWith(String message) {
        failWith = message;
    }

    /** From now on every export takes this long. */
    void delay(long millis) {
        delayMillis = millis;
    }

    List<KexRecord> records() {
        synchronized (records) {
            return List.copyOf(records);
        }
    }

    void clear() {
        synchronized (records) {
            records.clear();
        }
    }
}
