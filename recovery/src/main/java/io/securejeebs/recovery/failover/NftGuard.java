package io.securejeebs.recovery.failover;

import io.securejeebs.monitor.tcp.ConnectionKey;
import io.securejeebs.monitor.tcp.Endpoint;
import java.io.IOException;
import java.util.Collection;
import java.util.List;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The nftables guard: while it holds a connection's 4-tuple, every inbound packet of that connection is
 * dropped before the TCP stack sees it. Once the VIP is on this host, a client segment that arrived
 * before its socket is restored would otherwise draw an RST and kill the connection (DESIGN §5.3).
 */
public final class NftGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NftGuard.class);
    private static final long TIMEOUT_MILLIS = 10_000;

    private final String table;
    private boolean installed;

    public NftGuard(String table) {
        this.table = table;
    }

    /**
     * Creates (or recreates) the guard table with its drop rule and an empty set, ahead of any failover,
     * so that guarding at failover time is one set update. An empty set drops nothing.
     */
    public void prepare() throws IOException {
        install(List.of());
    }

    /** Puts connections under the guard; creates the table first if {@link #prepare()} did not. */
    public void guard(Collection<ConnectionKey> connections) throws IOException {
        if (!installed) {
            install(connections);
            return;
        }
        if (!connections.isEmpty()) {
            HostCommand.run(List.of("nft", "-f", "-"), "add element inet " + table + " tracked { "
                    + elements(connections) + " }\n", TIMEOUT_MILLIS);
        }
        log.info("guard table inet {}: dropping inbound packets of {} connection(s)", table, connections.size());
    }

    private void install(Collection<ConnectionKey> connections) throws IOException {
        StringBuilder script = new StringBuilder()
                .append("add table inet ").append(table).append('\n')
                .append("delete table inet ").append(table).append('\n')
                .append("table inet ").append(table).append(" {\n")
                .append("  set tracked {\n")
                .append("    type ipv4_addr . inet_service . ipv4_addr . inet_service\n")
                .append("  }\n")
                .append("  chain guard {\n")
                .append("    type filter hook prerouting priority -300; policy accept;\n")
                .append("    ip saddr . tcp sport . ip daddr . tcp dport @tracked drop\n")
                .append("  }\n")
                .append("}\n");
        if (!connections.isEmpty()) {
            script.append("add element inet ").append(table).append(" tracked { ")
                    .append(elements(connections)).append(" }\n");
        }
        HostCommand.run(List.of("nft", "-f", "-"), script.toString(), TIMEOUT_MILLIS);
        installed = true;
        log.info("guard table inet {} installed, dropping inbound packets of {} connection(s)", table, connections.size());
    }

    /** Lets a connection's packets through again, once its socket exists. */
    public void release(ConnectionKey connection) throws IOException {
        HostCommand.run(List.of("nft", "-f", "-"), "delete element inet " + table + " tracked { "
                + elements(List.of(connection)) + " }\n", TIMEOUT_MILLIS);
    }

    /** The 4-tuples the guard holds now, as nft lists them. */
    public String list() throws IOException {
        return HostCommand.run(List.of("nft", "list", "set", "inet", table, "tracked"), null, TIMEOUT_MILLIS);
    }

    private static String elements(Collection<ConnectionKey> connections) {
        return connections.stream().map(NftGuard::element).collect(Collectors.joining(", "));
    }

    private static String element(ConnectionKey k) {
        Endpoint c = k.client();
        Endpoint s = k.server();
        return Endpoint.ipv4String(c.address()) + " . " + c.port() + " . " + Endpoint.ipv4String(s.address()) + " . " + s.port();
    }

    /** Removes the guard table entirely. */
    @Override
    public void close() {
        if (!installed) {
            return;
        }
        try {
            HostCommand.run(List.of("nft", "delete", "table", "inet", table), null, TIMEOUT_MILLIS);
            installed = false;
            log.info("guard table inet {} removed", table);
        } catch (IOException e) {
            log.warn("could not remove guard table inet {}: {}", table, e.getMessage());
        }
    }
}
