package io.securejeebs.keyexport;

import static io.securejeebs.keyexport.SampleRecords.assertSameRecord;
import static io.securejeebs.keyexport.SampleRecords.endpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord.SharedSecretEncoding;
import io.securejeebs.keyexport.wire.MalformedEncodingException;
import io.securejeebs.keyexport.wire.WireWriter;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class KexRecordCodecTest {

    private static KexRecord roundTrip(KexRecord record) throws MalformedEncodingException {
        byte[] encoded = KexRecordCodec.encode(record);
        KexRecord decoded = KexRecordCodec.decode(encoded);
        assertSameRecord(record, decoded);
        assertArrayEquals(encoded, KexRecordCodec.encode(decoded), "decode then encode gives the same bytes");
        return decoded;
    }

    private static String rejected(byte[] bytes) {
        return assertThrows(MalformedEncodingException.class, () -> KexRecordCodec.decode(bytes)).getMessage();
    }

    @Test
    void aRealisticRecordSurvivesTheRoundTrip() throws Exception {
        roundTrip(SampleRecords.initial(1));
        roundTrip(SampleRecords.rekey(1, 3, SampleRecords.client(), SampleRecords.server()));
    }

    @Test
    void theEncodingIsDeterministicAndStartsWithTheVersion() {
        byte[] a = KexRecordCodec.encode(SampleRecords.initial(7));
        byte[] b = KexRecordCodec.encode(SampleRecords.initial(7));
        assertArrayEquals(a, b);
        assertEquals(KexRecordCodec.FORMAT_VERSION, a[0]);
    }

    @Test
    void edgeCasesSurviveTheRoundTrip() throws Exception {
        Random random = new Random(3);
        // empty byte fields and empty message lists, smallest and largest values
        roundTrip(new KexRecord("", endpoint("0.0.0.0", 0), endpoint("255.255.255.255", 65535), 0,
                "", "", "", "", new byte[0], new byte[0], List.of(), List.of(),
                new byte[0], SharedSecretEncoding.STRING, new byte[0], new byte[0], false));
        // IPv6 both sides, group exchange (two messages each way), K as a string, a big ordinal, non-ASCII id
        roundTrip(new KexRecord("primär-ü-東京", endpoint("2001:db8::10", 50000), endpoint("::1", 22),
                Integer.MAX_VALUE, "diffie-hellman-group-exchange-sha256", "SHA-256",
                "SSH-2.0-PuTTY_Release_0.81", "SSH-2.0-SecureJeebs_0.1",
                SampleRecords.bytes(random, 1500), SampleRecords.bytes(random, 1200),
                List.of(SampleRecords.bytes(random, 13), SampleRecords.bytes(random, 517)),
                List.of(SampleRecords.bytes(random, 530), SampleRecords.bytes(random, 800)),
                SampleRecords.bytes(random, 513), SharedSecretEncoding.STRING,
                SampleRecords.bytes(random, 32), SampleRecords.bytes(random, 32), true));
        // a post-quantum sized exchange and a 1 MiB payload
        roundTrip(new KexRecord("p", SampleRecords.client(), SampleRecords.server(), 1,
                "mlkem768x25519-sha256", "SHA-256", "SSH-2.0-a", "SSH-2.0-b",
                SampleRecords.bytes(random, 1 << 20), SampleRecords.bytes(random, 1),
                List.of(SampleRecords.bytes(random, 1216)), List.of(SampleRecords.bytes(random, 1120)),
                SampleRecords.bytes(random, 32), SharedSecretEncoding.STRING,
                SampleRecords.bytes(random, 32), SampleRecords.bytes(random, 32), true));
    }

    @Test
    void anIpv6ScopeIdIsNotPartOfTheEncoding() throws Exception {
        InetSocketAddress scoped = endpoint("fe80::1%1", 2222);
        KexRecord r = SampleRecords.rekey(5, 0, scoped, SampleRecords.server());
        KexRecord decoded = KexRecordCodec.decode(KexRecordCodec.encode(r));
        assertArrayEquals(scoped.getAddress().getAddress(), decoded.client().getAddress().getAddress());
        assertEquals(2222, decoded.client().getPort());
    }

    @Test
    void emptyInputAndUnknownVersionsAreRejected() {
        assertEquals("KEX record: empty input (no format version)", rejected(new byte[0]));
        byte[] good = KexRecordCodec.encode(SampleRecords.initial(1));
        good[0] = 2;
        assertEquals("KEX record: unsupported format version 2 (this build reads version 1)", rejected(good));
        good[0] = 0;
        assertEquals("KEX record: unsupported format version 0 (this build reads version 1)", rejected(good));
    }

    @Test
    void trailingBytesAreRejected() {
        byte[] good = KexRecordCodec.encode(SampleRecords.initial(1));
        byte[] longer = Arrays.copyOf(good, good.length + 3);
        assertEquals("KEX record: 3 trailing byte(s) after the end at offset " + good.length, rejected(longer));
    }

    @Test
    void everyTruncationIsRejected() {
        byte[] good = KexRecordCodec.encode(SampleRecords.initial(1));
        for (int n = 0; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            String message = rejected(cut);
            assertTrue(message.startsWith("KEX record: "), message);
        }
        // the message says where and what
        byte[] cut = Arrays.copyOf(good, good.length - 1);
        assertEquals("KEX record: truncated at offset " + (good.length - 1)
                + ": strictKex needs 1 byte, only 0 left", rejected(cut));
    }

    // ---------------------------------------------------------------- hand-built encodings

    /** The encoding of SampleRecords.initial(1), field by field, so a test can replace one field. */
    private static byte[] handBuilt(Map<String, Consumer<WireWriter>> replacements) {
        KexRecord r = SampleRecords.initial(1);
        Map<String, Consumer<WireWriter>> fields = new LinkedHashMap<>();
        fields.put("version", w -> w.writeByte(1));
        fields.put("primaryId", w -> w.writeUtf8("", r.primaryId()));
        fields.put("client", w -> w.writeEndpoint("", r.client()));
        fields.put("server", w -> w.writeEndpoint("", r.server()));
        fields.put("ordinal", w -> w.writeUint32(r.ordinal()));
        fields.put("kexName", w -> w.writeUtf8("", r.kexName()));
        fields.put("hashAlgorithm", w -> w.writeUtf8("", r.hashAlgorithm()));
        fields.put("clientVersion", w -> w.writeUtf8("", r.clientVersion()));
        fields.put("serverVersion", w -> w.writeUtf8("", r.serverVersion()));
        fields.put("clientKexInit", w -> w.writeString(r.clientKexInit()));
        fields.put("serverKexInit", w -> w.writeString(r.serverKexInit()));
        fields.put("clientKexMessages", w -> w.writeStringList(r.clientKexMessages()));
        fields.put("serverKexMessages", w -> w.writeStringList(r.serverKexMessages()));
        fields.put("sharedSecretEncoding", w -> w.writeByte(0));
        fields.put("sharedSecret", w -> w.writeString(r.sharedSecret()));
        fields.put("exchangeHash", w -> w.writeString(r.exchangeHash()));
        fields.put("sessionId", w -> w.writeString(r.sessionId()));
        fields.put("strictKex", w -> w.writeBoolean(r.strictKex()));
        assertTrue(fields.keySet().containsAll(replacements.keySet()), "unknown field in " + replacements.keySet());
        fields.putAll(replacements);
        WireWriter w = new WireWriter();
        fields.values().forEach(f -> f.accept(w));
        return w.toByteArray();
    }

    /** Offset of a field in {@link #handBuilt}: the size of everything before it. */
    private static int offsetOf(String field) {
        Map<String, Consumer<WireWriter>> cutHere = new LinkedHashMap<>();
        List<String> order = List.of("version", "primaryId", "client", "server", "ordinal", "kexName",
                "hashAlgorithm", "clientVersion", "serverVersion", "clientKexInit", "serverKexInit",
                "clientKexMessages", "serverKexMessages", "sharedSecretEncoding", "sharedSecret", "exchangeHash",
                "sessionId", "strictKex");
        for (String f : order.subList(order.indexOf(field), order.size())) {
            cutHere.put(f, w -> { });
        }
        return handBuilt(cutHere).length;
    }

    @Test
    void theHandBuiltEncodingMatchesTheCodec() throws Exception {
        assertArrayEquals(KexRecordCodec.encode(SampleRecords.initial(1)), handBuilt(Map.of()));
    }

    @Test
    void lengthsThatDoNotFitAreRejected() {
        int at = offsetOf("kexName");
        String huge = rejected(handBuilt(Map.of("kexName", w -> w.writeRaw(new byte[] {-1, -1, -1, -1}))));
        assertEquals("KEX record: kexName length at offset " + at + " is 4294967295, above the limit 2147483647", huge);

        byte[] tooLong = handBuilt(Map.of("sessionId", w -> w.writeUint32(1000).writeRaw(new byte[32])));
        assertEquals("KEX record: sessionId at offset " + offsetOf("sessionId") + " claims 1000 bytes, only 33 left",
                rejected(tooLong));

        byte[] countTooBig = handBuilt(Map.of("clientKexMessages", w -> w.writeUint32(1_000_000)));
        assertTrue(rejected(countTooBig).startsWith("KEX record: clientKexMessages at offset "
                + offsetOf("clientKexMessages") + " claims 1000000 elements, but only "), rejected(countTooBig));
    }

    @Test
    void badEnumsBooleansAndTextAreRejected() {
        assertEquals("KEX record: sharedSecretEncoding at offset " + offsetOf("sharedSecretEncoding")
                        + " is 2, must be 0 (mpint) or 1 (string)",
                rejected(handBuilt(Map.of("sharedSecretEncoding", w -> w.writeByte(2)))));
        assertEquals("KEX record: strictKex at offset " + offsetOf("strictKex") + " must be 0 or 1, got 2",
                rejected(handBuilt(Map.of("strictKex", w -> w.writeByte(2)))));
        assertEquals("KEX record: kexName at offset " + offsetOf("kexName") + " is not valid UTF-8",
                rejected(handBuilt(Map.of("kexName", w -> w.writeString(new byte[] {'a', (byte) 0xc3})))));
    }

    @Test
    void nonCanonicalOrImpossibleEndpointsAreRejected() {
        int at = offsetOf("client");
        assertEquals("KEX record: client address at offset " + at + " is 5 bytes, must be 4 or 16",
                rejected(handBuilt(Map.of("client", w -> w.writeString(new byte[5]).writeUint32(22)))));
        byte[] mapped = new byte[16];
        mapped[10] = -1;
        mapped[11] = -1;
        mapped[12] = 10;
        mapped[15] = 1;
        assertEquals("KEX record: client address at offset " + at + " is an IPv4-mapped IPv6 address;"
                        + " the canonical form is the 4-byte IPv4 address",
                rejected(handBuilt(Map.of("client", w -> w.writeString(mapped).writeUint32(22)))));
        assertEquals("KEX record: server port at offset " + (offsetOf("server") + 8) + " is 65536, above 65535",
                rejected(handBuilt(Map.of("server", w -> w.writeString(new byte[] {10, 0, 0, 1}).writeUint32(65536)))));
    }

    @Test
    void valuesThatCannotBeEncodedAreRefusedWithTheirName() {
        KexRecord r = SampleRecords.initial(1);
        KexRecord loneSurrogate = new KexRecord("id\ud800", r.client(), r.server(), 0, r.kexName(),
                r.hashAlgorithm(), r.clientVersion(), r.serverVersion(), r.clientKexInit(), r.serverKexInit(),
                r.clientKexMessages(), r.serverKexMessages(), r.sharedSecret(), r.sharedSecretEncoding(),
                r.exchangeHash(), r.sessionId(), r.strictKex());
        assertEquals("primaryId is not valid Unicode text",
                assertThrows(IllegalArgumentException.class, () -> KexRecordCodec.encode(loneSurrogate)).getMessage());

        KexRecord unresolved = new KexRecord("id", InetSocketAddress.createUnresolved("client.example", 1),
                r.server(), 0, r.kexName(), r.hashAlgorithm(), r.clientVersion(), r.serverVersion(),
                r.clientKexInit(), r.serverKexInit(), r.clientKexMessages(), r.serverKexMessages(),
                r.sharedSecret(), r.sharedSecretEncoding(), r.exchangeHash(), r.sessionId(), r.strictKex());
        assertEquals("client is an unresolved address (client.example)",
                assertThrows(IllegalArgumentException.class, () -> KexRecordCodec.encode(unresolved)).getMessage());

        KexRecord noK = new KexRecord("id", r.client(), r.server(), 0, r.kexName(), r.hashAlgorithm(),
                r.clientVersion(), r.serverVersion(), r.clientKexInit(), r.serverKexInit(), r.clientKexMessages(),
                r.serverKexMessages(), null, r.sharedSecretEncoding(), r.exchangeHash(), r.sessionId(), true);
        assertEquals("KexRecord.sharedSecret is null",
                assertThrows(NullPointerException.class, () -> KexRecordCodec.encode(noK)).getMessage());
    }

    @Test
    void messagesNeverQuoteTheBytesTheyReject() {
        // K is 33 bytes of 0x41 ('A'); cut the input inside it and check no run of it appears in the message.
        KexRecord r = SampleRecords.initial(1);
        byte[] k = new byte[33];
        Arrays.fill(k, (byte) 'A');
        KexRecord withK = new KexRecord(r.primaryId(), r.client(), r.server(), 0, r.kexName(), r.hashAlgorithm(),
                r.clientVersion(), r.serverVersion(), r.clientKexInit(), r.serverKexInit(), r.clientKexMessages(),
                r.serverKexMessages(), k, r.sharedSecretEncoding(), r.exchangeHash(), r.sessionId(), true);
        byte[] good = KexRecordCodec.encode(withK);
        List<String> messages = new ArrayList<>();
        for (int n = good.length - 100; n < good.length; n++) {
            messages.add(rejected(Arrays.copyOf(good, n)));
        }
        for (String m : messages) {
            assertTrue(!m.contains("AAAA") && !m.contains("41414141"), m);
        }
    }
}
