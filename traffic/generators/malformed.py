# SPDX-License-Identifier: GPL-2.0
"""Malformed and unusual packets, each variant labelled the way the kernel sees it.

  malformed   (truncated or self-contradicting headers; the kernel drops them too, and edged
               counts them under counters.parse.drop):
    trunc-ipv4     frame ends inside the IPv4 header
    bad-ihl        IPv4 IHL of 3 (12-byte header)
    bad-totlen     IPv4 total length larger than the frame
    trunc-tcp      TCP header cut after 10 bytes (IP lengths consistent)
    bad-doff       TCP data offset 3 (12-byte TCP header)
    udp-short      UDP length 4 (less than its own header)
    ipv6-trunc     IPv6 payload length larger than the frame
    ipv6-deep-ext  8 extension headers (more than any legitimate sender uses)
  well-formed (unusual but valid; must not be dropped as malformed):
    ip-options     IPv4 with options (NOP, record route)
    fragments      an IPv4 datagram in 3 fragments
    ipv6-ext       IPv6 with hop-by-hop, routing and destination options headers
    ipv6-frag      an IPv6 datagram in fragments

Every frame is returned with its label so that a check can expect exact counter deltas.
"""
from scapy.layers.inet import IP, TCP, UDP, IPOption_NOP, IPOption_RR, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, \
    IPv6ExtHdrRouting, fragment6
from scapy.packet import Raw

MALFORMED = ("trunc-ipv4", "bad-ihl", "bad-totlen", "trunc-tcp", "bad-doff", "udp-short", "ipv6-trunc",
             "ipv6-deep-ext")
WELL_FORMED = ("ip-options", "fragments", "ipv6-ext", "ipv6-frag")
VARIANTS = MALFORMED + WELL_FORMED


def _tcp(rng, port):
    return TCP(sport=rng.randrange(1024, 65535), dport=port, flags="S", seq=rng.randrange(2**32))


def variant(name, src4, dst4, src6, dst6, rng, port):
    """Frames (without Ethernet) of one variant; a list because fragments are several."""
    if name == "trunc-ipv4":
        return [bytes(IP(src=src4, dst=dst4) / _tcp(rng, port))[:12]]
    if name == "bad-ihl":
        return [IP(src=src4, dst=dst4, ihl=3) / _tcp(rng, port)]
    if name == "bad-totlen":
        p = IP(src=src4, dst=dst4) / _tcp(rng, port)
        p = IP(bytes(p))
        p.len = len(p) + 200
        del p.chksum
        return [p]
    if name == "trunc-tcp":
        raw = bytes(IP(src=src4, dst=dst4) / _tcp(rng, port))
        p = IP(raw[:30])  # 20 bytes of IP + 10 of TCP
        p.len = 30
        del p.chksum
        return [p]
    if name == "bad-doff":
        return [IP(src=src4, dst=dst4) / TCP(sport=rng.randrange(1024, 65535), dport=port, flags="S", dataofs=3)]
    if name == "udp-short":
        return [IP(src=src4, dst=dst4) / UDP(sport=rng.randrange(1024, 65535), dport=port, len=4) / Raw(b"abcd")]
    if name == "ipv6-trunc":
        p = IPv6(src=src6, dst=dst6) / _tcp(rng, port)
        p = IPv6(bytes(p))
        p.plen = p.plen + 100
        return [p]
    if name == "ipv6-deep-ext":
        chain = IPv6ExtHdrDestOpt()
        for _ in range(7):
            chain = chain / IPv6ExtHdrDestOpt()
        return [IPv6(src=src6, dst=dst6) / chain / _tcp(rng, port)]
    if name == "ip-options":
        return [IP(src=src4, dst=dst4, options=[IPOption_NOP(), IPOption_RR(routers=["0.0.0.0"] * 3)])
                / _tcp(rng, port)]
    if name == "fragments":
        p = IP(src=src4, dst=dst4, id=rng.randrange(65536)) / UDP(sport=rng.randrange(1024, 65535), dport=port) \
            / Raw(b"f" * 1200)
        return fragment(p, fragsize=400)
    if name == "ipv6-ext":
        return [IPv6(src=src6, dst=dst6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[]) /
                IPv6ExtHdrDestOpt() / _tcp(rng, port)]
    if name == "ipv6-frag":
        p = IPv6(src=src6, dst=dst6) / IPv6ExtHdrFragment(id=rng.randrange(2**32)) / \
            UDP(sport=rng.randrange(1024, 65535), dport=port) / Raw(b"g" * 1200)
        return fragment6(p, 600)
    raise ValueError(f"unknown malformed variant '{name}' (known: {', '.join(VARIANTS)})")


def malformed(a, src, dst4, src6, dst6, rng):
    """(frames, labels): every asked variant, a.repeat times, in order. SRC picks the IPv4
    source of each frame (spoofed when --spoof is given)."""
    frames, labels = [], []
    names = VARIANTS if a.variants == "all" else a.variants.split(",")
    for _ in range(a.repeat):
        for name in names:
            for f in variant(name, src.pick(), dst4, src6, dst6, rng, a.port):
                frames.append(f)
                labels.append("malformed" if name in MALFORMED else "well-formed")
    return frames, labels
