package io.securejeebs.monitor.tcp;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Builds Ethernet/IPv4/TCP frames byte by byte, as they appear on the wire, for feeding the decoder. */
final class Frames {
    static final int CLIENT = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 10});
    static final int VIP = Endpoint.ipv4(new byte[] {10, (byte) 213, 0, 100});
    static final int CLIENT_PORT = 40000;
    static final int SERVICE_PORT = 7000;

    int srcAddr = CLIENT;
    int dstAddr = VIP;
    int srcPort = CLIENT_PORT;
    int dstPort = SERVICE_PORT;
    int seq;
    int ack;
    int flags = TcpSegment.ACK;
    int window = 502;
    int mss = -1;
    int wscale = -1;
    boolean sackPermitted;
    Integer tsVal;
    int tsEcr;
    byte[] payload = new byte[0];
    int claimExtraPayload; // IP total length larger than what the frame carries (snaplen cut)

    static Frames fromClient() {
        return new Frames();
    }

    static Frames fromServer() {
        Frames f = new Frames();
        f.srcAddr = VIP;
        f.dstAddr = CLIENT;
        f.srcPort = SERVICE_PORT;
        f.dstPort = CLIENT_PORT;
        return f;
    }

    Frames seq(int v) { seq = v; return this; }
    Frames ack(int v) { ack = v; return this; }
    Frames flags(int v) { flags = v; return this; }
    Frames window(int v) { window = v; return this; }
    Frames mss(int v) { mss = v; return this; }
    Frames wscale(int v) { wscale = v; return this; }
    Frames sack() { sackPermitted = true; return this; }
    Frames ts(int val, int ecr) { tsVal = val; tsEcr = ecr; return this; }
    Frames payload(String s) { payload = s.getBytes(StandardCharsets.US_ASCII); return this; }
    Frames payload(byte[] b) { payload = b; return this; }
    Frames truncatedBy(int n) { claimExtraPayload = n; return this; }

    byte[] build() {
        ByteArrayOutputStream opts = new ByteArrayOutputStream();
        if (mss >= 0) {
            opts.write(2); opts.write(4); opts.write(mss >> 8); opts.write(mss);
        }
        if (sackPermitted) {
            opts.write(4); opts.write(2);
        }
        if (tsVal != null) {
            opts.write(8); opts.write(10);
            put32(opts, tsVal);
            put32(opts, tsEcr);
        }
        if (wscale >= 0) {
            opts.write(1); opts.write(3); opts.write(3); opts.write(wscale);
        }
        while (opts.size() % 4 != 0) {
            opts.write(0);
        }
        byte[] o = opts.toByteArray();
        int tcpLen = 20 + o.length;
        int ipTotal = 20 + tcpLen + payload.length + claimExtraPayload;
        ByteArrayOutputStream f = new ByteArrayOutputStream();
        f.writeBytes(new byte[] {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00});
        f.write(0x45); f.write(0);
        f.write(ipTotal >> 8); f.write(ipTotal);
        f.write(0); f.write(1); f.write(0x40); f.write(0); // id, DF
        f.write(64); f.write(6); f.write(0); f.write(0);
        put32(f, srcAddr);
        put32(f, dstAddr);
        f.write(srcPort >> 8); f.write(srcPort);
        f.write(dstPort >> 8); f.write(dstPort);
        put32(f, seq);
        put32(f, ack);
        f.write((tcpLen / 4) << 4);
        f.write(flags);
        f.write(window >> 8); f.write(window);
        f.write(0); f.write(0); f.write(0); f.write(0);
        f.writeBytes(o);
        f.writeBytes(payload);
        return f.toByteArray();
    }

    private static void put32(ByteArrayOutputStream o, int v) {
        o.write(v >>> 24); o.write(v >>> 16); o.write(v >>> 8); o.write(v);
    }
}
