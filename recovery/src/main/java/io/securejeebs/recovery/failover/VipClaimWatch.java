package io.securejeebs.recovery.failover;

import io.securejeebs.config.Ipv4Prefix;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.NetworkInterface;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.pcap4j.core.BpfProgram;
import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.PcapNetworkInterface.PromiscuousMode;
import org.pcap4j.util.MacAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * After a takeover, watches the subnet for ARP from another MAC address claiming the VIP: the old primary's host
 * brought back up by hand with its VIP, or any host misconfigured with it. Two hosts answering for the VIP split
 * the clients between them (split-brain): this host keeps the VIP and its sessions, and says so loudly, once a
 * minute per claiming MAC, in the log and through {@code onClaim} (the failover report, hence
 * {@code securejeebs status}).
 */
public final class VipClaimWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VipClaimWatch.class);
    private static final long REPEAT_MILLIS = 60_000;

    private final Ipv4Prefix vip;
    private final String interfaceName;
    private final Consumer<String> onClaim;
    private final Map<String, Long> lastLogged = new LinkedHashMap<>();
    private volatile boolean running = true;
    private PcapHandle handle;
    private Thread thread;

    /** @param onClaim told "MAC at TIME" for each claim it logs */
    public VipClaimWatch(Ipv4Prefix vip, String interfaceName, Consumer<String> onClaim) {
        this.vip = vip;
        this.interfaceName = interfaceName;
        this.onClaim = onClaim;
    }

    /** Opens the capture (ARP whose sender address is the VIP) and starts watching on a thread of its own. */
    public VipClaimWatch start() throws IOException {
        NetworkInterface nif = NetworkInterface.getByName(interfaceName);
        if (nif == null || nif.getHardwareAddress() == null) {
            throw new IOException("service interface " + interfaceName + " does not exist or has no hardware address");
        }
        byte[] ours = nif.getHardwareAddress();
        try {
            handle = new PcapHandle.Builder(interfaceName).snaplen(128)
                    .promiscuousMode(PromiscuousMode.PROMISCUOUS).timeoutMillis(100).build();
            // ARP (Ethernet/IPv4) whose sender protocol address, at offset 14 of the ARP header, is the VIP
            handle.setFilter("arp and arp[14:4] = 0x" + HexFormat.of().formatHex(((Inet4Address) vip.address()).getAddress()),
                    BpfProgram.BpfCompileMode.OPTIMIZE);
        } catch (PcapNativeException | NotOpenException e) {
            if (handle != null) {
                handle.close();
            }
            throw new IOException("cannot watch " + interfaceName + " for ARP claiming the VIP: " + e.getMessage(), e);
        }
        thread = new Thread(() -> watch(ours), "sj-vip-watch");
        thread.setDaemon(true);
        thread.start();
        log.info("watching {} for another host claiming the VIP {}", interfaceName, vip.address().getHostAddress());
        return this;
    }

    private void watch(byte[] ours) {
        while (running) {
            byte[] frame;
            try {
                frame = handle.getNextRawPacket();
            } catch (NotOpenException e) {
                return;
            }
            if (frame == null || frame.length < 14 + 28) {
                continue;
            }
            byte[] sender = Arrays.copyOfRange(frame, 14 + 8, 14 + 14); // ARP sender hardware address
            if (!Arrays.equals(sender, ours)) {
                claimed(MacAddress.getByAddress(sender).toString(), (frame[14 + 7] & 0xff) == 2 ? "reply" : "request");
            }
        }
    }

    private void claimed(String mac, String kind) {
        long now = System.currentTimeMillis();
        Long last = lastLogged.get(mac);
        if (last != null && now - last < REPEAT_MILLIS) {
            return;
        }
        lastLogged.put(mac, now);
        log.error("VIP {} is CLAIMED by another host: ARP {} from MAC {} on {}. Two hosts answer for the VIP"
                        + " (split-brain): clients may reach either. This host keeps the VIP and its sessions; take the"
                        + " VIP off the other host (or fence it).", vip.address().getHostAddress(), kind, mac,
                interfaceName);
        onClaim.accept(mac + " at " + Instant.ofEpochMilli(now));
    }

    @Override
    public void close() {
        running = false;
        if (handle != null) {
            try {
                handle.breakLoop();
            } catch (NotOpenException ignored) {
                // already closed
            }
            if (thread != null) {
                try {
                    thread.join(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            handle.close();
        }
    }
}
