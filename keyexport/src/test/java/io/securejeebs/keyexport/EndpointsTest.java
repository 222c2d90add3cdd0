package io.securejeebs.keyexport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class EndpointsTest {
    private static String text(String address) throws Exception {
        return Endpoints.addressText(InetAddress.getByName(address));
    }

    @Test
    void ipv4IsDottedDecimal() throws Exception {
        assertEquals("10.213.0.10", text("10.213.0.10"));
        assertEquals("10.213.0.10", text("::ffff:10.213.0.10"), "an IPv4-mapped address is the IPv4 address");
    }

    @Test
    void ipv6IsRfc5952() throws Exception {
        assertEquals("2001:db8::10", text("2001:0DB8:0:0:0:0:0:10"));
        assertEquals("::1", text("0:0:0:0:0:0:0:1"));
        assertEquals("::", text("::"));
        assertEquals("fe80::1", text("fe80::1%1"), "no scope id");
        assertEquals("2001:db8:0:1:1:1:1:1", text("2001:db8:0:1:1:1:1:1"), "a single zero group stays");
        assertEquals("2001:0:0:1::1", text("2001:0:0:1:0:0:0:1"), "the longest run is shortened");
        assertEquals("2001:db8::1:0:0:1", text("2001:db8:0:0:1:0:0:1"), "the first of equal runs is shortened");
        assertEquals("1::", text("1:0:0:0:0:0:0:0"));
    }

    @Test
    void parsingAcceptsExactlyTheCanonicalText() throws Exception {
        for (String text : new String[] {"10.213.0.10", "0.0.0.0", "255.255.255.255", "2001:db8::10", "::1", "::"}) {
            assertEquals(text, Endpoints.addressText(Endpoints.parseAddressText(text)));
        }
        for (String bad : new String[] {"010.213.0.10", "10.213.0", "256.1.1.1", "2001:DB8::10", "2001:db8:0:0:0:0:0:10",
                "::ffff:10.0.0.1", "localhost", "db.example", "", "1.2.3.4 ", "fe80::1%1"}) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Endpoints.parseAddressText(bad), bad);
        }
    }

    @Test
    void endpointsAndConnections() throws Exception {
        assertEquals("10.213.0.10:40022->[2001:db8::1]:22", Endpoints.connection(
                SampleRecords.endpoint("10.213.0.10", 40022), SampleRecords.endpoint("2001:db8::1", 22)));
    }
}
