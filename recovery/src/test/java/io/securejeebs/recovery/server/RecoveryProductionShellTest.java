package io.securejeebs.recovery.server;

import static io.securejeebs.recovery.server.TestClients.WAIT;
import static io.securejeebs.recovery.server.TestClients.quiet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.RecoveryOutcome;
import io.securejeebs.cpr.RecoveryTicket;
import io.securejeebs.cpr.SshPacketEncoder;
import io.securejeebs.keyexport.KexRecord;
import io.securejeebs.recovery.server.TestClients.Original;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recovery server exactly as production sets it up (no test logins, no test shell): the replayed
 * publickey login is checked against the user's real ~/.ssh/authorized_keys, and after REPLAY_END the user's
 * own login shell is started as the user (runuser) on a new pty with the terminal the client asked for.
 */
class RecoveryProductionShellTest {
    @TempDir
    Path dir;

    @Test
    void theUsersOwnLoginShellIsStartedAsTheUserOnTheRecordedTerminal() throws Exception {
        try (RecoveryFixture fx = new RecoveryFixture(dir);
             LocalUser user = new LocalUser(fx.clientKey.getPublic())) {
            InetSocketAddress loopback0 = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            try (RecoveryServer production = new RecoveryServer(
                    new RecoveryServer.Settings(fx.config, loopback0, loopback0, fx.preambleKey))) {
                production.start();
                Recorded r;
                try (Original o = new Original(fx, user.name, "curve25519-sha256", "chacha20-poly1305@openssh.com", null,
                        false, s -> { })) {
                    o.type("before-1\n", 1);
                    quiet(o.relay);
                    List<KexRecord> records = fx.records();
                    assertEquals(1, records.size());
                    r = new Recorded(records.get(0), o.relay.clientToServer(), o.relay.serverToClient());
                }
                CompletableFuture<RecoveryOutcome> outcome = production.expect(new RecoveryTicket(r.record, null, user.name));
                try (CprConnection cpr = new CprConnection(production.recoveryAddress())) {
                    cpr.replay.keys(r.keys.serverToClient(), r.record.strictKex());
                    cpr.replay(production.preamble(r.record.sessionId()), r.c2s, r.shellRequest, Map.of());
                    assertTrue(cpr.replay.packets().stream().anyMatch(p -> p.encrypted() && p.type() == 52),
                            "the replayed signature verified against " + user.name + "'s authorized_keys");
                    cpr.awaitServerPacket(0, p -> p.encrypted() && p.type() == 99, "CHANNEL_SUCCESS for the shell");
                    cpr.switchServerStream(r.keys.serverToClient(), r.s2c.position());
                    cpr.sendReplayEnd(r.replayEnd(null, ""), r.keys.clientToServer(),
                            Recorded.positionAfter(r.c2s, r.shellRequest));
                    RecoveryOutcome done = outcome.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertEquals(1, done.shellsStarted());
                    assertEquals(user.name, done.user());

                    cpr.awaitData("previous shell state was lost");
                    SshPacketEncoder client = new SshPacketEncoder(r.keys.clientToServer(), r.c2s.position());
                    cpr.write(client.encode(Recorded.channelData(r.serverChannel(),
                            "echo \"T=$TERM U=$(id -un) S=$(stty size) L=$LANG\"\r")));
                    String shown = cpr.awaitData("T=xterm-256color U=" + user.name + " S=33 101 L=C.UTF-8");
                    assertTrue(shown.startsWith("\r\n[securejeebs] session recovered after a server failure at "), shown);
                    cpr.write(client.encode(Recorded.channelData(r.serverChannel(), "exit\r")));
                    cpr.awaitMessage(97); // the shell ends, the channel closes
                }
            }
        }
    }
}
