package io.securejeebs.monitor.tcp;

/**
 * What the checkpoint writer must do for one connection: store its checkpoint, replace it by the reason the
 * connection can no longer be resumed, or delete it.
 */
public record CheckpointWork(ConnectionKey key, ConnectionCheckpoint checkpoint, String unrecoverableReason,
                             boolean delete) {

    public static CheckpointWork save(ConnectionCheckpoint checkpoint) {
        return new CheckpointWork(checkpoint.key(), checkpoint, null, false);
    }

    public static CheckpointWork unrecoverable(ConnectionKey key, String reason) {
        return new CheckpointWork(key, null, reason, false);
    }

    public static CheckpointWork delete(ConnectionKey key) {
        return new CheckpointWork(key, null, null, true);
    }
}
