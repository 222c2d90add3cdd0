package io.securejeebs.monitor.tcp;

import java.util.List;
import java.util.stream.Collectors;

/** The server side of the connections we protect: the VIPs and the service ports on them. */
public record WatchedServices(List<Integer> addresses, List<Integer> ports) {

    public WatchedServices {
        if (addresses.isEmpty() || ports.isEmpty()) {
            throw new IllegalArgumentException("at least one VIP and one port must be watched");
        }
        addresses = List.copyOf(addresses);
        ports = List.copyOf(ports);
    }

    public boolean isServer(int address, int port) {
        return ports.contains(port) && addresses.contains(address);
    }

    /** The capture filter: only TCP to or from a watched VIP and port reaches user space. */
    public String bpfFilter() {
        String hosts = addresses.stream().map(a -> "host " + Endpoint.ipv4String(a))
                .collect(Collectors.joining(" or "));
        String portExpr = ports.stream().map(p -> "port " + p).collect(Collectors.joining(" or "));
        return "tcp and (" + hosts + ") and (" + portExpr + ")";
    }
}
