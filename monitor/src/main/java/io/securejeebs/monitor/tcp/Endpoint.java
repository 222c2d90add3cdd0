package io.securejeebs.monitor.tcp;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** An IPv4 address and TCP port, held as plain ints so the capture path allocates nothing to compare them. */
public record Endpoint(int address, int port) {

    public Endpoint {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
    }

    public static Endpoint of(InetSocketAddress a) {
        byte[] b = a.getAddress().getAddress();
        if (b.length != 4) {
            throw new IllegalArgumentException("only IPv4 is supported: " + a);
        }
        return new Endpoint(ipv4(b), a.getPort());
    }

    public static int ipv4(byte[] b) {
        return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    public static String ipv4String(int a) {
        return (a >>> 24) + "." + ((a >>> 16) & 0xff) + "." + ((a >>> 8) & 0xff) + "." + (a & 0xff);
    }

    public InetSocketAddress toSocketAddress() {
        try {
            byte[] b = {(byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address};
            return new InetSocketAddress(InetAddress.getByAddress(b), port);
        } catch (UnknownHostException e) {
            throw new AssertionError("a 4-byte address is always valid", e);
        }
    }

    @Override
    public String toString() {
        return ipv4String(address) + ":" + port;
    }
}
