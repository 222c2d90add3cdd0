package io.securejeebs.config;

import java.net.InetAddress;

/** An IPv4 address with its prefix length, as {@code ip addr add} takes it. */
public record Ipv4Prefix(InetAddress address, int prefixLength) {
    @Override
    public String toString() {
        return address.getHostAddress() + "/" + prefixLength;
    }
}
