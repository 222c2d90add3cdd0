package io.securejeebs.keyexport.seal;

import static io.securejeebs.keyexport.SampleRecords.assertSameRecord;
import static io.securejeebs.keyexport.SampleRecords.endpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.SampleRecords;
import io.securejeebs.keyexport.seal.RecordRejectedException.Reason;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.junit.jupiter.api.Test;

class SealingTest {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final X25519PrivateKeyParameters applianceKey = new X25519PrivateKeyParameters(RANDOM);
    private final Ed25519PrivateKeyParameters exportKey = new Ed25519PrivateKeyParameters(RANDOM);
    private final RecordSealer sealer = new RecordSealer(applianceKey.generatePublicKey(), exportKey);
    private final RecordOpener opener = new RecordOpener(applianceKey, exportKey.generatePublicKey());

    private final KexRecord record = SampleRecords.initial(42);
    private final ExpectedBinding expected = ExpectedBinding.of(SampleRecords.PRIMARY_ID,
            SampleRecords.client(), SampleRecords.server(), 0);

    private SealedKexRecord sealed() throws Exception {
        return sealer.seal(record);
    }

    private static RecordRejectedException rejected(Reason reason, ThrowingOpen open) {
        RecordRejectedException e = assertThrows(RecordRejectedException.class, open::run);
        assertEquals(reason, e.reason(), e.getMessage());
        assertTrue(e.getMessage().startsWith(reason + ": "), e.getMessage());
        return e;
    }

    private interface ThrowingOpen {
        void run() throws Exception;
    }

    // ---------------------------------------------------------------- tampering helpers

    private static byte[] flip(byte[] bytes, int bit) {
        byte[] copy = bytes.clone();
        copy[bit / 8] ^= (byte) (1 << (bit % 8));
        return copy;
    }

    /** The same fields with a digest that matches them (what anyone can compute). */
    private static SealedKexRecord redigested(RecordBinding b, byte[] enc, byte[] ct, byte[] signature) {
        byte[] digest = SealingSuite.sha256(SealedKexRecord.digestedPart(b, enc, ct, signature));
        return new SealedKexRecord(b, enc, ct, signature, digest);
    }

    /** The fields signed afresh with {@code key}, and digested. */
    private static SealedKexRecord resigned(RecordBinding b, byte[] enc, byte[] ct, Ed25519PrivateKeyParameters key) {
        byte[] message = SealedKexRecord.signedPart(b, enc, ct);
        Ed25519Signer signer = new Ed25519Signer();
        signer.init(true, key);
        signer.update(message, 0, message.length);
        return redigested(b, enc, ct, signer.generateSignature());
    }

    private static RecordBinding withOrdinal(RecordBinding b, int ordinal) {
        return new RecordBinding(b.primaryId(), b.client(), b.server(), b.sessionIdDigest(), ordinal);
    }

    private static RecordBinding withClient(RecordBinding b, InetSocketAddress client) {
        return new RecordBinding(b.primaryId(), client, b.server(), b.sessionIdDigest(), b.ordinal());
    }

    // ---------------------------------------------------------------- the good path

    @Test
    void aSealedRecordOpensToTheSameRecord() throws Exception {
        SealedKexRecord s = sealed();
        assertSameRecord(record, opener.open(s, expected));
        assertSameRecord(record, opener.open(s, expected.inSession(record.sessionId())));
        // through the column bytes too, and the encoding is canonical
        byte[] column = s.encode();
        assertSameRecord(record, opener.open(column, expected));
        assertArrayEquals(column, SealedKexRecord.decode(column).encode());
    }

    @Test
    void rekeysOpenUnderTheirOwnOrdinalInTheSameSession() throws Exception {
        for (int ordinal = 0; ordinal < 3; ordinal++) {
            KexRecord r = SampleRecords.rekey(42, ordinal, SampleRecords.client(), SampleRecords.server());
            ExpectedBinding e = ExpectedBinding.of(SampleRecords.PRIMARY_ID, SampleRecords.client(),
                    SampleRecords.server(), ordinal).inSession(record.sessionId());
            assertSameRecord(r, opener.open(sealer.seal(r), e));
        }
    }

    @Test
    void theBindingIsInClearButTheSessionIdAndSecretsAreNot() throws Exception {
        SealedKexRecord s = sealed();
        assertEquals(RecordBinding.of(record), s.binding());
        assertArrayEquals(SampleRecords.sha256(record.sessionId()), s.binding().sessionIdDigest());
        String blob = HexFormat.of().formatHex(s.encode());
        for (byte[] secret : List.of(record.sharedSecret(), record.exchangeHash(), record.sessionId(),
                record.clientKexInit())) {
            assertFalse(blob.contains(HexFormat.of().formatHex(secret, 0, 16)), "secret bytes visible in the sealed blob");
        }
        assertEquals(32, s.enc().length);
        assertEquals(64, s.signature().length);
        assertEquals(32, s.digest().length);
    }

