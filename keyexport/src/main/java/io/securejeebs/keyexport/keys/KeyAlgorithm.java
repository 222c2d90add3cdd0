package io.securejeebs.keyexport.keys;

import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.edec.EdECObjectIdentifiers;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PublicKeyParameters;

/** The two key algorithms SecureJeebs' record sealing uses, as they appear in PKCS#8 and SPKI files. */
public enum KeyAlgorithm {
    /** Key agreement: the appliance's HPKE key pair. */
    X25519("X25519", EdECObjectIdentifiers.id_X25519),
    /** Signatures: the primary's export key pair. */
    ED25519("Ed25519", EdECObjectIdentifiers.id_Ed25519);

    private final String displayName;
    private final ASN1ObjectIdentifier oid;

    KeyAlgorithm(String displayName, ASN1ObjectIdentifier oid) {
        this.displayName = displayName;
        this.oid = oid;
    }

    public String displayName() {
        return displayName;
    }

    ASN1ObjectIdentifier oid() {
        return oid;
    }

    /** The algorithm with this OID, or null when it is neither X25519 nor Ed25519. */
    static KeyAlgorithm byOid(ASN1ObjectIdentifier oid) {
        for (KeyAlgorithm a : values()) {
            if (a.oid.equals(oid)) {
                return a;
            }
        }
        return null;
    }

    static KeyAlgorithm of(AsymmetricKeyParameter key) {
        if (key instanceof X25519PrivateKeyParameters || key instanceof X25519PublicKeyParameters) {
            return X25519;
        }
        if (key instanceof Ed25519PrivateKeyParameters || key instanceof Ed25519PublicKeyParameters) {
            return ED25519;
        }
        throw new IllegalArgumentException("not an X25519 or Ed25519 key: " + key.getClass().getSimpleName());
    }

    @Override
    public String toString() {
        return displayName;
    }
}
