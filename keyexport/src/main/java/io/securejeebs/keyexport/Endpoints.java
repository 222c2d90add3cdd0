package io.securejeebs.keyexport;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/**
 * One text form for addresses and endpoints, shared by everything that writes or looks them up: the
 * {@code kex_record} address columns, log lines and messages. IPv4 is dotted decimal; IPv6 is RFC 5952
 * (lowercase, no leading zeros, the longest run of two or more zero groups as {@code ::}, no scope id).
 */
public final class Endpoints {
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Pattern IPV6 = Pattern.compile("[0-9a-f:]*:[0-9a-f:]*");

    private Endpoints() {
    }

    /** The address as the database stores it, e.g. {@code 10.213.0.10} or {@code 2001:db8::10}. */
    public static String addressText(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address.getHostAddress();
        }
        byte[] a = address.getAddress();
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((a[2 * i] & 0xff) << 8) | (a[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLength = 1; // a single zero group is not shortened (RFC 5952 §4.2.2)
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        StringBuilder text = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                text.append("::");
                i += bestLength - 1;
                continue;
            }
            if (text.length() > 0 && text.charAt(text.length() - 1) != ':') {
                text.append(':');
            }
            text.append(Integer.toHexString(groups[i]));
        }
        return text.toString();
    }

    /**
     * Reads back what {@link #addressText} writes, and nothing else: no host names (so never a DNS
     * lookup), no non-canonical spellings.
     *
     * @throws IllegalArgumentException naming the text when it is not a canonical address
     */
    public static InetAddress parseAddressText(String text) {
        InetAddress address = null;
        try {
            if (IPV4.matcher(text).matches()) {
                String[] parts = text.split("\\.");
                byte[] raw = new byte[4];
                for (int i = 0; i < 4; i++) {
                    int octet = Integer.parseInt(parts[i]);
                    if (octet > 255) {
                        throw new IllegalArgumentException("'" + text + "' is not an IP address");
                    }
                    raw[i] = (byte) octet;
                }
                address = InetAddress.getByAddress(raw);
            } else if (IPV6.matcher(text).matches()) {
                address = InetAddress.getByName(text); // a literal with ':' is parsed, never looked up
            }
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + text + "' is not an IP address");
        }
        if (address == null || !addressText(address).equals(text)) {
            throw new IllegalArgumentException("'" + text + "' is not an IP address in canonical form");
        }
        return address;
    }

    /** {@code 10.213.0.10:40022} or {@code [2001:db8::10]:40022}. */
    public static String format(InetSocketAddress endpoint) {
        InetAddress address = endpoint.getAddress();
        if (address == null) {
            return endpoint.getHostString() + ":" + endpoint.getPort();
        }
        String text = addressText(address);
        return (address instanceof Inet6Address ? "[" + text + "]" : text) + ":" + endpoint.getPort();
    }

    /** {@code client->server}, the way logs show a connection. */
    public static String connection(InetSocketAddress client, InetSocketAddress server) {
        return format(client) + "->" + format(server);
    }
}
