package io.securejeebs.cpr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.securejeebs.cpr.ReplayEnd.ChannelState;
import io.securejeebs.cpr.ReplayEnd.Direction;
import io.securejeebs.cpr.ReplayEnd.TcpHandover;
import io.securejeebs.kernel.TcpOptions;
import io.securejeebs.kernel.TcpRepair.RepairExit;
import io.securejeebs.kernel.TcpState;
import io.securejeebs.keyexport.kex.CipherPosition;
import io.securejeebs.keyexport.kex.SessionKeys.DirectionKeys;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ReplayEndTest {
    private static ReplayEnd sample(boolean tcp) throws Exception {
        DirectionKeys in = SshPacketEncoderTest.keys("aes128-ctr", "hmac-sha2-256-etm@openssh.com");
        DirectionKeys out = SshPacketEncoderTest.keys("chacha20-poly1305@openssh.com", null);
        List<ChannelState> channels = List.of(
                new ChannelState(0, 0, 2_097_152, 32_768, 1_048_000, 32_768, 0),
                new ChannelState(1, 7, 0, 32_768, 0xffff_ffffL, 16_384,
                        ChannelState.EOF_FROM_CLIENT | ChannelState.CLOSE_FROM_SERVER));
        TcpHandover handover = null;
        if (tcp) {
            byte[] sendQueue = new byte[3000];
            byte[] recvQueue = new byte[17];
            new Random(3).nextBytes(sendQueue);
            new Random(4).nextBytes(recvQueue);
            TcpState state = new TcpState(
                    new InetSocketAddress(InetAddress.getByName("10.213.0.100"), 22),
                    new InetSocketAddress(InetAddress.getByName("10.213.1.5"), 40112),
                    0xfffff000, sendQueue, 0x7fff_fff0, recvQueue,
                    new TcpOptions(1448, true, true, 7, 9, true), 0x8000_0002, 64_256, 65_535);
            handover = new TcpHandover(state, RepairExit.WINDOW_PROBE);
        }
        return new ReplayEnd(new Direction(in, new CipherPosition(17, 4242)),
                new Direction(out, new CipherPosition(0xffff_ffffL, 99)), channels, handover,
                "last command: make test\nüñí");
    }

    @Test
    void aServerKexInitSentRoundTripsAndNothingElseIsTaken() throws Exception {
        ReplayEnd s = sample(true);
        byte[] kexInit = new byte[300];
        kexInit[0] = 20;
        kexInit[17] = 42;
        ReplayEnd e = new ReplayEnd(s.inbound(), s.outbound(), s.channels(), s.tcp(), s.noticeExtra(), kexInit);
        ReplayEnd d = ReplayEnd.decode(e.encode());
        assertArrayEquals(kexInit, d.serverKexInit());
        assertEquals(0, ReplayEnd.decode(s.encode()).serverKexInit().length, "none when no rekey is under way");
        byte[] notKexInit = kexInit.clone();
        notKexInit[0] = 21;
        ReplayEnd bad = new ReplayEnd(s.inbound(), s.outbound(), s.channels(), s.tcp(), s.noticeExtra(), notKexInit);
        ReplayEndFormatException ex = assertThrows(ReplayEndFormatException.class, () -> ReplayEnd.decode(bad.encode()));
        assertTrue(ex.getMessage().contains("not KEXINIT"), ex.getMessage());
    }

    @Test
    void roundTripWithTcp() throws Exception {
        ReplayEnd e = sample(true);
        byte[] wire = e.encode();
        assertEquals(200, wire[0] & 0xff);
        ReplayEnd d = ReplayEnd.decode(wire);
        assertArrayEquals(wire, d.encode(), "decode then encode gives the same bytes");
        assertEquals(e.channels(), d.channels());
        assertEquals(e.tcp(), d.tcp());
        assertEquals(e.noticeExtra(), d.noticeExtra());
        assertEquals(e.inbound().position(), d.inbound().position());
        assertEquals(e.outbound().position(), d.outbound().position());
        assertArrayEquals(e.inbound().keys().key(), d.inbound().keys().key());
        assertArrayEquals(e.inbound().keys().iv(), d.inbound().keys().iv());
        assertArrayEquals(e.inbound().keys().macKey(), d.inbound().keys().macKey());
        assertEquals("hmac-sha2-256-etm@openssh.com", d.inbound().keys().mac());
        assertNull(d.outbound().keys().mac(), "AEAD: no MAC");
        assertNull(d.outbound().keys().macKey());
        assertEquals(RepairExit.WINDOW_PROBE, d.tcp().exit());
        assertEquals(0xfffff000, d.tcp().state().sendQueueSeq());
        assertEquals(0x8000_0002, d.tcp().state().timestamp());
    }

    @Test
    void roundTripWithManyChannelsAndNothingElse() throws Exception {
        ReplayEnd s = sample(false);
        List<ChannelState> many = new java.util.ArrayList<>();
        for (int i = 0; i < 50; i++) {
            many.add(new ChannelState(i, 100 + i, i * 1000L, 32_768, 0xffff_ffffL - i, 65_536, i % 16));
        }
        ReplayEnd e = new ReplayEnd(s.inbound(), s.outbound(), many, null, "");
        assertEquals(many, ReplayEnd.decode(e.encode()).channels());
    }

    @Test
    void roundTripWithoutTcp() throws Exception {
        ReplayEnd e = sample(false);
        ReplayEnd d = ReplayEnd.decode(e.encode());
        assertFalse(d.hasTcp());
        assertArrayEquals(e.encode(), d.encode());
    }

    @Test
    void toStringShowsNoKeysAndNoPayload() throws Exception {
        ReplayEnd e = sample(true);
        String s = e.toString();
        HexFormat hex = HexFormat.of();
        for (byte[] secret : List.of(e.inbound().keys().key(), e.inbound().keys().iv(), e.inbound().keys().macKey(),
                e.outbound().keys().key())) {
            assertFalse(s.toLowerCase().contains(hex.formatHex(secret, 0, 6)), s);
            assertFalse(s.contains(Arrays.toString(Arrays.copyOf(secret, 3)).replace("]", "")), s);
        }
        assertFalse(s.contains("make test"), "the notice text is the user's commands: " + s);
        assertTrue(s.contains("aes128-ctr") && s.contains("3000 bytes"), s);
    }

    @Test
    void everyTruncationIsRefusedWithTheFieldItStoppedAt() throws Exception {
        byte[] wire = sample(true).encode();
        for (int len = 0; len < wire.length; len++) {
            byte[] cut = Arrays.copyOf(wire, len);
            ReplayEndFormatException ex = assertThrows(ReplayEndFormatException.class, () -> ReplayEnd.decode(cut),
                    "truncated to " + len);
            assertTrue(ex.getMessage().contains("truncated") || ex.getMessage().contains("does not fit"),
                    len + ": " + ex.getMessage());
        }
        ReplayEndFormatException ex = assertThrows(ReplayEndFormatException.class,
                () -> ReplayEnd.decode(Arrays.copyOf(wire, 30)));
        assertTrue(ex.getMessage().contains("inbound."), ex.getMessage());
    }

    @Test
    void garbageIsRefusedWithAReason() throws Exception {
        byte[] wire = sample(true).encode();
        assertMessage(new byte[] {94, 0, 0, 0, 1}, "not a REPLAY_END");
        byte[] v3 = wire.clone();
        v3[4] = 3;
        assertMessage(v3, "format version 3");
        byte[] trailing = Arrays.copyOf(wire, wire.length + 3);
        assertMessage(trailing, "3 unexpected bytes");
        // a huge channel count is refused, not allocated
        ReplayEnd noChannels = new ReplayEnd(sample(false).inbound(), sample(false).outbound(), List.of(), null, "");
        byte[] w = noChannels.encode();
        int countAt = w.length - 1 - 4 - 4 - 4; // ... uint32 count, boolean hasTcp, string "", string "" (uint32 0 each)
        w[countAt] = (byte) 0x7f;
        assertMessage(w, "channel count");
        Random r = new Random(5);
        for (int i = 0; i < 2000; i++) {
            byte[] g = new byte[r.nextInt(400)];
            r.nextBytes(g);
            if (g.length > 0) {
                g[0] = (byte) 200;
            }
            try {
                ReplayEnd.decode(g);
            } catch (ReplayEndFormatException expected) {
                assertFalse(expected.getMessage().isEmpty());
            }
        }
        // flipped bytes in a valid payload: refused with a reason or decoded, never another exception
        for (int i = 0; i < wire.length; i++) {
            byte[] f = wire.clone();
            f[i] ^= (byte) 0xff;
            try {
                ReplayEnd.decode(f);
            } catch (ReplayEndFormatException expected) {
                assertFalse(expected.getMessage().isEmpty());
            }
        }
    }

    @Test
    void aHostNameIsNeverLookedUp() throws Exception {
        ReplayEnd e = sample(true);
        byte[] wire = e.encode();
        String hexWire = HexFormat.of().formatHex(wire);
        String ip = HexFormat.of().formatHex("10.213.0.100".getBytes());
        String name = HexFormat.of().formatHex("example.invalid".getBytes());
        String lengthBefore = "0000000c";
        String lengthAfter = String.format("%08x", "example.invalid".length());
        byte[] bad = HexFormat.of().parseHex(hexWire.replace(lengthBefore + ip, lengthAfter + name));
        assertMessage(bad, "is not an IP address");
        byte[] octet = HexFormat.of().parseHex(hexWire.replace(ip, HexFormat.of().formatHex("10.213.0.999".getBytes())));
        assertMessage(octet, "is not an IPv4 address");
    }

    private static void assertMessage(byte[] payload, String expected) {
        ReplayEndFormatException ex = assertThrows(ReplayEndFormatException.class, () -> ReplayEnd.decode(payload));
        assertTrue(ex.getMessage().contains(expected), "expected '" + expected + "' in: " + ex.getMessage());
    }
}
