# SPDX-License-Identifier: GPL-2.0
"""What every generator shares: bounds, address safety, the paced sender, pcap output.

Generators build a pool of distinct frames once (scapy is slow per packet) and a raw
AF_PACKET socket sends them round-robin at the asked rate. Every run is bounded twice: a
packet count and a duration, whichever comes first; both have hard caps.
"""
import ipaddress
import json
import os
import random
import re
import socket
import subprocess
import time

ALLOWED = [ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10", "2001:db8::/32")]

MAX_COUNT = 1_000_000
MAX_DURATION = 120.0
MAX_PPS = 200_000
POOL = 512  # distinct frames per run: enough variety for hashing and rate limiters


class GenError(Exception):
    pass


def check_addr(text, what):
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        raise GenError(f"{what} '{text}' is not an IP address") from None
    if not any(a.version == n.version and a in n for n in ALLOWED):
        raise GenError(f"{what} {a} is outside the lab ranges (192.0.2.0/24, 198.51.100.0/24, "
                       "203.0.113.0/24, 100.64.0.0/10, 2001:db8::/32)")
    return a


def check_net(text, what):
    try:
        n = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise GenError(f"{what} '{text}' is not a prefix") from None
    if not any(n.version == a.version and n.subnet_of(a) for a in ALLOWED):
        raise GenError(f"{what} {n} is outside the lab ranges")
    return n


def check_bounds(count, duration, pps):
    if not 1 <= count <= MAX_COUNT:
        raise GenError(f"--count must be 1..{MAX_COUNT}")
    if not 0 < duration <= MAX_DURATION:
        raise GenError(f"--duration must be in (0, {MAX_DURATION}] seconds")
    if not 0 < pps <= MAX_PPS:
        raise GenError(f"--pps must be in (0, {MAX_PPS}]")


def in_lab_netns():
    """True only inside a lab namespace (/run/netns/lab-<hex6>-<node>): a positive check, so
    that neither the host's namespace nor any other can be flooded by mistake."""
    try:
        me = os.stat("/proc/self/ns/net")
        names = os.listdir("/run/netns")
    except OSError:
        return False
    for n in names:
        if re.match(r"^lab-[0-9a-f]{6}-[a-z][a-z0-9_]{0,11}$", n):
            try:
                st = os.stat(os.path.join("/run/netns", n))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
                return True
    return False


class Source:
    """Source addresses: the node's own, or random ones from a spoof prefix. With several
    spoof prefixes (or addresses) the frames take them in turn: "A,B" makes A, B, A, B, ..."""

    def __init__(self, own, spoof=None, rng=None):
        self.own = own
        self.spoof = spoof if isinstance(spoof, list) or spoof is None else [spoof]
        self.rng = rng or random.Random(1)
        self.i = 0

    def pick(self):
        if not self.spoof:
            return str(self.own)
        n = self.spoof[self.i % len(self.spoof)]
        self.i += 1
        return str(n[self.rng.randrange(1, max(2, n.num_addresses - 1))] if n.num_addresses > 2 else n[0])


def check_spoof(text):
    """--spoof: one prefix, or several (or single addresses) separated by commas, one family."""
    nets = [check_net(t.strip(), "--spoof") for t in str(text).split(",") if t.strip()]
    if not nets:
        raise GenError("--spoof: give a prefix, e.g. 198.51.100.128/25")
    if len({n.version for n in nets}) > 1:
        raise GenError("--spoof: every prefix must be of one IP version")
    return nets


def route_to(dst):
    """(ifname, gateway or None, own source address) of the route to DST in this namespace."""
    out = subprocess.run(["ip", "-j", "route", "get", str(dst)], capture_output=True, text=True)
    if out.returncode != 0:
        raise GenError(f"no route to {dst} here: {out.stderr.strip()}")
    r = json.loads(out.stdout)[0]
    return r["dev"], r.get("gateway"), r.get("prefsrc")


def neighbor_mac(dev, addr, timeout=2.0):
    """MAC of ADDR on DEV, resolving it through the kernel (a datagram makes it ARP/ND)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    deadline = time.monotonic() + timeout
    poked = False
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-j", "neigh", "show", "to", addr, "dev", dev], capture_output=True, text=True)
        for n in json.loads(out.stdout or "[]"):
            if n.get("lladdr") and "FAILED" not in n.get("state", []) and "INCOMPLETE" not in n.get("state", []):
                return n["lladdr"]
        if not poked:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.sendto(b"", (addr, 9))
            poked = True
        time.sleep(0.05)
    raise GenError(f"cannot resolve the MAC of {addr} on {dev}")


def own_mac(dev):
    with open(f"/sys/class/net/{dev}/address", encoding="ascii") as f:
        return f.read().strip()


def l2_for(dst):
    """(dev, src mac, dst mac, own address) to send frames towards DST from this node."""
    dev, gw, src = route_to(dst)
    nh = gw or str(dst)
    try:
        smac = own_mac(dev)
    except OSError:  # sysfs of another namespace (plain nsenter): ask ip
        out = subprocess.run(["ip", "-j", "link", "show", dev], capture_output=True, text=True)
        smac = json.loads(out.stdout)[0]["address"]
    return dev, smac, neighbor_mac(dev, nh), src


def _csum_add(csum, old, new):
    """RFC 1624 incremental update of a 16-bit one's complement checksum, OLD bytes -> NEW."""
    c = ~csum & 0xffff
    for i in range(0, len(old), 2):
        c += (~((old[i] << 8) | old[i + 1]) & 0xffff) + ((new[i] << 8) | new[i + 1])
    while c >> 16:
        c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff


class DistinctSources:
    """Packet I gets source address number I % N of the spoof prefix, each one once per round:
    N sources beyond the pool of frames (what fills a per-source rate limiter's table). The
    address goes into the frame's bytes with the IP and L4 checksums updated, which costs a
    few microseconds a packet instead of scapy's ~100."""

    def __init__(self, net, n):
        self.net, self.n = net, n
        self.first = int(net.network_address) + (1 if net.num_addresses > 2 else 0)
        self.size = net.num_addresses - (2 if net.num_addresses > 2 else 0)
        if not 1 <= n <= self.size:
            raise GenError(f"--sources {n}: the spoof prefix {net} holds {self.size} addresses")
        # An odd stride near the golden ratio of the range, coprime with its size: every
        # index below size maps to its own address, spread over the prefix.
        import math
        self.stride = int(self.size * 0.6180339887) | 1
        while math.gcd(self.stride, self.size) != 1:
            self.stride += 2
        self.width = 4 if net.version == 4 else 16

    def address(self, i):
        return (self.first + (i % self.n) * self.stride % self.size).to_bytes(self.width, "big")

    def patch(self, frame, i):
        f = bytearray(frame)
        new = self.address(i)
        if self.net.version == 4 and f[12:14] == b"\x08\x00":
            ihl = (f[14] & 0x0f) * 4
            old = bytes(f[26:30])
            f[26:30] = new
            f[24:26] = _csum_add(int.from_bytes(f[24:26], "big"), old, new).to_bytes(2, "big")
            proto, l4 = f[23], 14 + ihl
            later = int.from_bytes(f[20:22], "big") & 0x1fff
        elif self.net.version == 6 and f[12:14] == b"\x86\xdd":
            old = bytes(f[22:38])
            f[22:38] = new
            proto, l4, later = f[20], 54, 0
        else:
            return bytes(f)
        off = {6: 16, 17: 6, 58: 2}.get(proto)  # TCP, UDP and ICMPv6 sum a pseudo header
        if off is not None and not later and len(f) >= l4 + off + 2:
            c = int.from_bytes(f[l4 + off:l4 + off + 2], "big")
            if not (proto == 17 and c == 0):  # a UDP checksum of 0 means none
                c = _csum_add(c, old, new) or (0xffff if proto == 17 else 0)
                f[l4 + off:l4 + off + 2] = c.to_bytes(2, "big")
        return bytes(f)


def frame_at(raw, sources=None):
    """frame(i): the bytes of packet I, cycling through the frames RAW (with DistinctSources,
    each with its own source address)."""
    n = len(raw)
    if sources is None:
        return lambda i: raw[i % n]
    return lambda i: sources.patch(raw[i % n], i)


def send(frame, dev, count, duration, pps):
    """Send COUNT frames (packet I is frame(I)) at PPS on DEV, at most DURATION seconds.

    Returns (sent, seconds). Pacing checks the clock every batch and sleeps when ahead, so
    the average rate holds without a busy loop.
    """
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    sent = 0
    t0 = time.monotonic()
    end = t0 + duration
    batch = max(1, int(pps // 1000))  # about 1 ms worth of frames per batch
    try:
        while sent < count:
            now = time.monotonic()
            if now >= end:
                break
            due = min(count, int((now - t0) * pps) + 1)
            if sent >= due:
                time.sleep(min(0.001 * batch, (sent + 1) / pps - (now - t0)))
                continue
            for _ in range(min(due - sent, batch)):
                try:
                    s.send(frame(sent))
                except OSError:  # ENOBUFS under flood: the frame is lost, like on a wire
                    pass
                sent += 1
    finally:
        s.close()
    return sent, time.monotonic() - t0


def write_pcap(frame, path, count):
    """COUNT packets (packet I is frame(I), Ethernet bytes) as a classic pcap, written
    directly: scapy's writer takes seconds per 100k packets."""
    import struct
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i in range(count):
            b = frame(i)
            sec, usec = divmod(i, 1000000)
            out.write(struct.pack("<IIII", sec, usec, len(b), len(b)))
            out.write(b)
