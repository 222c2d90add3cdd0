package io.securejeebs.keyexport.export;

import io.securejeebs.keyexport.KexRecord.SharedSecretEncoding;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.sshd.common.kex.AbstractDH;
import org.apache.sshd.common.kex.BuiltinDHFactories;

/**
 * How MINA SSHD 2.20 puts the shared secret K into the exchange hash and the key derivation, per KEX.
 *
 * <p>What MINA does (read in {@code DHGServer.next}, {@code DHGEXServer.next}, {@code AbstractDH},
 * {@code AbstractSession.prepareNewKeys}): the KEX keeps K as a byte array {@code k} and always hashes it
 * with {@code Buffer.putBytes(k)}, i.e. as uint32 length + bytes, both in H and in the key derivation.
 * <ul>
 * <li>Classic DH (fixed groups and group exchange), ECDH on the NIST curves, curve25519/curve448:
 *     {@code k = normalize(dh.getK())}, where {@code getK()} strips leading zero bytes and {@code normalize}
 *     prepends one zero byte when the top bit is set. So {@code k} is the body of K's mpint encoding, and
 *     {@code putBytes(k)} is exactly {@code mpint(K)} (RFC 4253 §8, RFC 5656 §4, RFC 8731 §3.1).
 *     → {@link SharedSecretEncoding#MPINT}.</li>
 * <li>The hybrid KEMs (mlkem768x25519-sha256, sntrup761x25519-sha512[@openssh.com], the ML-KEM NIST hybrids):
 *     the DH part is computed raw and {@code k = HASH(kem_secret || raw_ecdh_secret)}, a fixed-length digest
 *     that is hashed as a string, not re-encoded as an mpint (it may have its top bit set or a leading zero).
 *     → {@link SharedSecretEncoding#STRING}.</li>
 * </ul>
 * A KEX is a hybrid exactly when MINA's {@link AbstractDH} for it has a {@code KeyEncapsulationMethod};
 * that is what this class asks, so a new MINA hybrid is classified without a name list.
 */
public final class SharedSecretEncodings {
    private static final Map<String, SharedSecretEncoding> CACHE = new ConcurrentHashMap<>();

    private SharedSecretEncodings() {}

    /**
     * @throws IllegalArgumentException if MINA has no key exchange of that name
     */
    public static SharedSecretEncoding of(String kexName) {
        return CACHE.computeIfAbsent(kexName, SharedSecretEncodings::classify);
    }

    private static SharedSecretEncoding classify(String kexName) {
        BuiltinDHFactories factory = BuiltinDHFactories.fromFactoryName(kexName);
        if (factory == null) {
            throw new IllegalArgumentException("MINA SSHD has no key exchange named '" + kexName + "'");
        }
        if (factory.isGroupExchange()) {
            return SharedSecretEncoding.MPINT;
        }
        AbstractDH dh;
        try {
            dh = factory.create();
        } catch (Exception e) {
            throw new IllegalArgumentException("cannot instantiate key exchange '" + kexName + "': " + e.getMessage(), e);
        }
        return dh.getKeyEncapsulation() == null ? SharedSecretEncoding.MPINT : SharedSecretEncoding.STRING;
    }
}
