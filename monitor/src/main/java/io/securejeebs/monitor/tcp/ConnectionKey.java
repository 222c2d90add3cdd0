package io.securejeebs.monitor.tcp;

/** A TCP connection to a watched server endpoint, named by its 4-tuple with the client first. */
public record ConnectionKey(Endpoint client, Endpoint server) {
    @Override
    public String toString() {
        return client + "->" + server;
    }

    /**
     * The inverse of {@link #toString()}: {@code 10.213.0.10:40022->10.213.0.100:22}.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static ConnectionKey parse(String text) {
        int arrow = text.indexOf("->");
        if (arrow < 0) {
            throw new IllegalArgumentException("not a connection key (client->server): '" + text + "'");
        }
        return new ConnectionKey(endpoint(text.substring(0, arrow)), endpoint(text.substring(arrow + 2)));
    }

    private static Endpoint endpoint(String text) {
        int colon = text.lastIndexOf(':');
        String[] octets = colon < 0 ? new String[0] : text.substring(0, colon).split("\\.", -1);
        if (octets.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address:port: '" + text + "'");
        }
        try {
            byte[] b = new byte[4];
            for (int i = 0; i < 4; i++) {
                int v = Integer.parseInt(octets[i]);
                if (v < 0 || v > 255 || !octets[i].equals(Integer.toString(v))) {
                    throw new NumberFormatException(octets[i]);
                }
                b[i] = (byte) v;
            }
            int port = Integer.parseInt(text.substring(colon + 1));
            return new Endpoint(Endpoint.ipv4(b), port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an IPv4 address:port: '" + text + "'");
        }
    }
}
