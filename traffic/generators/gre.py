# SPDX-License-Identifier: GPL-2.0
"""GRE from a customer site (Magic Transit shape): the site's router encapsulates traffic of
its own prefix in GRE towards the fleet's anycast tunnel endpoint.

  outer: site address -> anycast endpoint (--dst), IP protocol 47, GRE without options
  inner: --inner-src (inside the site's prefix) -> --inner-dst, ICMP echo or TCP SYN
"""
from scapy.layers.inet import GRE, ICMP, IP, TCP
from scapy.packet import Raw


def gre(a, src, rng):
    frames = []
    inner_src = a.inner_src or src.pick()
    for i in range(a.pool):
        if a.inner == "tcp":
            inner = IP(src=inner_src, dst=a.inner_dst) / TCP(sport=rng.randrange(1024, 65535), dport=80, flags="S")
        else:
            inner = IP(src=inner_src, dst=a.inner_dst) / ICMP(id=0x5e, seq=i) / Raw(b"lab-gre" * 4)
        frames.append(IP(src=src.pick(), dst=str(a.dst), ttl=64) / GRE(proto=0x0800) / inner)
    return frames
