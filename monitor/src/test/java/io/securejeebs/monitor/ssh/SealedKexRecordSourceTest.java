package io.securejeebs.monitor.ssh;

import static io.securejeebs.keyexport.SampleRecords.assertSameRecord;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.keyexport.SampleRecords;
import io.securejeebs.keyexport.seal.RecordBinding;
import io.securejeebs.keyexport.seal.RecordOpener;
import io.securejeebs.keyexport.seal.RecordSealer;
import io.securejeebs.keyexport.store.KexRecordRepository;
import io.securejeebs.keyexport.store.KexRecordStore;
import io.securejeebs.keyexport.store.PrivateMariaDb;
import io.securejeebs.keyexport.store.PrivateMariaDb.Database;
import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.Endpoint;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.params.X25519PrivateKeyParameters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The live appliance's record source against a real private MariaDB ({@link PrivateMariaDb}, as {@code
 * sj_appliance}). The bounds are on query counts, which only a slower machine makes smaller: no timing thresholds.
 */
@ExtendWith(PrivateMariaDb.class)
class SealedKexRecordSourceTest {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final AtomicInteger NEXT_PORT = new AtomicInteger(21000 + RANDOM.nextInt(20000));
    private static final Duration DB_TIMEOUT = Duration.ofSeconds(3);

    private final X25519PrivateKeyParameters applianceKey = new X25519PrivateKeyParameters(RANDOM);
    private final Ed25519PrivateKeyParameters exportKey = new Ed25519PrivateKeyParameters(RANDOM);
    private final RecordSealer sealer = new RecordSealer(applianceKey.generatePublicKey(), exportKey);
    private final RecordOpener opener = new RecordOpener(applianceKey, exportKey.generatePublicKey());

    private static InetSocketAddress freshClient() {
        return SampleRecords.endpoint("10.213.0.11", NEXT_PORT.getAndIncrement());
    }

    private static ConnectionKey key(InetSocketAddress client) {
        return new ConnectionKey(Endpoint.of(client), Endpoint.of(SampleRecords.server()));
    }

    /** What one request came to. */
    private static final class Outcome implements KexRecordSource.Delivery {
        final CompletableFuture<Object> result = new CompletableFuture<>();

        @Override
        public void record(KexRecord record) {
            result.complete(record);
        }

        @Override
        public void failed(String reason) {
            result.complete(reason);
        }

