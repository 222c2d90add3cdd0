package io.securejeebs.monitor.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.monitor.ssh.TrackerReplay.Delivery;
import io.securejeebs.monitor.ssh.TrackerReplay.Outcome;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Robustness of {@link SshSessionTracker} against whatever a capture can hand it (issue 4): real sessions
 * recorded in memory are replayed in random interleaved chunks, unmutated and then mutated thousands of
 * times (bit flips, truncation, insertion, duplicated or dropped chunks, oversized length fields, garbage,
 * missing, failing, foreign and tampered KEX records). Properties:
 * <ul>
 *   <li>nothing but {@link io.securejeebs.monitor.tcp.TrackingException} ever comes out of the tracker;</li>
 *   <li>a flip in the plaintext part is caught (the record is checked against every message), unless it is
 *       in random padding or leaves the stream waiting for bytes that never come;</li>
 *   <li>a flip in the encrypted part is never accepted: either the tracker fails, or it stands exactly where
 *       the unmutated session stands just before the packet holding the flip (a packet not yet complete is
 *       not decrypted, so nothing of it is believed);</li>
 *   <li>the heap does not grow over the run, and one tracker's memory is bounded when a record never comes.</li>
 * </ul>
 * The mutations come from a fixed seed, printed; {@code -Dfuzz.seed=…} and {@code -Dfuzz.iterations=…}
 * change them. Record deliveries from another thread make the interleaving, not the mutations, vary.
 */
class SshSessionTrackerFuzzTest {
    static final long SEED = Long.getLong("fuzz.seed", 0x5ec7e1ee6bL);
    static final int ITERATIONS = Integer.getInteger("fuzz.iterations", 12_000);
    private static final long HEAP_GROWTH_LIMIT = 64L << 20;

    /** A recorded session, and what the fuzzer needs to know about its streams. */
    record Seed(String name, RecordedSession session, String model, int[] encryptedFrom, List<List<Integer>> lengthFields,
                List<long[]> packetEnds) {
        byte[] stream(boolean client) {
            return client ? session.c2s() : session.s2c();
        }
    }

    static final List<RecordedSession.Script> SCRIPTS = List.of(
            new RecordedSession.Script("chacha20-poly1305@openssh.com", null, false),
            new RecordedSession.Script("aes128-gcm@openssh.com", null, true),
            new RecordedSession.Script("aes128-ctr", "hmac-sha2-256-etm@openssh.com", false),
            new RecordedSession.Script("aes256-ctr", "hmac-sha2-256", false),
            new RecordedSession.Script("aes256-gcm@openssh.com", null, false, true)); // an SFTP channel too

    static List<Seed> seeds;

    @BeforeAll
    static void recordSessions() throws Exception {
        long t0 = System.nanoTime();
        seeds = new ArrayList<>();
        for (RecordedSession.Script script : SCRIPTS) {
            seeds.add(analyse(script.toString(), RecordedSession.shared(script)));
        }
        System.out.printf("fuzz: recorded %d sessions in %d ms: %s%n", seeds.size(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), seeds.stream().map(s -> s.name() + " " + s.session()).toList());
    }

    // ---------------------------------------------------------------- unmutated

