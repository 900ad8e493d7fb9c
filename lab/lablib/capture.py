# SPDX-License-Identifier: GPL-2.0
"""Replaying pcaps into a node's interface, and captures that scenarios check.

`replay --at NODE:IFACE` makes NODE receive the packets on IFACE as if they came off the
wire: tcpreplay sends them from the other end of that veth (the peer node), after the lab
set the destination MAC to the receiving interface's (so the kernel accepts them, not only
XDP) and the source MAC to REPLAY_MAC (so captures can pick them out). IP headers
are left as captured. Packets whose addresses lie outside the lab ranges are refused: rewrite
an incident's addresses first (docs/lab.md, "Reproducing an incident").
"""
import os
import re
import signal
import struct
import subprocess
import time

from . import addressing, netns, procs, qemu, state
from .errors import LabError

REPO = state.REPO
# pcap link types the lab turns into Ethernet frames: Ethernet, raw IP, Linux cooked v1/v2.
LINKTYPES = {1: "ethernet", 101: "raw", 12: "raw", 113: "linux-sll", 276: "linux-sll2"}
MAX_REPLAY_PPS = 200000
# Source MAC of every replayed frame: locally administered, "1ab" for lab. It marks replayed
# packets so that a capture can count exactly them (`ether src 02:1a:b0:00:00:01`), even
# truncated ones whose IP header a filter cannot read. The kernel never uses it for replies.
REPLAY_MAC = "02:1a:b0:00:00:01"


def linktype(path):
    """Link type of a pcap or pcapng file (first interface for pcapng)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise LabError(f"cannot read pcap: {e.strerror}", path, fix="give the path of a pcap file") from None
    if len(head) < 24:
        raise LabError("not a pcap file (too short)", path, fix="capture with tcpdump -w FILE")
    magic = head[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return struct.unpack("<I", head[20:24])[0]
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return struct.unpack(">I", head[20:24])[0]
    if magic == b"\x0a\x0d\x0d\x0a":  # pcapng: section header block, then the interface block
        bom = head[8:12]
        endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        shb_len = struct.unpack(endian + "I", head[4:8])[0]
        with open(path, "rb") as f:
            f.seek(shb_len)
            idb = f.read(12)
        return struct.unpack(endian + "H", idb[8:10])[0]
    raise LabError("not a pcap or pcapng file", path, fix="capture with tcpdump -w FILE")


def _ip_addresses(frame, lt):
    """(src, dst) of the outer IP header of one frame, or None when there is none or it is cut
    short (truncated packets are the point of some incidents; they carry no address to check)."""
    import ipaddress
    if lt == 1:  # Ethernet, up to two VLAN tags
        off, proto = 14, frame[12:14]
        while proto in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
            proto, off = frame[off + 2:off + 4], off + 4
    elif lt == 113:
        off, proto = 16, frame[14:16]
    elif lt == 276:
        off, proto = 20, frame[0:2]
    else:  # raw IP: the version nibble says which
        off = 0
        proto = b"\x08\x00" if frame[:1] and frame[0] >> 4 == 4 else b"\x86\xdd"
    if proto == b"\x08\x00" and len(frame) >= off + 20:
        return ipaddress.ip_address(frame[off + 12:off + 16]), ipaddress.ip_address(frame[off + 16:off + 20])
    if proto == b"\x86\xdd" and len(frame) >= off + 40:
        return ipaddress.ip_address(frame[off + 8:off + 24]), ipaddress.ip_address(frame[off + 24:off + 40])
    return None


def foreign_addresses(path, limit=100000):
    """Addresses in the pcap outside the lab ranges (first few), reading at most LIMIT packets."""
    from scapy.utils import RawPcapReader

    lt = linktype(path)
    bad = []
    r = RawPcapReader(path)
    try:
        for i, (frame, _) in enumerate(r):
            if i >= limit or len(bad) >= 5:
                break
            for a in _ip_addresses(frame, lt) or ():
                if not addressing.allowed(a) and str(a) not in bad:
                    bad.append(str(a))
    finally:
        r.close()
    return bad


def _mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def rewrite_l2(src, dst, lt, dmac, smac):
    """Copy pcap SRC to DST (classic pcap, Ethernet) with the Ethernet addresses replaced; the
    bytes from L3 on are copied untouched. tcprewrite is not used for this: it "repairs"
    packets (IPv4 total length, IPv6 frames it cannot parse), which would rewrite an
    incident into something else. Returns the number of packets."""
    from scapy.utils import RawPcapReader

    l2 = _mac_bytes(dmac) + _mac_bytes(smac)
    count = 0
    r = RawPcapReader(src)
    try:
        with open(dst, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
            for frame, _ in r:
                if lt == 1:
                    frame = l2 + frame[12:]
                elif lt == 113:
                    frame = l2 + frame[14:16] + frame[16:]
                elif lt == 276:
                    frame = l2 + frame[0:2] + frame[20:]
                else:  # raw IP
                    ethertype = b"\x08\x00" if frame[:1] and frame[0] >> 4 == 4 else b"\x86\xdd"
                    frame = l2 + ethertype + frame
                sec, usec = divmod(count, 1000000)
                out.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
                out.write(frame)
                count += 1
    finally:
        r.close()
    return count


def mac_of(ns, ifname, st=None, node=None):
    """The MAC address of IFNAME in namespace NS, or of a QEMU guest's NIC (known from the run)."""
    g = qemu.info(st, node) if st is not None else None
    if g is not None:
        return g["macs"][ifname]
    out = netns.ip(ns, "link", "show", "dev", ifname, json=True).stdout
    import json
    return json.loads(out)[0]["address"]


