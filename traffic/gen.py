#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Attack and unusual traffic for the lab, built with scapy and sent at a bounded rate.

  gen.py KIND --dst ADDR [--count N] [--duration S] [--pps R] [--spoof PREFIX[,PREFIX...]]
         [--sources N] [--write PCAP]

KIND: syn-flood, udp-flood, icmp-flood, dns-amp, ntp-amp, malformed, gre.
Run it inside a lab node (lab/lab exec attacker1 -- traffic/gen.py syn-flood --dst 203.0.113.10)
or let a scenario run it. It refuses to send from the host's network namespace and to any
address outside the lab ranges; every run stops by itself after --count packets or --duration
seconds. With --write it only writes a pcap (for `lab/lab replay` or a regression scenario).
It prints one JSON line: what was sent, and for `malformed` how many of each class.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generators import common  # noqa: E402
from generators.common import GenError  # noqa: E402

KINDS = ("syn-flood", "udp-flood", "icmp-flood", "dns-amp", "ntp-amp", "malformed", "gre")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="traffic/gen.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("--dst", required=True, help="target address (e.g. the anycast VIP 203.0.113.10)")
    ap.add_argument("--dst6", help="malformed: IPv6 target for the IPv6 variants")
    ap.add_argument("--port", type=int, default=80, help="destination port (floods, malformed)")
    ap.add_argument("--count", type=int, default=1000, help=f"packets to send (max {common.MAX_COUNT})")
    ap.add_argument("--duration", type=float, default=10.0, help=f"seconds at most (max {common.MAX_DURATION:.0f})")
    ap.add_argument("--pps", type=float, default=1000.0, help=f"packets per second (max {common.MAX_PPS})")
    ap.add_argument("--spoof", help="random source addresses from this prefix (lab ranges only); several "
                    "prefixes or addresses, comma-separated, are taken in turn (A,B,A,B,...)")
    ap.add_argument("--sources", type=int, help="with --spoof PREFIX: N distinct source addresses of the prefix, "
                    f"packet I from number I %% N (up to {common.MAX_COUNT}; default one per frame of the pool)")
    ap.add_argument("--size", type=int, default=64, help="payload bytes (udp-flood, icmp-flood); dns-amp response size")
    ap.add_argument("--variants", default="all", help="malformed: comma-separated variants or 'all'")
    ap.add_argument("--repeat", type=int, default=1, help="malformed: how many times each variant")
    ap.add_argument("--inner-src", help="gre: inner source (default: the outer source)")
    ap.add_argument("--inner-dst", default="192.0.2.80", help="gre: inner destination")
    ap.add_argument("--inner", choices=("icmp", "tcp"), default="icmp", help="gre: inner protocol")
    ap.add_argument("--seed", type=int, default=1, help="random seed: the same run builds the same packets")
    ap.add_argument("--write", metavar="PCAP", help="write the packets to a pcap instead of sending")
    return ap.parse_args(argv)


def build(a, rng, own4, own6):
    """(frames without Ethernet, labels or None)."""
    from generators import amplification, floods, gre, malformed

    a.pool = min(a.count, common.POOL)
    spoof = common.check_spoof(a.spoof) if a.spoof else None
    if spoof and spoof[0].version != a.dst.version:
        raise GenError("--spoof must be of the same IP version as --dst")
    src = common.Source(own4 if a.dst.version == 4 else own6, spoof, rng)
    if a.kind == "malformed":
        dst6 = common.check_addr(a.dst6, "--dst6") if a.dst6 else None
        if a.dst.version != 4:
            raise GenError("malformed: --dst is the IPv4 target; give the IPv6 one with --dst6")
        names = malformed.VARIANTS if a.variants == "all" else a.variants.split(",")
        for n in names:
            if n not in malformed.VARIANTS:
                raise GenError(f"unknown variant '{n}' (known: {', '.join(malformed.VARIANTS)})")
        if dst6 is None:
            a.variants = ",".join(n for n in names if not n.startswith("ipv6"))
        return malformed.malformed(a, src, str(a.dst), str(own6) if own6 else None,
                                   str(dst6) if dst6 else None, rng)
    fn = {"syn-flood": floods.syn, "udp-flood": floods.udp, "icmp-flood": floods.icmp, "dns-amp": amplification.dns,
          "ntp-amp": amplification.ntp, "gre": gre.gre}[a.kind]
    if a.kind == "gre":
        common.check_addr(a.inner_dst, "--inner-dst")
        if a.inner_src:
            common.check_addr(a.inner_src, "--inner-src")
    return fn(a, src, rng), None


