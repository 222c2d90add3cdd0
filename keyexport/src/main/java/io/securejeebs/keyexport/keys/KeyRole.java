package io.securejeebs.keyexport.keys;

/**
 * The two key pairs of record sealing (DESIGN §3.1), what each is for, and the file names
 * {@code keys init} gives them.
 */
public enum KeyRole {
    /**
     * The appliance's X25519 key pair. The primary seals records to the public half (HPKE); the private
     * half never leaves the appliance.
     */
    APPLIANCE("appliance", KeyAlgorithm.X25519, "HPKE: the primary encrypts records to it",
            "copy appliance.pub to the primary; appliance.key stays on the appliance"),
    /**
     * The primary's Ed25519 export key pair. The primary signs every sealed record with the private half;
     * the appliance pins the public half.
     */
    EXPORT("export", KeyAlgorithm.ED25519, "Ed25519 signatures: the primary signs every sealed record",
            "copy export.pub to the appliance (it pins it); export.key stays on the primary");

    private final String baseName;
    private final KeyAlgorithm algorithm;
    private final String purpose;
    private final String placement;

    KeyRole(String baseName, KeyAlgorithm algorithm, String purpose, String placement) {
        this.baseName = baseName;
        this.algorithm = algorithm;
        this.purpose = purpose;
        this.placement = placement;
    }

    /** {@code appliance} or {@code export}: also the word {@code keys init --only} takes. */
    public String baseName() {
        return baseName;
    }

    public KeyAlgorithm algorithm() {
        return algorithm;
    }

    public String purpose() {
        return purpose;
    }

    /** Which half goes where, for the operator. */
    public String placement() {
        return placement;
    }

    public String privateKeyFileName() {
        return baseName + ".key";
    }

    public String publicKeyFileName() {
        return baseName + ".pub";
    }
}
