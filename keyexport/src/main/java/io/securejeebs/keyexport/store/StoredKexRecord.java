package io.securejeebs.keyexport.store;

import io.securejeebs.keyexport.Endpoints;
import io.securejeebs.keyexport.seal.RecordRejectedException;
import io.securejeebs.keyexport.seal.SealedKexRecord;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.HexFormat;

/**
 * One {@code kex_record} row as the appliance reads it. The address, session and ordinal columns are
 * only an index, written by whoever could INSERT: what counts is the binding inside {@link #sealed()},
 * which {@code RecordOpener} checks against what the appliance itself expects.
 */
public record StoredKexRecord(
        long id,
        String primaryId,
        InetSocketAddress client,
        InetSocketAddress server,
        byte[] sessionIdDigest,
        int ordinal,
        byte[] sealed,
        Instant createdAt) {

    public StoredKexRecord {
        sessionIdDigest = sessionIdDigest.clone();
        sealed = sealed.clone();
    }

    @Override
    public byte[] sessionIdDigest() {
        return sessionIdDigest.clone();
    }

    @Override
    public byte[] sealed() {
        return sealed.clone();
    }

    /** The sealed column decoded (not yet verified or opened). */
    public SealedKexRecord decodeSealed() throws RecordRejectedException {
        return SealedKexRecord.decode(sealed);
    }

    @Override
    public String toString() {
        return "StoredKexRecord[id " + id + ", " + primaryId + " " + Endpoints.connection(client, server) + " #" + ordinal
                + " sid-sha256:" + HexFormat.of().formatHex(sessionIdDigest, 0, Math.min(4, sessionIdDigest.length))
                + ", " + sealed.length + " B, " + createdAt + "]";
    }
}