def distinct_sources(a):
    """--sources N: the rewriter that gives packets N distinct spoofed sources, or None."""
    if a.sources is None:
        return None
    if not a.spoof or "," in a.spoof:
        raise GenError("--sources needs --spoof with one prefix")
    if a.kind in ("malformed", "gre"):
        raise GenError(f"--sources does not apply to {a.kind}")
    if not 1 <= a.sources <= common.MAX_COUNT:
        raise GenError(f"--sources must be 1..{common.MAX_COUNT}")
    return common.DistinctSources(common.check_net(a.spoof, "--spoof"), a.sources)


def own_addresses(dst):
    """This node's source address towards DST (and the other family's, best effort)."""
    try:
        _, _, src = common.route_to(dst)
    except GenError:
        src = None
    other = "2001:db8::1" if dst.version == 4 else "192.0.2.1"
    try:
        _, _, osrc = common.route_to(other)
    except GenError:
        osrc = None
    return (src, osrc) if dst.version == 4 else (osrc, src)


def main(argv=None):
    a = parse_args(argv)
    try:
        a.dst = common.check_addr(a.dst, "--dst")
        common.check_bounds(a.count, a.duration, a.pps)
        rng = random.Random(a.seed)
        from scapy.layers.l2 import Ether
        from scapy.packet import Raw

        if a.write:
            own4, own6 = "100.64.255.1", "2001:db8:ffff:ffff::1"
            smac, dmac, dev = "02:00:00:00:00:01", "02:00:00:00:00:02", None
        else:
            if not common.in_lab_netns():
                raise GenError("refusing to send outside a lab namespace: run it in a lab node "
                               "(lab/lab exec NODE -- traffic/gen.py ...) or use --write")
            own4, own6 = own_addresses(a.dst)
            dev, smac, dmac, _ = common.l2_for(a.dst)
        sources = distinct_sources(a)
        frames, labels = build(a, rng, own4 or "100.64.255.1", own6 or "2001:db8:ffff:ffff::1")
        if not frames:
            raise GenError("nothing to send (no variant applies)")
        l2 = []
        for f in frames:
            if isinstance(f, bytes):
                l2.append(bytes(Ether(src=smac, dst=dmac, type=0x0800) / Raw(f)))
            else:
                l2.append(bytes(Ether(src=smac, dst=dmac) / f))
        frame = common.frame_at(l2, sources)
        if a.kind == "malformed":
            a.count = len(l2)  # one pass over every variant x repeat: exact counts for checks
        result = {"kind": a.kind, "dst": str(a.dst)}
        if a.write:
            common.write_pcap(frame, a.write, a.count)
            result.update(written=a.count, pcap=a.write)
        else:
            print(f"gen.py: sending on {dev}", flush=True)  # the lab waits for it (wait_sending)
            sent, secs = common.send(frame, dev, a.count, a.duration, a.pps)
            result.update(sent=sent, seconds=round(secs, 3), dev=dev)
        if sources:
            result["sources"] = min(sources.n, result.get("sent", result.get("written")))
        if labels:
            n = result.get("sent", result.get("written"))
            result["classes"] = {c: sum(1 for i in range(n) if labels[i % len(labels)] == c)
                                 for c in ("malformed", "well-formed")}
        print(json.dumps(result), flush=True)
        return 0
    except GenError as e:
        print(f"gen.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