    @Test
    void unmutatedSeedsReplayCleanlyInAnyChunkingAndDelivery() {
        Random rnd = new Random(SEED);
        for (Seed seed : seeds) {
            for (int run = 0; run < 20; run++) {
                Delivery delivery = new Delivery[] {Delivery.SYNC, Delivery.ASYNC, Delivery.LATE}[run % 3];
                Outcome o = TrackerReplay.replay(seed.session(), delivery, rnd);
                String where = seed.name() + " run " + run + " " + delivery;
                assertNull(o.bug(), () -> where + ": " + o.bug());
                assertNull(o.failure(), () -> where + ": " + o.failure().getMessage());
                assertNull(o.unrecoverableReason(), where);
                SshSessionModel m = o.model();
                assertEquals("alice", m.user(), where);
                assertEquals("password", m.authMethod(), where);
                assertEquals(seed.session().records().size(), m.keyExchanges(), where);
                assertEquals(seed.name().endsWith(" sftp") ? 2 : 1, m.channels().size(), where);
                ChannelModel shell = m.channels().get(0);
                assertEquals("shell", shell.command(), where);
                assertEquals("xterm-256color", shell.pty().term(), where);
                assertEquals(Map.of("LANG", SshSessionTracker.redacted("C.UTF-8", "byte value")), shell.env(), where);
                assertTrue(m.prefixComplete(), where);
                assertEquals(0, m.clientToServer().partialPacketBytes(), where);
                assertEquals(0, m.serverToClient().partialPacketBytes(), where);
                if (m.channels().size() == 2) {
                    SftpModel sftp = m.channels().get(1).sftp();
                    assertNull(sftp.stoppedReason(), where);
                    assertEquals(3, sftp.handles().size(), where);
                }
                assertEquals(seed.model(), TrackerReplay.describe(m, false, false), where + ": the model depends on chunking or delivery");
            }
        }
    }

    // ---------------------------------------------------------------- mutated

    enum Kind {
        UNMUTATED(2), FLIP_PLAIN(8), FLIP_ENCRYPTED(14), FLIP_ENCRYPTED_THEN_TRUNCATE(8), TRUNCATE(6), INSERT(6),
        DUPLICATE_CHUNK(5), DROP_CHUNK(5), OVERSIZED_LENGTH(5), SEVERAL(6), GARBAGE(4), FRAMED_GARBAGE(10),
        EMPTY(2), SWAPPED(2), RECORD_NEVER(3), RECORD_FAILS(3), RECORD_OF_ANOTHER_SESSION(3), RECORD_TAMPERED_I_S(3),
        TINY_LIMITS(3);

        final int weight;

        Kind(int weight) {
            this.weight = weight;
        }
    }

