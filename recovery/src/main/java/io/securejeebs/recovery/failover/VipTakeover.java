package io.securejeebs.recovery.failover;

import io.securejeebs.config.Ipv4Prefix;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.NetworkInterface;
import java.util.List;
import org.pcap4j.core.BpfProgram;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapNetworkInterface.PromiscuousMode;
import org.pcap4j.packet.ArpPacket;
import org.pcap4j.packet.EthernetPacket;
import org.pcap4j.packet.namednumber.ArpHardwareType;
import org.pcap4j.packet.namednumber.ArpOperation;
import org.pcap4j.packet.namednumber.EtherType;
import org.pcap4j.util.MacAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Moves the VIP onto this host: adds the address, then announces it with gratuitous ARP. */
public final class VipTakeover implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VipTakeover.class);

    private final Ipv4Prefix vip;
    private final String interfaceName;
    private MacAddress mac;
    private EthernetPacket announcement;
    private PcapHandle sender;
    private EthernetPacket probe;
    private PcapHandle listener;

    public VipTakeover(Ipv4Prefix vip, String interfaceName) {
        this.vip = vip;
        this.interfaceName = interfaceName;
    }

    public boolean isHeldHere() throws IOException {
        String out = HostCommand.run(List.of("ip", "-4", "-o", "addr", "show", "dev", interfaceName), null, 5000);
        for (String line : out.split("\n")) {
            String[] f = line.trim().split("\\s+");
            for (int i = 0; i + 1 < f.length; i++) {
                if (f[i].equals("inet") && f[i + 1].startsWith(vip.address().getHostAddress() + "/")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Adds the VIP to the service interface. */
    public void addAddress() throws IOException {
        if (isHeldHere()) {
            log.warn("VIP {} is already on {}", vip, interfaceName);
            return;
        }
        HostCommand.run(List.of("ip", "addr", "add", vip.toString(), "dev", interfaceName), null, 5000);
    }

    /**
     * Opens the sending handle and builds the gratuitous ARP frame ahead of any failover (opening a pcap
     * handle takes tens of milliseconds). Fails if the interface does not exist or has no MAC address.
     */
    public void prepare() throws IOException {
        NetworkInterface nif = NetworkInterface.getByName(interfaceName);
        if (nif == null || nif.getHardwareAddress() == null) {
            throw new IOException("service interface " + interfaceName + " does not exist or has no hardware address");
        }
        mac = MacAddress.getByAddress(nif.getHardwareAddress());
        Inet4Address address = (Inet4Address) vip.address();
        ArpPacket.Builder arp = new ArpPacket.Builder()
                .hardwareType(ArpHardwareType.ETHERNET)
                .protocolType(EtherType.IPV4)
                .hardwareAddrLength((byte) MacAddress.SIZE_IN_BYTES)
                .protocolAddrLength((byte) 4)
                .operation(ArpOperation.REQUEST)
                .srcHardwareAddr(mac)
                .srcProtocolAddr(address)
                .dstHardwareAddr(MacAddress.getByName("00:00:00:00:00:00"))
                .dstProtocolAddr(address);
        announcement = new EthernetPacket.Builder()
                .dstAddr(MacAddress.ETHER_BROADCAST_ADDRESS)
                .srcAddr(mac)
                .type(EtherType.ARP)
                .payloadBuilder(arp)
                .paddingAtBuild(true)
                .build();
        // RFC 5227 probe: who has the VIP? Sender address 0.0.0.0, so no neighbour learns anything from it.
        probe = new EthernetPacket.Builder()
                .dstAddr(MacAddress.ETHER_BROADCAST_ADDRESS)
                .srcAddr(mac)
                .type(EtherType.ARP)
                .payloadBuilder(arp.srcProtocolAddr((Inet4Address) java.net.InetAddress.getByAddress(new byte[4]))
                        .dstProtocolAddr(address))
                .paddingAtBuild(true)
                .build();
        try {
            sender = new PcapHandle.Builder(interfaceName).snaplen(128)
                    .promiscuousMode(PromiscuousMode.NONPROMISCUOUS).timeoutMillis(10).build();
            listener = new PcapHandle.Builder(interfaceName).snaplen(128)
                    .promiscuousMode(PromiscuousMode.NONPROMISCUOUS).timeoutMillis(5).build();
            listener.setFilter("arp and arp[6:2] = 2 and arp[14:4] = 0x"
                    + java.util.HexFormat.of().formatHex(address.getAddress()), BpfProgram.BpfCompileMode.OPTIMIZE);
            // polled: a blocking read on a TPACKET_V3 ring may wait for a whole block, far past the probe's wait
            listener.setBlockingMode(PcapHandle.BlockingMode.NONBLOCKING);
        } catch (PcapNativeException | NotOpenException e) {
            throw new IOException("cannot open " + interfaceName + " for ARP: " + e.getMessage(), e);
        }
        if (isHeldHere()) {
            log.warn("VIP {} is already on {} before any failover: is this host also the primary?", vip, interfaceName);
        }
    }

    /**
     * Broadcasts gratuitous ARP requests (sender = target = VIP, with this interface's MAC), so every
     * neighbour, the clients first, sends the VIP's frames here from now on.
     */
    public void announce(int count) throws IOException {
        if (sender == null) {
            prepare();
        }
        try {
            for (int i = 0; i < count; i++) {
                sender.sendPacket(announcement);
            }
        } catch (PcapNativeException | NotOpenException e) {
            throw new IOException("gratuitous ARP on " + interfaceName + " failed: " + e.getMessage(), e);
        }
        log.info("sent {} gratuitous ARP(s) for {} from {} on {}", count, vip.address().getHostAddress(), mac, interfaceName);
    }

    /**
     * Asks who holds the VIP (an ARP probe) and listens for a reply for up to {@code wait}: a reply means
     * some host still answers for it.
     */
    public boolean vipAnswers(java.time.Duration wait) throws IOException {
        if (sender == null) {
            prepare();
        }
        try {
            while (listener.getNextRawPacket() != null) {
                // drop replies that came before this probe
            }
            long deadline = System.nanoTime() + wait.toNanos();
            sender.sendPacket(probe);
            while (System.nanoTime() < deadline) {
                byte[] frame = listener.getNextRawPacket();
                if (frame == null) {
                    java.util.concurrent.locks.LockSupport.parkNanos(500_000);
                } else {
                    log.warn("ARP probe: {} is still answered by {}", vip.address().getHostAddress(),
                            MacAddress.getByAddress(java.util.Arrays.copyOfRange(frame, 22, 28)));
                    return true;
                }
            }
            return false;
        } catch (PcapNativeException | NotOpenException e) {
            throw new IOException("ARP probe on " + interfaceName + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (listener != null) {
            listener.close();
            listener = null;
        }
        if (sender != null) {
            sender.close();
            sender = null;
        }
    }
}
