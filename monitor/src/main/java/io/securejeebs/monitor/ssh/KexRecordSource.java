package io.securejeebs.monitor.ssh;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.tcp.ConnectionKey;

/**
 * Where the SSH tracker gets the opened KEX record of a key exchange it has watched. A live appliance
 * fetches sealed records from MySQL and opens them; the offline mode does the same for a capture file.
 * Delivery may happen on the calling thread, or later on another one.
 */
public interface KexRecordSource {
    /** Receives the outcome of one request, exactly once. */
    interface Delivery {
        void record(KexRecord record);

        /** The record could not be had: it never arrived in time, or it failed to open or verify. */
        void failed(String reason);
    }

    /**
     * Asks for the record of key exchange {@code ordinal} (0 = the initial one) of connection {@code key}.
     */
    void request(ConnectionKey key, int ordinal, Delivery delivery);

    /**
     * The same, knowing the session: {@code sessionId} (from record #0) is null for ordinal 0. A source
     * that checks bindings requires later records to belong to that very session.
     */
    default void request(ConnectionKey key, int ordinal, byte[] sessionId, Delivery delivery) {
        request(key, ordinal, delivery);
    }

    /**
     * The same, knowing the client's KEXINIT payload on the wire (null when not known, as when resuming from a
     * checkpoint): its random cookie tells this key exchange's record from any other stored for the same 4-tuple,
     * e.g. an old genuine record inserted again, which must not stand in the way of the right one.
     */
    default void request(ConnectionKey key, int ordinal, byte[] sessionId, byte[] clientKexInit, Delivery delivery) {
        request(key, ordinal, sessionId, delivery);
    }
}