    /** One mutated input. */
    record Case(Kind kind, Seed seed, byte[] c2s, byte[] s2c, List<KexRecord> records, Delivery delivery,
                SshSessionTracker.Limits limits, String what, Boolean flippedClient, int flipAt) {
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS) // a hang (an endless loop in the tracker) fails here
    void mutatedStreamsOnlyEverEndInTrackingException() {
        System.out.printf("fuzz: seed 0x%x, %d iterations (-Dfuzz.seed, -Dfuzz.iterations)%n", SEED, ITERATIONS);
        Random master = new Random(SEED);
        Map<Kind, int[]> stats = new EnumMap<>(Kind.class); // runs, TrackingExceptions
        Map<String, Integer> reasons = new TreeMap<>();
        Map<String, Integer> plainFlipsNotCaught = new TreeMap<>();
        int encryptedFlipsInUnfinishedPackets = 0;
        long t0 = System.nanoTime();
        long baseline = 0;
        long maxGrowth = 0;
        int samples = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            if (i == Math.min(200, ITERATIONS / 4)) {
                baseline = IdleSessionFootprint.usedHeapAfterGc(); // after warm-up: classes, JIT, providers
            } else if (baseline > 0 && (i % Math.max(1, ITERATIONS / 8) == 0 || i == ITERATIONS - 1)) {
                maxGrowth = Math.max(maxGrowth, IdleSessionFootprint.usedHeapAfterGc() - baseline);
                samples++;
            }
            long iterationSeed = master.nextLong();
            Case c = null;
            try {
                Random rnd = new Random(iterationSeed);
                c = mutate(rnd);
                Outcome o = new TrackerReplay(c.records(), c.delivery(), c.limits())
                        .replay(c.c2s(), c.s2c(), c.seed().session(), rnd);
                if (o.bug() != null) {
                    throw new AssertionError("not a TrackingException: " + o.bug(), o.bug());
                }
                int[] st = stats.computeIfAbsent(c.kind(), k -> new int[2]);
                st[0]++;
                if (o.failure() != null) {
                    st[1]++;
                    reasons.merge(reasonShape(o.failure().getMessage()), 1, Integer::sum);
                }
                check(c, o);
                if ((c.kind() == Kind.FLIP_ENCRYPTED || c.kind() == Kind.FLIP_ENCRYPTED_THEN_TRUNCATE) && o.clean()) {
                    encryptedFlipsInUnfinishedPackets++; // check() proved it stands before the flip
                }
                if (c.kind() == Kind.FLIP_PLAIN && o.clean()) {
                    String region = plainRegion(c.seed(), c.flippedClient(), c.flipAt());
                    boolean same = o.unrecoverableReason() == null
                            && c.seed().model().equals(TrackerReplay.describe(o.model(), false, false));
                    String effect = o.unrecoverableReason() != null ? "stalled" : same ? "same model" : "DIFFERENT model";
                    plainFlipsNotCaught.merge(region + ": " + effect, 1, Integer::sum);
                }
            } catch (Throwable t) {
                String what = c == null ? "(building the case)" : c.kind() + " on " + c.seed().name() + ": " + c.what()
                        + " (" + c.delivery() + ")";
                fail(String.format("fuzz seed 0x%x iteration %d (iteration seed %d): %s: %s", SEED, i, iterationSeed,
                        what, t), t);
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("fuzz: %d iterations in %d ms; heap growth at most %.1f MiB over %d samples%n", ITERATIONS, ms,
                maxGrowth / 1048576.0, samples);
        stats.forEach((k, v) -> System.out.printf("fuzz:   %-30s %5d runs, %5d TrackingException%n", k, v[0], v[1]));
        reasons.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue()).limit(25)
                .forEach(e -> System.out.printf("fuzz:   %5d × %s%n", e.getValue(), e.getKey()));
        long growth = maxGrowth;
        System.out.printf("fuzz:   encrypted flips not (yet) caught, in a packet not complete: %d%n", encryptedFlipsInUnfinishedPackets);
        plainFlipsNotCaught.forEach((k, v) -> System.out.printf("fuzz:   plaintext flip not caught: %5d × %s%n", v, k));
        assertTrue(growth < HEAP_GROWTH_LIMIT, () -> "the heap grew by " + growth + " bytes over the run: a leak");
    }

    /** A reason with its numbers blanked, to count failures by kind. */
    private static String reasonShape(String reason) {
        String s = reason.replaceAll("\"[^\"]*\"", "\"…\"").replaceAll("-?\\d+", "N");
        return s.length() > 110 ? s.substring(0, 110) + "…" : s;
    }