def replay(st, topo, pcap, node, iface, pps=1000, loops=1, limit=0, progress=None, check_addresses=True,
           on_start=None):
    """Replay PCAP so that NODE receives it on IFACE. Returns {'sent': n, 'seconds': s}.
    ON_START() is called when the checks and the rewrite are done and tcpreplay starts."""
    if not os.path.isfile(pcap):
        raise LabError(f"no such pcap: {pcap}", fix="give a path relative to the repository or absolute")
    if not 0 < pps <= MAX_REPLAY_PPS:
        raise LabError(f"--pps must be in (0, {MAX_REPLAY_PPS}]", fix="e.g. --pps 1000")
    if not 1 <= loops <= 1000:
        raise LabError("--loop must be 1..1000")
    lt = linktype(pcap)
    if lt not in LINKTYPES:
        raise LabError(f"pcap link type {lt} cannot be replayed onto Ethernet", pcap,
                       fix="capture on an Ethernet interface, or with tcpdump -i any (Linux cooked)")
    if check_addresses:
        bad = foreign_addresses(pcap)
        if bad:
            raise LabError(f"the pcap has addresses outside the lab ranges: {', '.join(bad)}", pcap,
                           fix="rewrite them first, e.g. tcprewrite --srcipmap=0.0.0.0/0:198.51.100.0/24 "
                               "--dstipmap=0.0.0.0/0:203.0.113.10/32 (see docs/lab.md)")
    end = topo.end(node, iface)
    peer = end.peer
    dmac = mac_of(st.ns(node), iface, st, node)
    smac = REPLAY_MAC
    base = os.path.join(st.dir, f"replay-{os.getpid()}-{int(time.time() * 1000)}")
    rewritten = base + ".pcap"
    n = rewrite_l2(pcap, rewritten, lt, dmac, smac)
    if n == 0:
        raise LabError("the pcap holds no packet", pcap)
    argv = ["tcpreplay", "-i", peer.ifname, f"--pps={pps}", f"--loop={loops}"]
    if limit:
        argv.append(f"--limit={limit}")
    argv.append(rewritten)
    if progress:
        progress.say(f"  replaying {os.path.relpath(pcap, REPO) if pcap.startswith(REPO) else pcap} into "
                     f"{node}:{iface} (sent from {peer.node}:{peer.ifname}) at {pps:g} pps")
    t0 = time.monotonic()
    if on_start:
        on_start()
    p = qemu.node_sh(st, peer.node, argv, check=False, timeout=3600)
    secs = time.monotonic() - t0
    os.unlink(rewritten)
    if p.returncode != 0:
        raise LabError(f"tcpreplay failed: {(p.stderr or p.stdout).strip()[-300:]}", pcap)
    m = re.search(r"Actual: (\d+) packets", p.stdout)
    return {"sent": int(m.group(1)) if m else 0, "seconds": secs}


