#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A customer site's router for the transit e2e test: GRE in userspace, decoded and built with
scapy, independently of edged (this kernel has no GRE device).

  decap: a raw IPPROTO_GRE socket receives what edged's anycast endpoint sends to this
         router; scapy decodes it (version 0, no routing, the tunnel's key, an IPv4 or IPv6
         payload) and the inner packet is written into a TUN device, so that the site's
         kernel routes it (to the host behind the site, or a keepalive back to the endpoint).
  encap: packets the site routes into the TUN device (the test routes the customer's
         prefixes' traffic toward the internet there) are wrapped by scapy in GRE to the
         anycast endpoint and sent with a raw socket.

With IPv6 addresses (--local and --endpoint), GRE runs over an IPv6 underlay: the raw sockets
are IPv6 ones (the kernel strips and builds the outer IPv6 header; its hop limit and addresses
come from ancillary data), and decapsulated lines say outer=ipv6 with the hop limit.

Every packet is logged, one line each ("decap|encap|reject|muted ..."), for the test's checks.
A router can have several tunnels to the endpoint, one per key (the first is used to send);
while the file MUTE_DIR/key-K exists, what arrives with key K is dropped (a broken tunnel).

usage: transit_site.py --tun NAME --local ADDR --endpoint ADDR [--key N]... [--mute-dir DIR]
                       --log FILE|-
"""
import argparse
import fcntl
import os
import select
import socket
import struct
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def outer_v4(raw):
    """The GRE layer of an IPv4 packet (a raw IPv4 socket reads the header too) and how its
    outer header reads in the log, or (None, None)."""
    outer = IP(raw)
    if GRE not in outer:
        return None, None
    return outer[GRE], (f"src={outer.src} dst={outer.dst}", f"ttl={outer.ttl} df={int(outer.flags.DF)}")


def outer_v6(sock):
    """The same from a raw IPv6 socket: the kernel took the header off, the ancillary data
    says where it came from, to which address and with what hop limit."""
    data, anc, _, peer = sock.recvmsg(65535, socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4))
    dst, hlim = "?", -1
    for level, kind, val in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            dst = socket.inet_ntop(socket.AF_INET6, val[:16])
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
            hlim = struct.unpack("i", val[:4])[0]
    return GRE(data), (f"outer=ipv6 src={peer[0]} dst={dst}", f"hlim={hlim}")


def decap(gre, outer, args, log):
    """The inner packet of a GRE packet edged sent us, or None (logged why). OUTER: the outer
    header's addresses and its TTL or hop limit, as text."""
    if gre is None:
        log.write("reject not-gre\n")
        return None
    if gre.version != 0 or gre.routing_present:
        log.write(f"reject version={gre.version} routing={gre.routing_present}\n")
        return None
    key = gre.key if gre.key_present else None
    if key not in args.keys:
        log.write(f"reject key={key} {outer[0]}\n")
        return None
    inner = bytes(gre.payload)
    if gre.proto == 0x0800:
        pkt = IP(inner)
    elif gre.proto == 0x86DD:
        pkt = IPv6(inner)
    else:
        log.write(f"reject proto={gre.proto:#x}\n")
        return None
    desc = pkt.summary()
    if args.mute_dir and os.path.exists(f"{args.mute_dir}/key-{key}"):
        log.write(f"muted key={key} {desc}\n")
        return None
    if not checksums_ok(pkt):
        log.write(f"reject bad-inner-checksum {desc}\n")
        return None
    log.write(f"decap {outer[0]} key={key} {outer[1]} len={len(inner)} {desc}\n")
    return inner


def checksums_ok(pkt):
    """Whether the inner packet's IPv4 and transport checksums are what scapy computes."""
    cls = pkt.__class__
    for layer in ([IP] if cls is IP else []) + [TCP, UDP, ICMP]:
        if layer not in pkt:
            continue
        rebuilt = cls(bytes(pkt))
        del rebuilt[layer].chksum
        if cls(bytes(rebuilt))[layer].chksum != pkt[layer].chksum:
            return False
    return True


def encap(inner, args, log):
    version = inner[0] >> 4
    proto = 0x0800 if version == 4 else 0x86DD
    key = args.keys[0]
    gre = GRE(proto=proto, key_present=1, key=key) if key is not None else GRE(proto=proto)
    if args.v6:  # the kernel adds the outer IPv6 header (raw IPv6 sockets never take one)
        pkt = gre / inner
    else:
        pkt = IP(src=args.local, dst=args.endpoint, proto=47, ttl=64) / gre / inner
    desc = (IP(inner) if version == 4 else IPv6(inner)).summary()
    log.write(f"encap dst={args.endpoint} key={key} len={len(inner)} {desc}\n")
    return bytes(pkt)


def sockets(args):
    """The raw sockets GRE arrives on and leaves by, of the underlay's family."""
    if not args.v6:
        rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_GRE)
        rx.bind((args.local, 0))
        return rx, socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_GRE)
    rx.bind((args.local, 0))
    rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    tx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_GRE)
    tx.bind((args.local, 0))
    tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
    return rx, tx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tun", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--key", type=int, action="append", dest="keys")
    ap.add_argument("--mute-dir")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    args.keys = args.keys or [None]
    args.v6 = ":" in args.local
    if args.v6 != (":" in args.endpoint):
        ap.error("--local and --endpoint are of one family (GRE over IPv4 or over IPv6)")

    tun = open_tun(args.tun)
    rx, tx = sockets(args)
    if args.log == "-":  # the lab's gre-site: its output is what scenarios read
        sys.stdout.reconfigure(line_buffering=True)
        log = sys.stdout
    else:
        log = open(args.log, "w", buffering=1)
    log.write("ready\n")
    while True:
        ready, _, _ = select.select([rx, tun], [], [])
        if rx in ready:
            gre, outer = outer_v6(rx) if args.v6 else outer_v4(rx.recv(65535))
            inner = decap(gre, outer, args, log)
            if inner:
                try:
                    os.write(tun, inner)
                except OSError as e:  # EIO: the TUN device is not up yet (a keepalive came first)
                    log.write(f"dropped {e.strerror}: {args.tun} not up\n")
        if tun in ready:
            inner = os.read(tun, 65535)
            if inner and inner[0] >> 4 in (4, 6):
                tx.sendto(encap(inner, args, log), (args.endpoint, 0))


if __name__ == "__main__":
    sys.exit(main())