    private Case mutate(Random rnd) {
        Seed seed = seeds.get(rnd.nextInt(seeds.size()));
        Kind kind = pick(rnd);
        byte[] c2s = seed.session().c2s().clone();
        byte[] s2c = seed.session().s2c().clone();
        List<KexRecord> records = seed.session().records();
        Delivery delivery = new Delivery[] {Delivery.SYNC, Delivery.ASYNC, Delivery.LATE}[rnd.nextInt(3)];
        SshSessionTracker.Limits limits = SshSessionTracker.Limits.DEFAULT;
        boolean client = rnd.nextBoolean();
        byte[] s = client ? c2s : s2c;
        String dir = client ? "c2s" : "s2c";
        int enc = seed.encryptedFrom()[client ? 0 : 1];
        switch (kind) {
            case UNMUTATED -> {
                return new Case(kind, seed, c2s, s2c, records, delivery, limits, "as recorded", null, -1);
            }
            case FLIP_PLAIN -> {
                int p = rnd.nextInt(enc);
                flip(s, p, rnd);
                return new Case(kind, seed, c2s, s2c, records, delivery, limits, dir + " flip at " + p + " of " + enc
                        + " plaintext bytes", client, p);
            }
            case FLIP_ENCRYPTED -> {
                int p = enc + rnd.nextInt(s.length - enc);
                flip(s, p, rnd);
                return new Case(kind, seed, c2s, s2c, records, delivery, limits, dir + " flip at " + p + " (encrypted from "
                        + enc + ")", client, p);
            }
            case FLIP_ENCRYPTED_THEN_TRUNCATE -> {
                int p = enc + rnd.nextInt(s.length - enc);
                int q = p + 1 + rnd.nextInt(Math.min(s.length - p, 200));
                flip(s, p, rnd);
                byte[] cut = Arrays.copyOf(s, q);
                return new Case(kind, seed, client ? cut : c2s, client ? s2c : cut, records, delivery, limits,
                        dir + " flip at " + p + " then cut at " + q + " (encrypted from " + enc + ")", client, p);
            }
            case TRUNCATE -> {
                byte[] a = Arrays.copyOf(c2s, rnd.nextInt(c2s.length + 1));
                byte[] b = rnd.nextBoolean() ? s2c : Arrays.copyOf(s2c, rnd.nextInt(s2c.length + 1));
                return new Case(kind, seed, a, b, records, delivery, limits, "cut to " + a.length + "/" + b.length, null, -1);
            }
            case INSERT -> {
                int p = rnd.nextInt(s.length + 1);
                byte[] junk = random(rnd, 1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 600));
                byte[] m = splice(s, p, p, junk);
                return withStream(kind, seed, client, m, c2s, s2c, records, delivery, limits,
                        dir + " " + junk.length + " random bytes inserted at " + p);
            }
            case DUPLICATE_CHUNK -> {
                int p = rnd.nextInt(s.length);
                int q = Math.min(s.length, p + 1 + rnd.nextInt(2000));
                byte[] m = splice(s, q, q, Arrays.copyOfRange(s, p, q));
                return withStream(kind, seed, client, m, c2s, s2c, records, delivery, limits, dir + " [" + p + "," + q + ") twice");
            }
            case DROP_CHUNK -> {
                int p = rnd.nextInt(s.length);
                int q = Math.min(s.length, p + 1 + rnd.nextInt(2000));
                byte[] m = splice(s, p, q, new byte[0]);
                return withStream(kind, seed, client, m, c2s, s2c, records, delivery, limits, dir + " [" + p + "," + q + ") dropped");
            }
            case OVERSIZED_LENGTH -> {
                List<Integer> fields = seed.lengthFields().get(client ? 0 : 1);
                int p = fields.get(rnd.nextInt(fields.size()));
                int[] values = {0x7fffffff, 0xffffffff, (256 << 10) + 1, 0x80000000, (256 << 10) + 4, 0x00100000};
                int v = values[rnd.nextInt(values.length)];
                s[p] = (byte) (v >>> 24);
                s[p + 1] = (byte) (v >>> 16);
                s[p + 2] = (byte) (v >>> 8);
                s[p + 3] = (byte) v;
                return new Case(kind, seed, c2s, s2c, records, delivery, limits,
                        dir + " packet length at " + p + " := 0x" + Integer.toHexString(v), null, -1);
            }
            case SEVERAL -> {
                StringBuilder what = new StringBuilder();
                for (int n = 1 + rnd.nextInt(6); n > 0; n--) {
                    boolean cl = rnd.nextBoolean();
                    byte[] t = cl ? c2s : s2c;
                    if (t.length == 0) {
                        continue;
                    }
                    int p = rnd.nextInt(t.length);
                    switch (rnd.nextInt(3)) {
                        case 0 -> {
                            flip(t, p, rnd);
                            what.append(cl ? " c2s" : " s2c").append(" flip@").append(p);
                        }
                        case 1 -> {
                            t = splice(t, p, Math.min(t.length, p + 1 + rnd.nextInt(64)), new byte[0]);
                            what.append(cl ? " c2s" : " s2c").append(" drop@").append(p);
                        }
                        default -> {
                            t = splice(t, p, p, random(rnd, 1 + rnd.nextInt(64)));
                            what.append(cl ? " c2s" : " s2c").append(" insert@").append(p);
                        }
                    }
                    if (cl) {
                        c2s = t;
                    } else {
                        s2c = t;
                    }
                }
                return new Case(kind, seed, c2s, s2c, records, delivery, limits, what.toString().trim(), null, -1);
            }
            case GARBAGE -> {
                byte[] a = rnd.nextInt(3) == 0 ? c2s : random(rnd, rnd.nextInt(rnd.nextBoolean() ? 300 : 70_000));
                byte[] b = random(rnd, rnd.nextInt(rnd.nextBoolean() ? 300 : 70_000));
                if (rnd.nextBoolean()) { // past the version line, into the packet parser
                    a = a == c2s ? a : concat("SSH-2.0-fuzz\r\n".getBytes(StandardCharsets.US_ASCII), a);
                    b = concat("SSH-2.0-fuzz\r\n".getBytes(StandardCharsets.US_ASCII), b);
                }
                return new Case(kind, seed, a, b, records, delivery, limits, "random " + a.length + "/" + b.length, null, -1);
            }
            case FRAMED_GARBAGE -> {
                byte[][] pair = FramedGarbage.session(rnd);
                if (rnd.nextBoolean()) {
                    limits = new SshSessionTracker.Limits(2048, 4096, 3, 3, 4, 2, 2);
                }
                return new Case(kind, seed, pair[0], pair[1], records, delivery, limits,
                        "well-framed plaintext packets with random messages " + pair[0].length + "/" + pair[1].length, null, -1);
            }
            case EMPTY -> {
                int which = rnd.nextInt(3);
                return new Case(kind, seed, which == 1 ? c2s : new byte[0], which == 2 ? s2c : new byte[0], records,
                        delivery, limits, "empty " + (which == 0 ? "both" : which == 1 ? "s2c" : "c2s"), null, -1);
            }
            case SWAPPED -> {
                return new Case(kind, seed, s2c, c2s, records, delivery, limits, "directions swapped", null, -1);
            }
            case RECORD_NEVER -> {
                List<KexRecord> some = records.subList(0, rnd.nextInt(records.size()));
                if (rnd.nextBoolean()) { // and the stream goes on past what was recorded
                    byte[] more = concat(s, random(rnd, rnd.nextInt(300_000)));
                    return withStream(kind, seed, client, more, c2s, s2c, some, delivery, limits,
                            "records " + some.size() + " of " + records.size() + ", " + dir + " goes on " + (more.length - s.length));
                }
                return new Case(kind, seed, c2s, s2c, some, delivery, limits, "records " + some.size() + " of "
                        + records.size(), null, -1);
            }
            case RECORD_FAILS -> {
                return new Case(kind, seed, c2s, s2c, records, Delivery.FAIL, limits, "every record fails", null, -1);
            }
            case RECORD_OF_ANOTHER_SESSION -> {
                Seed other = seeds.get((seeds.indexOf(seed) + 1 + rnd.nextInt(seeds.size() - 1)) % seeds.size());
                List<KexRecord> mixed = new ArrayList<>(records);
                int which = rnd.nextInt(records.size());
                KexRecord foreign = other.session().records().get(Math.min(which, other.session().records().size() - 1));
                mixed.set(which, relabel(foreign, which));
                return new Case(kind, seed, c2s, s2c, mixed, delivery, limits, "record #" + which + " from " + other.name(),
                        null, -1);
            }
            case RECORD_TAMPERED_I_S -> {
                List<KexRecord> tampered = new ArrayList<>(records);
                int which = rnd.nextInt(records.size());
                KexRecord r = tampered.get(which);
                byte[] is = r.serverKexInit().clone();
                int p = rnd.nextInt(is.length);
                flip(is, p, rnd);
                tampered.set(which, new KexRecord(r.primaryId(), r.client(), r.server(), r.ordinal(), r.kexName(),
                        r.hashAlgorithm(), r.clientVersion(), r.serverVersion(), r.clientKexInit(), is,
                        r.clientKexMessages(), r.serverKexMessages(), r.sharedSecret(), r.sharedSecretEncoding(),
                        r.exchangeHash(), r.sessionId(), r.strictKex()));
                return new Case(kind, seed, c2s, s2c, tampered, delivery, limits, "record #" + which + " I_S flipped at "
                        + p, null, -1);
            }
            case TINY_LIMITS -> {
                limits = new SshSessionTracker.Limits(1 + rnd.nextInt(4096), 1 + rnd.nextInt(4096), rnd.nextInt(3),
                        rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3));
                return new Case(kind, seed, c2s, s2c, records, delivery, limits, limits.toString(), null, -1);
            }
            default -> throw new IllegalStateException(kind.toString());
        }
    }

    /** Kind-specific properties, on top of "nothing but TrackingException". */
    private void check(Case c, Outcome o) {
        Seed seed = c.seed();
        switch (c.kind()) {
            case UNMUTATED -> {
                assertNull(o.failure(), () -> "unmutated: " + o.failure().getMessage());
                assertEquals(seed.model(), TrackerReplay.describe(o.model(), false, false));
            }
            case FLIP_ENCRYPTED, FLIP_ENCRYPTED_THEN_TRUNCATE -> {
                if (o.failure() != null) {
                    return; // the MAC, the tag or the length check caught it
                }
                // Not caught: then the flip must sit in a packet not yet complete. The tracker stands after k
                // packets of that direction; those are the original's first k, and end before the flip.
                boolean client = c.flippedClient();
                DirectionModel d = client ? o.model().clientToServer() : o.model().serverToClient();
                int k = (int) d.packets();
                long[] ends = seed.packetEnds().get(client ? 0 : 1);
                assertTrue(k < ends.length, () -> "more packets than the original: " + k);
                long accepted = ends[k];
                int flipAt = c.flipAt();
                assertTrue(accepted <= flipAt, () -> "a packet holding the flipped byte was accepted: the direction stands at "
                        + accepted + ", past the flip");
                byte[] cut = Arrays.copyOf(seed.stream(client), (int) accepted);
                Outcome ref = new TrackerReplay(seed.session().records(), Delivery.SYNC, SshSessionTracker.Limits.DEFAULT)
                        .replay(client ? cut : seed.session().c2s(), client ? seed.session().s2c() : cut, seed.session(),
                                new Random(1));
                assertTrue(ref.clean(), () -> "the unmutated session cut where the mutated one stands fails: " + ref.failure()
                        + ", but the mutated one did not");
                assertEquals(TrackerReplay.describe(ref.model(), client, !client), TrackerReplay.describe(o.model(), client, !client),
                        "the mutated session's model differs from the original's at the same point");
            }
            case FLIP_PLAIN -> {
                // The record is checked against every plaintext message (KEXINITs, KEX_ECDH_INIT/REPLY): what goes
                // through unnoticed is random padding, or a flip that leaves the stream waiting for more.
                if (o.clean() && o.unrecoverableReason() == null) {
                    String region = plainRegion(seed, c.flippedClient(), c.flipAt());
                    assertTrue(region.endsWith(" padding"), () -> "a plaintext flip in " + region + " was accepted");
                }
            }
            case OVERSIZED_LENGTH -> {
                assertNotNull(o.failure(), "an oversized plaintext length was accepted");
                assertTrue(o.failure().getMessage().contains("invalid plaintext packet length"), o.failure().getMessage());
            }
            case RECORD_NEVER -> {
                if (o.failure() != null) {
                    assertTrue(o.failure().getMessage().contains("has not arrived"), o.failure().getMessage());
                } else {
                    assertNotNull(o.unrecoverableReason(), "a session whose record never came is said recoverable");
                }
            }
            case RECORD_FAILS -> {
                assertNotNull(o.failure(), "a failed record went unnoticed");
                assertTrue(o.failure().getMessage().contains("KEX record #0"), o.failure().getMessage());
            }
            case RECORD_OF_ANOTHER_SESSION -> assertNotNull(o.failure(), "a record of another session was accepted");
            case RECORD_TAMPERED_I_S -> {
                assertNotNull(o.failure(), "a record with a tampered I_S was accepted");
                assertTrue(o.failure().getMessage().contains("I_S differs"), o.failure().getMessage());
            }
            default -> { }
        }
    }

    // ---------------------------------------------------------------- per-tracker bounds

    @Test
    void aStreamThatGoesOnWhileItsRecordNeverComesEndsAtThePendingLimit() {
        for (Seed seed : seeds) {
            for (boolean client : new boolean[] {true, false}) {
                // Both directions up to their NEWKEYS, then one keeps sending: nothing can decrypt it.
                int enc0 = seed.encryptedFrom()[0];
                int enc1 = seed.encryptedFrom()[1];
                TrackerReplay r = new TrackerReplay(List.of(), Delivery.NEVER, SshSessionTracker.Limits.DEFAULT);
                byte[] c2s = Arrays.copyOf(seed.session().c2s(), enc0);
                byte[] s2c = Arrays.copyOf(seed.session().s2c(), enc1);
                Outcome start = r.replay(c2s, s2c, seed.session(), new Random(2));
                assertTrue(start.clean(), () -> seed.name() + ": " + start.failure());
                assertTrue(start.unrecoverableReason().contains("initial key exchange"), start.unrecoverableReason());
                byte[] chunk = new byte[16 << 10];
                new Random(3).nextBytes(chunk);
                long fed = 0;
                while (r.feed(client, chunk, 0, chunk.length)) {
                    fed += chunk.length;
                    assertTrue(fed <= 2L * SshSessionTracker.Limits.DEFAULT.maxPendingBytes(), "no limit on pending bytes");
                }
                Outcome end = r.finish();
                assertNull(end.bug());
                assertTrue(end.failure().getMessage().contains("KEX record #0 has not arrived"), end.failure().getMessage());
                assertTrue(end.failure().getMessage().contains("limit " + SshSessionTracker.Limits.DEFAULT.maxPendingBytes()),
                        end.failure().getMessage());
                assertTrue(fed <= SshSessionTracker.Limits.DEFAULT.maxPendingBytes());
            }
        }
    }

    @Test
    void idleTrackerFootprintIsMeasured() throws Exception {
        for (Seed seed : seeds) {
            System.out.printf("fuzz: %s: %s%n", seed.name(), IdleSessionFootprint.measure(seed.session(), 1000));
        }
    }

    // ---------------------------------------------------------------- seeds

    static Seed analyse(String name, RecordedSession s) {
        Outcome o = TrackerReplay.replay(s, Delivery.SYNC, new Random(1));
        assertTrue(o.clean(), () -> name + ": the recorded session does not replay: " + o.failure() + " " + o.bug());
        int[] encryptedFrom = new int[2];
        List<List<Integer>> lengthFields = new ArrayList<>();
        for (int d = 0; d < 2; d++) {
            List<Integer> fields = new ArrayList<>();
            encryptedFrom[d] = plaintextPackets(d == 0 ? s.c2s() : s.s2c(), fields);
            lengthFields.add(fields);
        }
        return new Seed(name, s, TrackerReplay.describe(o.model(), false, false), encryptedFrom, lengthFields, packetEnds(s));
    }

    /** Offsets of the plaintext packets' length fields; returns the offset just past NEWKEYS. */
    private static int plaintextPackets(byte[] s, List<Integer> lengthFields) {
        int i = 0;
        while (!(s[i] == 'S' && s[i + 1] == 'S' && s[i + 2] == 'H' && s[i + 3] == '-')) {
            while (s[i++] != '\n') { /* a line before the identification */ }
        }
        while (s[i++] != '\n') { /* the identification line */ }
        while (true) {
            lengthFields.add(i);
            int length = new ByteArrayBuffer(s, i, 4).getInt();
            int cmd = s[i + 5] & 0xff;
            i += 4 + length;
            if (cmd == SshConstants.SSH_MSG_NEWKEYS) {
                return i;
            }
        }
    }

    /**
     * For each direction, where its n-th packet ends ({@code ends[n]}, {@code ends[0]} = 0), found by feeding
     * the recording one byte at a time in its causal order.
     */
    private static List<long[]> packetEnds(RecordedSession s) {
        TrackerReplay r = new TrackerReplay(s.records(), Delivery.SYNC, SshSessionTracker.Limits.DEFAULT);
        List<List<Long>> ends = List.of(new ArrayList<>(List.of(0L)), new ArrayList<>(List.of(0L)));
        long[] offsets = new long[2];
        for (int turn : s.tapOrder()) {
            boolean client = turn > 0;
            byte[] stream = client ? s.c2s() : s.s2c();
            int d = client ? 0 : 1;
            for (int n = Math.abs(turn); n > 0; n--) {
                assertTrue(r.feed(client, stream, (int) offsets[d], 1));
                offsets[d]++;
                SshSessionModel m = r.tracker.resumeState();
                long packets = (client ? m.clientToServer() : m.serverToClient()).packets();
                while (ends.get(d).size() <= packets) {
                    ends.get(d).add(offsets[d]);
                }
            }
        }
        return ends.stream().map(l -> l.stream().mapToLong(Long::longValue).toArray()).toList();
    }

    // ---------------------------------------------------------------- helpers

    /** Which part of the plaintext phase offset {@code p} is in: the version line, or a packet's field. */
    static String plainRegion(Seed seed, boolean client, int p) {
        byte[] s = seed.stream(client);
        String dir = client ? "c2s" : "s2c";
        List<Integer> starts = seed.lengthFields().get(client ? 0 : 1);
        if (p < starts.get(0)) {
            return dir + " identification line";
        }
        int i = starts.get(0);
        for (int start : starts) {
            if (p >= start) {
                i = start;
            }
        }
        int length = new ByteArrayBuffer(s, i, 4).getInt();
        int padding = s[i + 4] & 0xff;
        int cmd = s[i + 5] & 0xff;
        int payloadEnd = i + 4 + length - padding;
        String field = p < i + 4 ? "length" : p == i + 4 ? "padding length" : p < payloadEnd ? "payload" : "padding";
        return dir + " message " + cmd + " " + field;
    }

    private static Kind pick(Random rnd) {
        int total = Arrays.stream(Kind.values()).mapToInt(k -> k.weight).sum();
        int x = rnd.nextInt(total);
        for (Kind k : Kind.values()) {
            x -= k.weight;
            if (x < 0) {
                return k;
            }
        }
        throw new IllegalStateException();
    }

    private static void flip(byte[] b, int p, Random rnd) {
        b[p] ^= (byte) (1 << rnd.nextInt(8));
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /** {@code s} with {@code [from, to)} replaced by {@code insert}. */
    private static byte[] splice(byte[] s, int from, int to, byte[] insert) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length + insert.length);
        out.write(s, 0, from);
        out.write(insert, 0, insert.length);
        out.write(s, to, s.length - to);
        return out.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        return splice(a, a.length, a.length, b);
    }

    private static Case withStream(Kind kind, Seed seed, boolean client, byte[] m, byte[] c2s, byte[] s2c,
                                   List<KexRecord> records, Delivery delivery, SshSessionTracker.Limits limits, String what) {
        return new Case(kind, seed, client ? m : c2s, client ? s2c : m, records, delivery, limits, what, null, -1);
    }

    /** Another session's record, under the ordinal asked for. */
    private static KexRecord relabel(KexRecord r, int ordinal) {
        return new KexRecord(r.primaryId(), r.client(), r.server(), ordinal, r.kexName(), r.hashAlgorithm(),
                r.clientVersion(), r.serverVersion(), r.clientKexInit(), r.serverKexInit(), r.clientKexMessages(),
                r.serverKexMessages(), r.sharedSecret(), r.sharedSecretEncoding(), r.exchangeHash(), r.sessionId(),
                r.strictKex());
    }
}
