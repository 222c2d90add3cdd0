package io.securejeebs.monitor.checkpoint;

import io.securejeebs.keyexport.store.RecordStoreException;
import io.securejeebs.keyexport.store.SessionCheckpointRepository;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Change;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.Delete;
import io.securejeebs.keyexport.store.SessionCheckpointRepository.StoredCheckpoint;
import io.securejeebs.monitor.tcp.ConnectionCheckpoint;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.ConnectionTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a restarting appliance does with the checkpoints of its previous run, before capture starts: rows older
 * than the retention are dropped; each other one becomes a tracked connection, RESUMING (its KEX records are
 * fetched again now), or unrecoverable with the reason (a row that said so, a blob that cannot be read, a
 * state the tracker cannot follow on); those rows are replaced by the reason, and deleted when the connection
 * is forgotten.
 */
public final class CheckpointLoader {
    private static final Logger log = LoggerFactory.getLogger(CheckpointLoader.class);

    /** What came of a load. */
    public record Result(int resuming, int unrecoverable, int expired) {}

    private CheckpointLoader() {
    }

    public static Result load(SessionCheckpointRepository repository, ConnectionTable table, Duration retention)
            throws RecordStoreException {
        int expired = repository.deleteOlderThan(retention);
        List<StoredCheckpoint> rows = repository.loadAll();
        long nowMicros = System.currentTimeMillis() * 1000;
        List<Change> unusable = new ArrayList<>();
        int resuming = 0;
        int unrecoverable = 0;
        table.setResumeRetention(retention);
        for (StoredCheckpoint row : rows) {
            ConnectionKey key;
            try {
                key = ConnectionKey.parse(row.connKey());
            } catch (IllegalArgumentException e) {
                log.warn("checkpoint row dropped: {}", e.getMessage());
                unusable.add(new Delete(row.connKey()));
                continue;
            }
            String reason;
            if (!row.recoverable() || row.state() == null) {
                reason = "unrecoverable before the appliance restarted: " + row.reason();
                table.addUnrecoverable(key, reason, nowMicros, true);
            } else {
                ConnectionCheckpoint cp = null;
                try {
                    cp = CheckpointCodec.decode(row.state());
                    reason = cp.key().equals(key) ? null : "its checkpoint is of another connection, " + cp.key();
                } catch (CheckpointFormatException e) {
                    reason = "its checkpoint cannot be read: " + e.getMessage();
                }
                if (reason != null) {
                    table.addUnrecoverable(key, reason, nowMicros, true);
                } else {
                    reason = table.resume(cp, nowMicros);
                }
            }
            if (reason == null) {
                resuming++;
                log.info("{}: resuming from its checkpoint of {}", key, row.updatedAt());
            } else {
                unrecoverable++;
                log.warn("{}: unrecoverable: {}", key, reason);
            }
        }
        repository.apply(unusable);
        Result result = new Result(resuming, unrecoverable, expired);
        log.info("checkpoints loaded: {} connection(s) resuming, {} unrecoverable, {} older than {} h dropped",
                resuming, unrecoverable, expired, retention.toHours());
        return result;
    }
}