        Object await() throws Exception {
            return result.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRecordThatNeverComesIsPolledWithAGrowingWait(Database db) throws Exception {
        // 5 ms doubling to 500 ms over 2 s: tries at about 0, 5, 15, 35, 75, 155, 315, 635, 1135, 1635 and 2000 ms.
        // The former fixed 5 ms poll made about 400 queries here.
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(DB_TIMEOUT));
             SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, SampleRecords.PRIMARY_ID,
                     Duration.ofSeconds(2), SealedKexRecordSource.Polling.DEFAULT, 2)) {
            Outcome o = new Outcome();
            source.request(key(freshClient()), 0, o);
            Object result = o.await();
            assertTrue(result instanceof String s && s.startsWith("not in the database after "), result.toString());
            assertTrue(source.queries() <= 12, source.queries() + " queries");
        }
    }

    @Test
    void allPollingTogetherStaysWithinTheGlobalBudgetAndAGenuineRecordStillArrives(Database db) throws Exception {
        // The genuine client has its own address: the fakes all come from 10.213.0.11.
        InetSocketAddress genuine = SampleRecords.endpoint("10.213.0.12", NEXT_PORT.getAndIncrement());
        KexRecord record = SampleRecords.rekey(RANDOM.nextLong(), 0, genuine, SampleRecords.server());
        // 5 queries a second, with a 1 ms backoff: only the budget holds 40 fake key exchanges back.
        SealedKexRecordSource.Polling tight = new SealedKexRecordSource.Polling(Duration.ofMillis(1),
                Duration.ofMillis(1), 5);
        try (KexRecordStore store = new KexRecordStore(db.primary(DB_TIMEOUT), sealer)) {
            store.export(record);
        }
        long t0 = System.nanoTime(); // before the source: its budget starts full when it is made
        try (KexRecordRepository repository = new KexRecordRepository(db.appliance(DB_TIMEOUT));
             SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, SampleRecords.PRIMARY_ID,
                     Duration.ofSeconds(2), tight, 4)) {
            List<Outcome> fakes = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                Outcome o = new Outcome();
                fakes.add(o);
                source.request(key(freshClient()), 0, o);
            }
            Outcome real = new Outcome();
            source.request(key(genuine), 0, real);
            Object got = real.await();
            assertTrue(got instanceof KexRecord, got.toString());
            assertSameRecord(record, (KexRecord) got);
            for (Outcome o : fakes) {
                assertTrue(o.await() instanceof String, "a fake key exchange gets no record");
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            // A burst of 5, then 5 a second: a slower machine only makes fewer.
            assertTrue(source.queries() <= 5 + Math.ceil(5 * seconds) + 1,
                    source.queries() + " queries in " + seconds + " s");
        }
    }

    @Test
    void anOldRecordOfTheSameConnectionStoredAgainDoesNotStandInTheWay(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        KexRecord right = SampleRecords.rekey(RANDOM.nextLong(), 0, client, SampleRecords.server());
        KexRecord old = SampleRecords.rekey(RANDOM.nextLong(), 0, client, SampleRecords.server());
        assertFalse(java.util.Arrays.equals(right.clientKexInit(), old.clientKexInit()), "two key exchanges");
        try (KexRecordStore store = new KexRecordStore(db.primary(DB_TIMEOUT), sealer);
             KexRecordRepository repository = new KexRecordRepository(db.appliance(DB_TIMEOUT));
             SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, SampleRecords.PRIMARY_ID,
                     Duration.ofSeconds(5), SealedKexRecordSource.Polling.DEFAULT, 1)) {
            store.export(right);
            store.export(old); // a genuine record of an earlier session on this 4-tuple, inserted again: the newest row
            Outcome o = new Outcome();
            source.request(key(client), 0, null, right.clientKexInit(), o);
            Object got = o.await();
            assertTrue(got instanceof KexRecord, got.toString());
            assertSameRecord(right, (KexRecord) got);
        }
    }

    @Test
    void aClosedSessionsRecordsAreDeletedAndAForgottenOnesAreKept(Database db) throws Exception {
        InetSocketAddress closing = freshClient();
        InetSocketAddress forgotten = freshClient();
        KexRecord closingRecord = SampleRecords.rekey(RANDOM.nextLong(), 0, closing, SampleRecords.server());
        KexRecord forgottenRecord = SampleRecords.rekey(RANDOM.nextLong(), 0, forgotten, SampleRecords.server());
        try (KexRecordStore store = new KexRecordStore(db.primary(DB_TIMEOUT), sealer);
             KexRecordRepository repository = new KexRecordRepository(db.appliance(DB_TIMEOUT));
             SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, SampleRecords.PRIMARY_ID,
                     Duration.ofSeconds(5), SealedKexRecordSource.Polling.DEFAULT, 1)) {
            store.export(closingRecord);
            store.export(forgottenRecord);
            for (InetSocketAddress c : List.of(closing, forgotten)) {
                Outcome o = new Outcome();
                source.request(key(c), 0, o);
                assertTrue(o.await() instanceof KexRecord);
            }
            byte[] closingDigest = RecordBinding.sessionIdDigest(closingRecord.sessionId());
            byte[] forgottenDigest = RecordBinding.sessionIdDigest(forgottenRecord.sessionId());
            assertEquals(1, repository.findBySessionIdDigest(closingDigest).size());

            source.connectionEnded(key(forgotten), false); // unrecoverable and silent: forgotten, not closed
            source.connectionEnded(key(closing), true);
            // One thread: the deletion of the closed session runs after whatever the forgotten one caused.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!repository.findBySessionIdDigest(closingDigest).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(List.of(), repository.findBySessionIdDigest(closingDigest), "the closed session's records");
            assertEquals(1, repository.findBySessionIdDigest(forgottenDigest).size(), "a forgotten session's stay");
        }
    }

    @Test
    void thePurgeDeletesThisPrimarysOldRecords(Database db) throws Exception {
        InetSocketAddress client = freshClient();
        KexRecord record = SampleRecords.rekey(RANDOM.nextLong(), 0, client, SampleRecords.server());
        try (KexRecordStore store = new KexRecordStore(db.primary(DB_TIMEOUT), sealer);
             KexRecordRepository repository = new KexRecordRepository(db.appliance(DB_TIMEOUT));
             SealedKexRecordSource source = new SealedKexRecordSource(repository, opener, "purge-nobody",
                     Duration.ofSeconds(5), SealedKexRecordSource.Polling.DEFAULT, 1)) {
            store.export(record);
            // Another primary id: primary-a's rows, however old, are not this source's to delete.
            assertEquals(0, source.purge(Duration.ZERO));
            assertEquals(1, repository.findBySessionIdDigest(RecordBinding.sessionIdDigest(record.sessionId())).size());
        }
    }
}