class Capture:
    """A background tcpdump on NODE:IFACE writing a pcap in the run directory."""

    def __init__(self, lab, name, node, iface, bpf_filter="", snaplen=256):
        self.lab, self.name, self.node, self.iface = lab, name, node, iface
        self.path = lab.st.file(f"capture-{name}.pcap")
        # --immediate-mode: with the default ring-buffer timeout, packets of the last second
        # are still in the kernel when the capture is stopped and never reach the file.
        argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-s", str(snaplen), "-w", self.path]
        if qemu.is_guest(lab.st, node):
            argv[1:1] = ["-Z", "root"]  # a guest has no tcpdump user to drop privileges to
        if bpf_filter:
            argv += bpf_filter.split()
        self.rec = lab.spawn(node, "capture", argv, log_name=f"capture-{name}.log")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # tcpdump says "listening on" once the socket is open
            try:
                with open(self.rec["log"], encoding="utf-8", errors="replace") as f:
                    if "listening on" in f.read():
                        return
            except OSError:
                pass
            if not procs.alive(self.rec["pid"], self.rec["start"]):
                break
            time.sleep(0.05)
        raise LabError(f"tcpdump on {node}:{iface} did not start: see {self.rec['log']}")

    def stop(self):
        if procs.alive(self.rec["pid"], self.rec["start"]):
            procs.stop(self.rec, timeout=3, sig=signal.SIGINT)
        self.lab.st.drop_proc(self.rec["pid"])

    def count(self, bpf_filter=""):
        """Packets in the capture that match BPF_FILTER (tcpdump syntax)."""
        argv = ["tcpdump", "-n", "-r", self.path] + (bpf_filter.split() if bpf_filter else [])
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            raise LabError(f"reading capture {self.name} failed: {p.stderr.strip()[-200:]}",
                           fix="check the filter's tcpdump syntax")
        return len([ln for ln in p.stdout.splitlines() if ln.strip()])


class DropCapture:
    """edged's own capture of packets by verdict (`edgectl capture`), in the run directory.

    This is the incident loop's first half: what edged dropped, as a pcap that `replay`
    can send again. It ends by itself after COUNT packets or TIMEOUT seconds.
    """

    def __init__(self, lab, name, node, verdict="drop", count=1000, timeout=30, rule=None, stage=None):
        from . import edge
        self.lab, self.name, self.node = lab, name, node
        self.path = lab.st.file(f"capture-{name}.pcap")
        info = lab.st.data.get("edges", {}).get(node)
        if not info:
            raise LabError(f"edged does not run on {node}: no drop capture there")
        _, edgectl = edge.binaries()
        argv = [edgectl, "-s", info["socket"], "capture", "--verdict", verdict, "--count", str(count),
                "--timeout", str(timeout), "-w", self.path]
        if rule:
            argv[4:4] = ["--rule", rule]  # only what this DoS rule (or blocklist, ceiling) decided
        if stage:
            argv[4:4] = ["--stage", stage]
        # edgectl on the host, on the run directory's socket (bridged when edged is in a guest).
        self.rec = lab.spawn(node, "drop-capture", argv, log_name=f"capture-{name}.log", host=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # edged starts the stream with the pcap header
            if os.path.exists(self.path) and os.path.getsize(self.path) >= 24:
                return
            if not procs.alive(self.rec["pid"], self.rec["start"]):
                break
            time.sleep(0.05)
        with open(self.rec["log"], encoding="utf-8", errors="replace") as f:
            log = f.read().strip()
        raise LabError(f"edgectl capture on {node} did not start: {log[-300:]}")

    def stop(self, grace=2.0):
        """Let it end by itself (count reached) for up to GRACE seconds, then stop it."""
        deadline = time.monotonic() + grace
        while procs.alive(self.rec["pid"], self.rec["start"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if procs.alive(self.rec["pid"], self.rec["start"]):
            procs.stop(self.rec, timeout=3)
        self.lab.st.drop_proc(self.rec["pid"])

    count = Capture.count


class BackgroundReplay:
    """replay() in a thread, for a replay that must overlap other steps (a probe across a
    reload). Bounded like any replay: it ends when the pcap has been sent."""

    kind = "replay"

    def __init__(self, name, at, **kw):
        import threading
        self.name, self.node = name, at
        self._r = None
        self.started = threading.Event()  # set when tcpreplay starts sending
        self._t = threading.Thread(target=self._run, kwargs=dict(kw, on_start=self.started.set), daemon=True)
        self._t.start()

    def _run(self, **kw):
        try:
            self._r = replay(**kw)
        except LabError as e:
            self._r = {"sent": 0, "error": e.msg}

    def done(self):
        return not self._t.is_alive()

    def sending(self):
        return self.started.is_set() or self.done()

    def stop(self):
        self._t.join(timeout=120)

    def result(self):
        self._t.join(timeout=3600)
        return self._r
