# SPDX-License-Identifier: GPL-2.0
"""Reflection-shaped amplification: what a victim receives when attackers spoof its address
towards open DNS or NTP servers. Large UDP responses FROM port 53 or 123 of many reflectors
(the spoof prefix stands for the reflectors) to random high ports of the target.

  dns-amp  DNS responses to "ANY" queries: many TXT records, usually above 1500 bytes, so the
           kernel sends them as IP fragments -- as real amplified DNS arrives
  ntp-amp  NTP mode 7 MON_GETLIST_1 (monlist) responses: 6 x 72-byte entries, 440 bytes each
"""
import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import UDP, fragment
from scapy.packet import Raw

from .floods import ip_layer


def _fragments(pkt, mtu=1500):
    if pkt.haslayer("IP") and len(pkt) > mtu:
        return fragment(pkt, fragsize=mtu - 20 - 8)
    return [pkt]


def dns(a, src, rng):
    frames = []
    per = max(1, a.size // 260)  # TXT records of 255 bytes until the response has about SIZE bytes
    for _ in range(max(1, a.pool // 4)):
        answers = None
        for i in range(per):
            rr = DNSRR(rrname="example.org.", type="TXT", ttl=300, rdata="x" * 255)
            answers = rr if answers is None else answers / rr
        msg = DNS(id=rng.randrange(65536), qr=1, aa=0, rd=1, ra=1, qd=DNSQR(qname="example.org.", qtype="ANY"),
                  an=answers)
        pkt = ip_layer(src.pick(), a.dst) / UDP(sport=53, dport=rng.randrange(1024, 65535)) / msg
        frames += _fragments(pkt)
    return frames


def ntp(a, src, rng):
    # mode 7 response header: R=1 M=0 VN=2 mode=7, auth/seq, implementation 3 (XNTPD), request 42
    # (MON_GETLIST_1), error 0 + 6 items, item size 72.
    entries = 6
    head = struct.pack("!BBBBHH", 0x97, 0x00, 3, 42, entries, 72)
    frames = []
    for _ in range(a.pool):
        body = b"".join(struct.pack("!IIIIII", rng.randrange(2**32), 0, 0, 0, 0, 0) + b"\x00" * 48
                        for _ in range(entries))
        frames.append(ip_layer(src.pick(), a.dst) / UDP(sport=123, dport=rng.randrange(1024, 65535)) /
                      Raw(head + body))
    return frames
