package io.securejeebs.monitor.ssh;

import com.fasterxml.jackson.annotation.JsonIgnore;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;

/**
 * One direction of an SSH transport at one instant: where the receiving side's decoder stands.
 *
 * @param cipher the cipher in force, or "none" before the first NEWKEYS
 * @param mac the MAC in force (null for AEAD ciphers and before NEWKEYS)
 * @param keyEpoch which key exchange's keys are in force (the KEX record's ordinal), -1 before NEWKEYS
 * @param sequence the sequence number of the next packet
 * @param blocks the cipher position within the epoch (see {@link CipherPosition})
 * @param packets whole packets seen in this direction, all epochs
 * @param partialPacketBytes bytes of an incomplete packet at the end of what was captured
 * @param keys the keys in force (secret; never serialised or printed)
 */
public record DirectionModel(
        String cipher,
        String mac,
        int keyEpoch,
        long sequence,
        long blocks,
        long packets,
        int partialPacketBytes,
        @JsonIgnore DirectionKeys keys) {

    @JsonIgnore
    public CipherPosition position() {
        return new CipherPosition(sequence, blocks);
    }

    @Override
    public String toString() {
        return "DirectionModel[" + cipher + (mac == null ? "" : "/" + mac) + " epoch=" + keyEpoch + " seq=" + sequence
                + " blocks=" + blocks + " packets=" + packets + " partial=" + partialPacketBytes + "]";
    }
}
