#!/usr/bin/python3
"""TEST TOOL for the lab (10.213.0.0/16 only): a host on the lab's bridge that sends TCP segments with forged
source addresses. Plain Python raw sockets, no dependencies.

  tcp-spoof.py segments IFACE CLIENT_IP:PORT SERVER_IP:PORT
      Sniffs the bridge (which floods every frame) until it sees a segment of that connection from the client
      and one from the server, then sends into it, from both ends, segments that the receiving kernel ignores
      (RFC 793 acceptability, RFC 5961): RSTs out of the window and in it but not at rcv_nxt, FINs and data
      out of the window, a SYN and a SYN-ACK with new ISNs, ACKs of data never sent. Never an RST at exactly
      rcv_nxt: that one would really reset the connection. Prints one line per segment sent.

  tcp-spoof.py syn-flood SERVER_IP:PORT COUNT SOURCE_BASE_IP SOURCES
      Sends COUNT SYNs to SERVER, from SOURCES made-up addresses from SOURCE_BASE_IP on (none of them exists,
      so the SYN-ACKs go nowhere), each from its own source port, random ISNs. Bounded: COUNT at most 200000.
"""
import ipaddress
import os
import random
import socket
import struct
import sys
import time

LAB = ipaddress.ip_network("10.213.0.0/16")
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETH_P_IP = 0x0800
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 263, 1, 1


def endpoint(text):
    host, port = text.rsplit(":", 1)
    addr = ipaddress.ip_address(host)
    if addr not in LAB:
        sys.exit(f"tcp-spoof: {addr} is outside the lab's {LAB}")
    return str(addr), int(port)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def packet(src, dst, seq, ack, flags, payload=b"", window=1024, mss=None):
    (saddr, sport), (daddr, dport) = src, dst
    options = struct.pack("!BBH", 2, 4, mss) if mss else b""
    offset = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags,
                      window, 0, 0) + options + payload
    pseudo = socket.inet_aton(saddr) + socket.inet_aton(daddr) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64, 6, 0,
                     socket.inet_aton(saddr), socket.inet_aton(daddr))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def sniff(iface, client, server, timeout):
    """The latest segment each way: {from_client: (seq_end, ack)} where seq_end = seq + payload length."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((iface, 0))
    mreq = struct.pack("iHH8s", socket.if_nametoindex(iface), PACKET_MR_PROMISC, 0, b"")
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    s.settimeout(0.5)
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < 2 and time.monotonic() < deadline:
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        ip = frame[14:]
        if len(ip) < 40 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        tcp = ip[ihl:]
        sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
        data_offset = (tcp[12] >> 4) * 4
        flags = tcp[13]
        length = total - ihl - data_offset
        if (src, sport) == client and (dst, dport) == server and flags & ACK:
            seen[True] = (seq + length, ack)
        elif (src, sport) == server and (dst, dport) == client and flags & ACK:
            seen[False] = (seq + length, ack)
    s.close()
    if len(seen) < 2:
        sys.exit(f"tcp-spoof: saw no segment each way of {client} <-> {server} within {timeout} s")
    return seen


def segments(iface, client, server):
    seen = sniff(iface, client, server, 30)
    c_next, c_acked = seen[True]     # the client's next byte; what it has of the server's
    s_next, s_acked = seen[False]
    print(f"sniffed: client next {c_next} (acks {c_acked}), server next {s_next} (acks {s_acked})", flush=True)
    m = 0xFFFFFFFF
    spoofs = [
        # (name, from client?, seq, ack, flags, payload)
        ("c->s RST far out of the window", True, c_next + 0x40000000, 0, RST, b""),
        ("c->s RST in the window, not at rcv_nxt", True, c_next + 1000, s_next, RST | ACK, b""),
        ("c->s FIN far out of the window", True, c_next + 0x20000000, s_next, FIN | ACK, b""),
        ("c->s data far out of the window", True, c_next + 0x01000000, s_next, PSH | ACK, b"exit\n"),
        ("c->s SYN with a new ISN", True, random.getrandbits(32), 0, SYN, b""),
        ("c->s ACK of data never sent", True, c_next, s_next + 0x40000000, ACK, b""),
        ("s->c RST far out of the window", False, s_next - 0x30000000, 0, RST, b""),
        ("s->c RST in the window, not at rcv_nxt", False, s_next + 1, 0, RST, b""),
        ("s->c FIN before the window", False, s_next - 0x100000, c_next, FIN | ACK, b""),
        ("s->c SYN-ACK with a new ISN", False, random.getrandbits(32), c_next, SYN | ACK, b""),
        ("s->c ACK of data never sent", False, s_next, c_next + 0x01000000, ACK, b""),
    ]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for name, from_client, seq, ack, flags, payload in spoofs:
        src, dst = (client, server) if from_client else (server, client)
        raw.sendto(packet(src, dst, seq & m, ack & m, flags, payload, mss=1460 if flags & SYN else None), (dst[0], 0))
        print(f"sent: {name} (seq {seq & m}, ack {ack & m})", flush=True)
        time.sleep(0.05)
    raw.close()


def syn_flood(server, count, base, sources):
    if not 0 < count <= 200000:
        sys.exit("tcp-spoof: COUNT must be 1..200000")
    base = ipaddress.ip_address(base)
    addrs = [str(base + i) for i in range(sources)]
    for a in addrs:
        if ipaddress.ip_address(a) not in LAB:
            sys.exit(f"tcp-spoof: {a} is outside the lab's {LAB}")
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    t0 = time.monotonic()
    for i in range(count):
        src = (addrs[i % sources], 1024 + (i // sources) % 64000)
        raw.sendto(packet(src, server, random.getrandbits(32), 0, SYN, window=64240, mss=1460), (server[0], 0))
    raw.close()
    print(f"sent {count} SYNs from {sources} address(es) in {time.monotonic() - t0:.1f} s", flush=True)


def main(argv):
    if os.geteuid() != 0:
        sys.exit("tcp-spoof: raw sockets need root")
    if len(argv) == 4 and argv[0] == "segments":
        segments(argv[1], endpoint(argv[2]), endpoint(argv[3]))
    elif len(argv) == 5 and argv[0] == "syn-flood":
        syn_flood(endpoint(argv[1]), int(argv[2]), argv[3], int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
