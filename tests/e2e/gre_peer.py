#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The GRE peer of tests/e2e/gre.sh: a customer router and an internet client, in scapy, so
that edged's BPF GRE is decoded and built by something other than edged itself.

    gre_peer.py capture IFACE SECONDS OUT [FILTER]   packets seen on IFACE, one JSON per line
    gre_peer.py send EXPR...                         sends scapy IP packets (L3, routed)

capture writes "ready" to OUT.ready once it listens, and per packet a JSON object with the
fields gre.sh checks: the outer IPv4 header (with whether its checksum holds, recomputed
here), the GRE header, and the inner packet (addresses, TTL, ports, TCP MSS, payload), or the
ICMP error and what it quotes.
"""
import json
import sys
import threading

from scapy.all import (  # noqa: F401 (the expressions of `send` use them)
    GRE, ICMP, IP, TCP, UDP, IPerror, Raw, UDPerror, conf, send, sniff)

conf.verb = 0


def ip_checksum_ok(ip):
    """Whether the IPv4 header checksum is the one scapy computes for the same header."""
    raw = bytes(ip)[:ip.ihl * 4]
    again = IP(raw)
    del again.chksum
    return bytes(again)[10:12] == raw[10:12]


def inner_fields(p):
    d = {"src": p.src, "dst": p.dst, "ttl": p.ttl, "proto": p.proto, "len": p.len}
    if UDP in p:
        d.update(sport=p[UDP].sport, dport=p[UDP].dport,
                 payload=bytes(p[UDP].payload).decode("latin-1"))
    if TCP in p:
        d.update(sport=p[TCP].sport, dport=p[TCP].dport, flags=str(p[TCP].flags),
                 mss=dict((k, v) for k, v in p[TCP].options if k == "MSS").get("MSS"))
    return d


def describe(pkt):
    if IP not in pkt:
        return None
    ip = pkt[IP]
    d = {"src": ip.src, "dst": ip.dst, "ttl": ip.ttl, "proto": ip.proto, "df": bool(ip.flags.DF),
         "id": ip.id, "tos": ip.tos, "len": ip.len, "csum_ok": ip_checksum_ok(ip)}
    if GRE in ip:
        g = ip[GRE]
        d["gre"] = {"version": g.version, "key_present": g.key_present, "key": g.key,
                    "chksum_present": g.chksum_present, "seq_present": g.seqnum_present,
                    "routing": g.routing_present, "proto": g.proto}
        if IP in g.payload:
            d["inner"] = inner_fields(g.payload[IP])
    elif ICMP in ip:
        i = ip[ICMP]
        d["icmp"] = {"type": i.type, "code": i.code, "mtu": i.nexthopmtu}
        if IPerror in i:
            d["icmp"]["quoted_dst"] = i[IPerror].dst
            d["icmp"]["quoted_len"] = i[IPerror].len
    else:
        d["inner"] = inner_fields(ip)
    return d


def capture(iface, seconds, out, flt="ip"):
    started = threading.Event()
    with open(out, "w") as fh:
        def on_pkt(p):
            d = describe(p)
            if d:
                fh.write(json.dumps(d) + "\n")
                fh.flush()
        sniff(iface=iface, filter=flt, prn=on_pkt, store=False, timeout=float(seconds),
              started_callback=lambda: (started.set(), open(out + ".ready", "w").close()))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "capture":
        capture(sys.argv[2], sys.argv[3], sys.argv[4], *(sys.argv[5:6]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "send":
        for expr in sys.argv[2:]:
            send(eval(expr))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