    @Test
    void everySealingIsFresh() throws Exception {
        SealedKexRecord a = sealed();
        SealedKexRecord b = sealed();
        assertFalse(Arrays.equals(a.enc(), b.enc()), "a new HPKE ephemeral key each time");
        assertFalse(Arrays.equals(a.ciphertext(), b.ciphertext()));
        assertSameRecord(record, opener.open(b, expected));
    }

    // ---------------------------------------------------------------- single-bit flips

    @Test
    void aFlippedCiphertextBitIsCaughtByTheDigestThenByTheSignature() throws Exception {
        SealedKexRecord s = sealed();
        byte[] ct = flip(s.ciphertext(), 100);
        rejected(Reason.DIGEST_MISMATCH, () -> opener.open(
                new SealedKexRecord(s.binding(), s.enc(), ct, s.signature(), s.digest()), expected));
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(redigested(s.binding(), s.enc(), ct, s.signature()), expected));
    }

    @Test
    void aFlippedSignatureBitIsCaughtByTheDigestThenByTheSignature() throws Exception {
        SealedKexRecord s = sealed();
        byte[] sig = flip(s.signature(), 7);
        rejected(Reason.DIGEST_MISMATCH, () -> opener.open(
                new SealedKexRecord(s.binding(), s.enc(), s.ciphertext(), sig, s.digest()), expected));
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(redigested(s.binding(), s.enc(), s.ciphertext(), sig), expected));
    }

    @Test
    void aFlippedDigestBitIsCaught() throws Exception {
        SealedKexRecord s = sealed();
        for (int bit : new int[] {0, 131, 255}) {
            RecordRejectedException e = rejected(Reason.DIGEST_MISMATCH, () -> opener.open(
                    new SealedKexRecord(s.binding(), s.enc(), s.ciphertext(), s.signature(), flip(s.digest(), bit)), expected));
            assertTrue(e.getMessage().contains("the SHA-256 over its body does not match its digest"), e.getMessage());
        }
    }

    @Test
    void aFlippedEncBitIsCaughtByDigestSignatureAndHpke() throws Exception {
        SealedKexRecord s = sealed();
        byte[] enc = flip(s.enc(), 9);
        rejected(Reason.DIGEST_MISMATCH, () -> opener.open(
                new SealedKexRecord(s.binding(), enc, s.ciphertext(), s.signature(), s.digest()), expected));
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(redigested(s.binding(), enc, s.ciphertext(), s.signature()), expected));
        // even signed by the real export key (a buggy or compromised primary), HPKE refuses it
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(resigned(s.binding(), enc, s.ciphertext(), exportKey), expected));
        // the top bit, which X25519 itself ignores, is covered too (enc is in HPKE's key schedule)
        byte[] topBit = flip(s.enc(), 255);
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(resigned(s.binding(), topBit, s.ciphertext(), exportKey), expected));
        // a low-order point (all zeros): Bouncy Castle throws IllegalStateException, still DECRYPTION_FAILED
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(resigned(s.binding(), new byte[32], s.ciphertext(), exportKey), expected));
    }

    @Test
    void aCiphertextAlteredAndSignedByTheRealKeyStillFailsHpke() throws Exception {
        SealedKexRecord s = sealed();
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(
                resigned(s.binding(), s.enc(), flip(s.ciphertext(), 3), exportKey), expected));
    }

    @Test
    void noSingleBitFlipAnywhereInTheBlobIsEverAccepted() throws Exception {
        byte[] blob = sealed().encode();
        Map<Reason, Integer> seen = new EnumMap<>(Reason.class);
        for (int bit = 0; bit < blob.length * 8; bit++) {
            byte[] flipped = flip(blob, bit);
            try {
                opener.open(flipped, expected);
                fail("bit " + bit + " flipped (byte " + bit / 8 + ") and the record was still accepted");
            } catch (RecordRejectedException e) {
                seen.merge(e.reason(), 1, Integer::sum);
                assertTrue(e.reason() == Reason.MALFORMED || e.reason() == Reason.DIGEST_MISMATCH,
                        "bit " + bit + ": " + e.getMessage());
            }
        }
        assertTrue(seen.get(Reason.MALFORMED) > 0 && seen.get(Reason.DIGEST_MISMATCH) > 0, seen.toString());
    }

    // ---------------------------------------------------------------- wrong keys

    @Test
    void theWrongApplianceKeyCannotDecrypt() throws Exception {
        RecordOpener otherAppliance = new RecordOpener(new X25519PrivateKeyParameters(RANDOM), exportKey.generatePublicKey());
        RecordRejectedException e = rejected(Reason.DECRYPTION_FAILED, () -> otherAppliance.open(sealed(), expected));
        assertTrue(e.getMessage().contains("does not decrypt with appliance key SHA256:"), e.getMessage());
    }

    @Test
    void aRecordSignedByAnotherExportKeyIsRefused() throws Exception {
        RecordOpener pinnedElsewhere = new RecordOpener(applianceKey, new Ed25519PrivateKeyParameters(RANDOM).generatePublicKey());
        RecordRejectedException e = rejected(Reason.BAD_SIGNATURE, () -> pinnedElsewhere.open(sealed(), expected));
        assertTrue(e.getMessage().contains("does not verify with the pinned export key SHA256:"), e.getMessage());

        // a whole primary that seals to the right appliance but signs with its own key
        RecordSealer impostor = new RecordSealer(applianceKey.generatePublicKey(), new Ed25519PrivateKeyParameters(RANDOM));
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(impostor.seal(record), expected));
    }

    // ---------------------------------------------------------------- binding

    @Test
    void aRecordMovedToAnotherConnectionIsRefused() throws Exception {
        SealedKexRecord s = sealed();
        InetSocketAddress otherClient = endpoint("10.213.0.10", 40023);
        ExpectedBinding elsewhere = ExpectedBinding.of(SampleRecords.PRIMARY_ID, otherClient, SampleRecords.server(), 0);
        RecordRejectedException e = rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, elsewhere));
        assertTrue(e.getMessage().endsWith("client: sealed for 10.213.0.10:40022, expected 10.213.0.10:40023"), e.getMessage());

        ExpectedBinding otherServer = ExpectedBinding.of(SampleRecords.PRIMARY_ID, SampleRecords.client(),
                endpoint("10.213.0.101", 22), 0);
        rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, otherServer));
        ExpectedBinding otherPrimary = ExpectedBinding.of("primary-b", SampleRecords.client(), SampleRecords.server(), 0);
        RecordRejectedException p = rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, otherPrimary));
        assertTrue(p.getMessage().endsWith("primary: sealed for 'primary-a', expected 'primary-b'"), p.getMessage());
        ExpectedBinding otherSession = expected.inSession(new byte[32]);
        RecordRejectedException sid = rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, otherSession));
        assertTrue(sid.getMessage().contains("session: sealed for sid-sha256:"), sid.getMessage());
    }

    @Test
    void aRecordReboundByAnAttackerWithTheirOwnKeyIsRefused() throws Exception {
        SealedKexRecord s = sealed();
        InetSocketAddress victim = endpoint("10.213.0.11", 50000);
        RecordBinding moved = withClient(s.binding(), victim);
        ExpectedBinding victimConnection = ExpectedBinding.of(SampleRecords.PRIMARY_ID, victim, SampleRecords.server(), 0);
        Ed25519PrivateKeyParameters attackerKey = new Ed25519PrivateKeyParameters(RANDOM);
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(resigned(moved, s.enc(), s.ciphertext(), attackerKey), victimConnection));
        // without re-signing at all
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(redigested(moved, s.enc(), s.ciphertext(), s.signature()), victimConnection));
        // and even re-signed by the real key, the binding is HPKE's aad: the ciphertext does not open under it
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(resigned(moved, s.enc(), s.ciphertext(), exportKey), victimConnection));
    }

    @Test
    void aChangedOrdinalIsRefused() throws Exception {
        SealedKexRecord s = sealed();
        // the appliance expects rekey #1, the record is the initial exchange
        ExpectedBinding rekey = ExpectedBinding.of(SampleRecords.PRIMARY_ID, SampleRecords.client(), SampleRecords.server(), 1);
        RecordRejectedException e = rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, rekey));
        assertTrue(e.getMessage().endsWith("ordinal: sealed for #0, expected #1"), e.getMessage());
        // the ordinal edited in the clear binding
        RecordBinding edited = withOrdinal(s.binding(), 1);
        rejected(Reason.BAD_SIGNATURE, () -> opener.open(redigested(edited, s.enc(), s.ciphertext(), s.signature()), rekey));
        rejected(Reason.DECRYPTION_FAILED, () -> opener.open(resigned(edited, s.enc(), s.ciphertext(), exportKey), rekey));
    }

    @Test
    void aRecordWhoseContentsDisagreeWithItsSignedBindingIsRefused() throws Exception {
        // A primary bug (or a compromised primary) seals record #0 under a binding that says #5.
        RecordBinding claims5 = withOrdinal(RecordBinding.of(record), 5);
        SealedKexRecord s = sealer.seal(record, claims5);
        ExpectedBinding expects5 = ExpectedBinding.of(SampleRecords.PRIMARY_ID, SampleRecords.client(), SampleRecords.server(), 5);
        RecordRejectedException e = rejected(Reason.BINDING_MISMATCH, () -> opener.open(s, expects5));
        assertTrue(e.getMessage().endsWith("ordinal: the record is for #0, its binding says #5"), e.getMessage());

        RecordBinding otherClient = withClient(RecordBinding.of(record), endpoint("10.213.0.99", 1));
        ExpectedBinding expectsOther = ExpectedBinding.of(SampleRecords.PRIMARY_ID, endpoint("10.213.0.99", 1), SampleRecords.server(), 0);
        rejected(Reason.BINDING_MISMATCH, () -> opener.open(sealer.seal(record, otherClient), expectsOther));

        RecordBinding otherSession = new RecordBinding(SampleRecords.PRIMARY_ID, SampleRecords.client(),
                SampleRecords.server(), new byte[32], 0);
        RecordRejectedException sid = rejected(Reason.BINDING_MISMATCH, () -> opener.open(sealer.seal(record, otherSession), expected));
        assertTrue(sid.getMessage().contains("session: the record is for sid-sha256:"), sid.getMessage());
    }

    // ---------------------------------------------------------------- malformed

    @Test
    void malformedBlobsAreRefusedSayingWhy() throws Exception {
        byte[] blob = sealed().encode();
        assertEquals("MALFORMED: sealed KEX record: empty input (no format version)",
                rejected(Reason.MALFORMED, () -> opener.open(new byte[0], expected)).getMessage());
        byte[] v2 = blob.clone();
        v2[0] = 2;
        assertEquals("MALFORMED: sealed KEX record: unsupported format version 2 (this build reads version 1)",
                rejected(Reason.MALFORMED, () -> opener.open(v2, expected)).getMessage());
        byte[] longer = Arrays.copyOf(blob, blob.length + 1);
        assertEquals("MALFORMED: sealed KEX record: 1 trailing byte(s) after the end at offset " + blob.length,
                rejected(Reason.MALFORMED, () -> opener.open(longer, expected)).getMessage());
        byte[] shorter = Arrays.copyOf(blob, blob.length - 1);
        assertTrue(rejected(Reason.MALFORMED, () -> opener.open(shorter, expected)).getMessage()
                .contains("digest at offset"));
    }

    @Test
    void aVerifiedPlaintextThatIsNotAKexRecordIsMalformed() throws Exception {
        // Sealed and signed with the real keys, but the plaintext is garbage: only a broken primary does this.
        RecordBinding b = RecordBinding.of(record);
        byte[][] hpke = SealingSuite.hpke().seal(applianceKey.generatePublicKey(), SealingSuite.HPKE_INFO, b.encode(),
                new byte[] {9, 9, 9}, null, null, null);
        RecordRejectedException e = rejected(Reason.MALFORMED, () -> opener.open(resigned(b, hpke[1], hpke[0], exportKey), expected));
        assertTrue(e.getMessage().endsWith("plaintext is not a KEX record: KEX record: unsupported format version 9"
                + " (this build reads version 1)"), e.getMessage());
    }

    // ---------------------------------------------------------------- no secrets in messages

    @Test
    void rejectionMessagesHoldIdsAndFingerprintsButNoSecrets() throws Exception {
        SealedKexRecord s = sealed();
        List<String> messages = new ArrayList<>();
        ThrowingOpen[] cases = {
            () -> opener.open(new SealedKexRecord(s.binding(), s.enc(), s.ciphertext(), s.signature(), new byte[32]), expected),
            () -> new RecordOpener(applianceKey, new Ed25519PrivateKeyParameters(RANDOM).generatePublicKey()).open(s, expected),
            () -> opener.open(s, expected.inSession(new byte[8])),
            () -> new RecordOpener(new X25519PrivateKeyParameters(RANDOM), exportKey.generatePublicKey()).open(s, expected),
            () -> opener.open(sealer.seal(record, withOrdinal(RecordBinding.of(record), 3)),
                    ExpectedBinding.of(SampleRecords.PRIMARY_ID, SampleRecords.client(), SampleRecords.server(), 3)),
        };
        for (ThrowingOpen c : cases) {
            messages.add(assertThrows(RecordRejectedException.class, c::run).getMessage());
        }
        List<String> secrets = new ArrayList<>();
        for (byte[] secret : List.of(record.sharedSecret(), record.exchangeHash(), record.sessionId(),
                applianceKey.getEncoded(), exportKey.getEncoded())) {
            secrets.add(HexFormat.of().formatHex(secret, 0, 8));
            secrets.add(Base64.getEncoder().encodeToString(Arrays.copyOf(secret, 9)));
        }
        for (String m : messages) {
            assertTrue(m.contains("10.213.0.10:40022->10.213.0.100:22 #"), m);
            for (String secret : secrets) {
                assertFalse(m.toLowerCase().contains(secret.toLowerCase()), "secret in: " + m);
            }
        }
        assertNotEquals(messages.get(0), messages.get(1));
    }
}
