# SPDX-License-Identifier: GPL-2.0
"""The QEMU tier: lab nodes that are QEMU guests with real NIC drivers instead of namespaces.

A topology node with `qemu:` (edge, customer-site, vpn-client) boots Debian's 6.1 kernel under
TCG from the lab's image (lab/qemu/image.sh). Its NICs are virtio-net-pci (multiqueue: native
XDP without the locked-TX fallback) or e1000/e1000e (generic XDP only), per link:

   lab-<id>-rtr1                 lab-<id>-edge1                 lab-<id>-rtr2
   +-----------+                 +--------------------------+   +-----------+
   | tap edge1 |<- virtio-net -->|   QEMU (edge1 guest)     |<->| tap edge1 |
   +-----------+                 |   mgmt tap 100.127.255.253  |   +-----------+
                                 +--------------------------+
                                   | agent.py exec / bridges: edgectl, birdc

QEMU starts inside the guest node's own lab namespace (nsenter --net), so its taps are born
there and never in the host's namespace; the data taps are then moved into the namespace of
the router at the other end of each link and renamed after the guest, as a veth would be.
The management tap stays: the guest's agent (lab/qemu/agent.py) listens on the far end, and
the lab reaches it from that namespace only. Guests have no other network.

What runs in the guest comes from the host through the agent -- the node's addresses (a
script in the run directory), edged, BIRD, the health watcher, the edge service, captures,
traffic -- each as a host process (the agent client) recorded like any other lab process, so
stopping it stops the guest process. Unix sockets in the guest (edged's control socket,
BIRD's) are bridged to the run directory, so edgectl and birdc work unchanged from the host.

Boot, every agent call and shutdown are bounded: a guest that does not answer in time is
killed and reported with its console log (lab/runs/<id>/<node>.console.log).
"""
import json
import os
import signal
import subprocess
import time

from . import netns, procs, state
from .errors import LabError

REPO = state.REPO
PY = "/usr/bin/python3"
AGENT = os.path.join(REPO, "lab", "qemu", "agent.py")
IMAGE_SH = os.path.join(REPO, "lab", "qemu", "image.sh")
KERNEL_SH = os.path.join(REPO, "tests", "qemu", "guest-kernel.sh")

MGMT_HOST = "100.127.255.253/30"   # the node namespace's end of the management link
MGMT_GUEST = "100.127.255.254/30"  # the guest's (topology.MGMT_NET: never a lab link)
AGENT_PORT = 7000
AGENT_ADDR = f"{MGMT_GUEST.split('/')[0]}:{AGENT_PORT}"
GUEST_BIRD_CTL = "/run/lab/bird.ctl"
GUEST_BIRD_PID = "/run/lab/bird.pid"

# Time bounds. Boot to a ready agent takes about 9 s here under TCG; the rest is for a busy
# two-core machine running several guests. Every one can be raised from the environment.
BOOT_TIMEOUT = float(os.environ.get("LAB_QEMU_BOOT_TIMEOUT", 120))
SHUTDOWN_TIMEOUT = float(os.environ.get("LAB_QEMU_SHUTDOWN_TIMEOUT", 10))
PING_TIMEOUT = 10.0  # an agent that does not answer a ping within this is hung
# CPU-bound work in a guest (the verifier on a reload, walking a 100k-entry map) is slower
# under TCG: measured 4-8x against the namespace lab on this machine for an edged reload.
# Scenario bounds on such work are multiplied by this for guest nodes (Lab.time_scale).
TIME_SCALE = float(os.environ.get("LAB_QEMU_TIME_SCALE", 8))
# No guest outlives this, whatever happens to the lab (timeout(1) around QEMU): a run killed
# with SIGKILL leaves its guests to `lab/lab down --stale`, but never running forever.
LIFETIME = int(os.environ.get("LAB_QEMU_LIFETIME", 6 * 3600))

QEMU_DEVICES = {"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e"}

# A silent node, as in runtime.BLACKHOLE_NFT, but the management link stays open: the lab
# must still reach the guest to restore it.
GUEST_BLACKHOLE_NFT = """
table inet lab_blackhole {
  chain pre { type filter hook prerouting priority -500; policy drop; iifname "mgmt" accept; }
  chain out { type filter hook output priority -500; policy drop; oifname "mgmt" accept; }
}
"""


def mac(guest_index, nic_index):
    """Deterministic guest NIC addresses (52:54:00 is QEMU's prefix); NIC 0 is management."""
    return "52:54:00:1a:%02x:%02x" % (guest_index, nic_index)


def info(st, node):
    """The guest record of NODE in run ST, or None when NODE is a namespace."""
    return (st.data.get("guests") or {}).get(node)


def is_guest(st, node):
    return info(st, node) is not None


def client_argv(st, node, argv, cwd=None):
    """Host argv running ARGV in the guest NODE through its agent (from the node's namespace)."""
    ns = netns.guard(st.ns(node))
    out = ["nsenter", f"--net={netns.NETNS_DIR}/{ns}", PY, AGENT, "exec", AGENT_ADDR]
    if cwd:
        out += ["--cwd", cwd]
    return out + ["--"] + [str(a) for a in argv]


def node_argv(st, node, argv, bpffs=False):
    """argv that runs ARGV in NODE, a guest or a namespace."""
    if is_guest(st, node):
        return client_argv(st, node, argv)
    return netns.exec_argv(st.ns(node), argv, bpffs=bpffs)


def node_sh(st, node, argv, check=True, timeout=30, bpffs=False, input=None):
    """netns.sh for any node; in a guest stdin is empty unless INPUT is given."""
    if is_guest(st, node):
        return netns.run(client_argv(st, node, argv), check=check, timeout=timeout,
                         input=input if input is not None else "")
    return netns.sh(st.ns(node), argv, check=check, timeout=timeout, bpffs=bpffs, input=input)


def map_summary(st, node, path):
    """lablib.bpfmap.map_summary of a map pinned in guest NODE's bpffs, run in the guest (the
    repository share has lablib; the host cannot open the guest's pins)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from lablib import bpfmap; "
            "print(json.dumps(bpfmap.map_summary(sys.argv[2])))")
    p = node_sh(st, node, [PY, "-B", "-c", code, os.path.join(REPO, "lab"), path], check=False,
                timeout=30 * TIME_SCALE)
    if p.returncode != 0:
        raise LabError(f"reading map {path} in guest {node} failed: {_last(p.stderr)}",
                       fix="is edged running there with the function that owns the map turned on?")
    return json.loads(p.stdout)


def ping(st, node, wait=0.0):
    """True when the guest's agent answers (within WAIT seconds of retrying)."""
    ns = netns.guard(st.ns(node))
    try:
        p = subprocess.run(["nsenter", f"--net={netns.NETNS_DIR}/{ns}", PY, AGENT, "ping", AGENT_ADDR,
                            "--wait", str(wait)], capture_output=True, text=True, timeout=wait + PING_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False
    return p.returncode == 0


def console_tail(st, node, n=12):
    path = st.file(f"{node}.console.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln.rstrip("\r\n") for ln in f.read().splitlines() if ln.strip()][-n:]
    except OSError:
        return f"    (no console log at {path})"
    return "\n".join("    | " + ln for ln in lines)


LOGS = (("console.log", "guest console"), ("edged.log", "edged"), ("bird.log", "BIRD"), ("setup.log", "bring-up"),
        ("qemu.log", "QEMU"))


def logs_hint(st, node):
    """Where NODE's logs of run ST are: a guest's console, edged's, BIRD's, its bring-up and
    QEMU's own, those the run wrote (a customer site has no edged log)."""
    rel = os.path.relpath(st.dir, REPO) if st.dir.startswith(REPO) else st.dir
    have = [f"{rel}/{node}.{name} ({what})" for name, what in LOGS if os.path.exists(st.file(f"{node}.{name}"))]
    return ", ".join(have) or f"{rel}/{node}.* (none written)"


def build_image(progress):
    """Paths of the guest kernel and image, built or fetched once and cached (build/qemu/)."""
    t0 = time.monotonic()
    out = {}
    for what, argv in (("kernel", ["bash", KERNEL_SH]), ("image", ["bash", IMAGE_SH])):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=REPO)
        except subprocess.TimeoutExpired:
            raise LabError(f"building the guest {what} took more than 15 minutes", fix=" ".join(argv)) from None
        if p.returncode != 0:
            raise LabError(f"the guest {what} could not be made:\n{p.stderr.strip()[-1500:]}",
                           fix=f"run `{' '.join(argv)}` to see why (make qemu-image builds the image)")
        out[what] = p.stdout.strip().splitlines()[-1]
    progress.say(f"  guest kernel {os.path.basename(os.path.dirname(out['kernel']))}, image "
                 f"{os.path.basename(out['image'])} ({time.monotonic() - t0:.1f}s)")
    return out["kernel"], out["image"]


class Guest:
    """One guest node of a lab run: how to boot it, wire it and configure it."""

    def __init__(self, lab, node, index):
        self.lab, self.st, self.topo = lab, lab.st, lab.topo
        self.node = lab.topo.nodes[node]
        self.name = node
        self.index = index
        self.ns = self.st.ns(node)

    # -------------------------------------------------------------------- boot
    def nics(self):
        """[(tap name in the node's namespace, LinkEnd, MAC, model)] of the data NICs."""
        return [(f"q{i}", end, mac(self.index, i), end.nic) for i, end in enumerate(self.node.ends, 1)]

    def qemu_argv(self, kernel, image):
        q = self.node.qemu
        smp = q["smp"]
        append = " ".join([
            "console=ttyS0", "quiet", "panic=-1",
            f"lab_node={self.name}", f"lab_mgmt={mac(self.index, 0)},{MGMT_GUEST},{AGENT_PORT}",
            f"lab_repo={REPO}", f"lab_run={self.st.dir}"])
        argv = ["timeout", "--kill-after=5", str(LIFETIME),
                "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", str(smp),
                "-m", str(q["memory"]), "-nodefaults", "-display", "none", "-no-reboot",
                "-serial", f"file:{self.st.file(f'{self.name}.console.log')}",
                "-kernel", kernel, "-initrd", image, "-append", append,
                # no /dev/vhost-net here: vhost=off everywhere
                "-netdev", "tap,id=mgmt,ifname=mgmt,script=no,downscript=no,vhost=off",
                "-device", f"virtio-net-pci,netdev=mgmt,mac={mac(self.index, 0)}"]
        for tap, end, hw, model in self.nics():
            nid = f"n{tap[1:]}"
            if model == "virtio":
                # Twice the vCPUs in queue pairs: the guest uses one pair per vCPU for traffic
                # (ethtool -L combined N) and virtio_net gives XDP_TX the other N, so native
                # XDP never falls back to a shared, locked TX queue.
                queues = 2 * smp
                argv += ["-netdev", f"tap,id={nid},ifname={tap},script=no,downscript=no,vhost=off,queues={queues}",
                         "-device", f"virtio-net-pci,netdev={nid},mac={hw},mq=on,vectors={2 * queues + 2}"]
            else:
                argv += ["-netdev", f"tap,id={nid},ifname={tap},script=no,downscript=no,vhost=off",
                         "-device", f"{QEMU_DEVICES[model]},netdev={nid},mac={hw}"]
        argv += ["-virtfs", f"local,path={REPO},mount_tag=repo,security_model=none,readonly=on",
                 "-virtfs", f"local,path={self.st.dir},mount_tag=run,security_model=none"]
        return argv

    def start(self, kernel, image):
        """Start QEMU in the node's namespace (its taps are born there) and record it."""
        for p in (REPO, self.st.dir):
            if any(c in p for c in " ,\t\n"):
                raise LabError(f"the path {p} has a space or comma, which the guest's kernel command line "
                               "and QEMU's -virtfs cannot carry", fix="use a checkout / LAB_RUNS path without them")
        argv = ["nsenter", f"--net={netns.NETNS_DIR}/{netns.guard(self.ns)}"] + self.qemu_argv(kernel, image)
        console = self.st.file(f"{self.name}.console.log")
        open(console, "w").close()
        rec = self.lab.spawn_host(self.name, "qemu", argv, log_name=f"{self.name}.qemu.log")
        with self.st.locked() as d:
            d.setdefault("guests", {})[self.name] = {
                "ns": self.ns, "agent": AGENT_ADDR, "qemu_pid": rec["pid"], "started": time.time(),
                "console": console, "macs": {end.ifname: hw for _, end, hw, _ in self.nics()},
                "nics": {end.ifname: model for _, end, _, model in self.nics()}, "ready": None}
        self.rec = rec
        self.t_start = time.monotonic()
        return rec

    def alive(self):
        return procs.alive(self.rec["pid"], self.rec["start"])

    def wire(self):
        """Management address on the node's end; data taps to the routers' namespaces."""
        wanted = ["mgmt"] + [tap for tap, _, _, _ in self.nics()]
        deadline = time.monotonic() + 15
        while True:
            have = set(netns.link_stats(self.ns))
            if all(w in have for w in wanted):
                break
            if not self.alive() or time.monotonic() > deadline:
                raise LabError(f"QEMU for {self.name} did not create its taps ({', '.join(sorted(set(wanted) - have))} "
                               f"missing):\n{_tail(self.st.file(f'{self.name}.qemu.log'))}",
                               fix=f"see {self.st.file(f'{self.name}.qemu.log')}")
            time.sleep(0.05)
        netns.ip_batch(self.ns, [f"addr add {MGMT_HOST} dev mgmt", "link set dev mgmt up"])
        for tap, end, _, _ in self.nics():
            peer_ns = self.st.ns(end.peer.node)
            # Moved, then renamed: two taps of one guest may take the same name in two routers.
            netns.ip(self.ns, "link", "set", "dev", tap, "netns", netns.guard(peer_ns))
            netns.ip(peer_ns, "link", "set", "dev", tap, "name", end.peer.ifname)
            netns.ip(peer_ns, "link", "set", "dev", end.peer.ifname, "mtu", self._mtu(end))

    def _mtu(self, end):
        for link in self.topo.links:
            if end in (link.a, link.b):
                return link.mtu
        return 1500

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Wait for the agent; a guest that dies or does not answer in time is killed and reported."""
        deadline = self.t_start + timeout
        while True:
            if not self.alive():
                raise LabError(f"guest {self.name} stopped while booting:\n{console_tail(self.st, self.name)}",
                               fix=f"see {self.st.file(f'{self.name}.console.log')} and "
                                   f"{self.st.file(f'{self.name}.qemu.log')}")
            if ping(self.st, self.name, wait=min(2.0, max(0.0, deadline - time.monotonic()))):
                break
            if time.monotonic() > deadline:
                procs.stop(self.rec, timeout=3)
                raise LabError(f"guest {self.name} was not ready within {timeout:.0f}s: killed\n"
                               f"{console_tail(self.st, self.name)}",
                               fix=f"see {self.st.file(f'{self.name}.console.log')}; a slow machine may need "
                                   "LAB_QEMU_BOOT_TIMEOUT=300")
        secs = time.monotonic() - self.t_start
        with self.st.locked() as d:
            d["guests"][self.name]["ready"] = secs
        return secs

    def start_bridges(self):
        """edged's and BIRD's control sockets in the guest, at their run-directory paths on the host."""
        maps = []
        if self.node.role == "edge":
            from . import edge
            inst = edge.instance_name(self.st.id, self.name)
            maps.append(f"{self.st.file(f'{self.name}.sock')}={guest_edged_socket(inst)}")
        if self.node.is_bgp:
            maps.append(f"{self.st.file(f'{self.name}.bird.ctl')}={GUEST_BIRD_CTL}")
        if maps:
            self.lab.spawn_host(self.name, "bridge", ["nsenter", f"--net={netns.NETNS_DIR}/{netns.guard(self.ns)}",
                                                      PY, AGENT, "bridge", AGENT_ADDR] + maps)

    # -------------------------------------------------------------------- node configuration
    def setup_script(self, ip_cmds, sysctls, extra=()):
        """The guest's part of bring-up, as a bash script in the run directory: NIC names by MAC,
        queues, sysctls, then the same `ip` commands a namespace node gets, then EXTRA lines
        (tunnel settings)."""
        lines = ["#!/bin/bash", f"# Bring-up of guest {self.name}, generated by lab/lab for one run; run through "
                 "its agent.", "set -eux"]
        lines.append("name_by_mac() { for d in /sys/class/net/*; do [[ $(cat $d/address) == $1 ]] && "
                     "ip link set dev ${d##*/} name $2 && return 0; done; echo no NIC with MAC $1; return 1; }")
        for _, end, hw, model in self.nics():
            lines.append(f"name_by_mac {hw} {end.ifname}")
        for _, end, _, model in self.nics():
            lines.append(f"ip link set dev {end.ifname} mtu {self._mtu(end)}")
            if model == "virtio":
                lines.append(f"ethtool -L {end.ifname} combined {self.node.qemu['smp']}")
        lines.append("sysctl -q -w " + " ".join(f"{k}={v}" for k, v in sysctls.items()))
        path = self.st.file(f"{self.name}.ip-batch")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(ip_cmds) + "\n")
        lines.append(f"ip -batch {path}")
        lines += list(extra)
        # e1000e needs 2-3 s after link up before it passes traffic: wait for carrier.
        for _, end, _, model in self.nics():
            lines.append(f"for i in $(seq 100); do [[ $(cat /sys/class/net/{end.ifname}/carrier) == 1 ]] && break; "
                         "sleep 0.1; done")
        return "\n".join(lines) + "\n"

    def configure(self, ip_cmds, sysctls, extra=()):
        script = self.st.file(f"{self.name}.setup.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(self.setup_script(ip_cmds, sysctls, extra))
        p = node_sh(self.st, self.name, ["bash", script], check=False, timeout=60)
        with open(self.st.file(f"{self.name}.setup.log"), "w", encoding="utf-8") as f:
            f.write(p.stdout + p.stderr)
        if p.returncode != 0:
            raise LabError(f"setting up guest {self.name} failed ({p.returncode}):\n{_last(p.stderr)}",
                           fix=f"see {self.st.file(f'{self.name}.setup.log')}")


def guest_edged_socket(instance):
    return f"/run/edged/{instance}.sock"


# ------------------------------------------------------------------------ uplink report
def uplinks(st, node, ifnames):
    """[{iface, driver, xdp (the kernel's attach mode), edged (edged's xdp_mode)}] of NODE's
    uplinks: `ethtool -i` and `ip -d link` in the node, `edgectl -j status` from edged. The
    driver edged reports wins over ethtool's: it is what edged attached to."""
    out = []
    script = "; ".join(f"echo \"{i} $(ethtool -i {i} 2>/dev/null | sed -n 's/^driver: //p')\"" for i in ifnames)
    drivers = {}
    p = node_sh(st, node, ["bash", "-c", script], check=False, timeout=20)
    for line in p.stdout.splitlines():
        parts = line.split()
        if parts:
            drivers[parts[0]] = parts[1] if len(parts) > 1 else "?"
    modes = {}
    p = node_sh(st, node, ["ip", "-j", "-d", "link", "show"], check=False, timeout=20)
    try:
        for link in json.loads(p.stdout or "[]"):
            x = link.get("xdp") or {}
            # IFLA_XDP_ATTACHED: 1 driver (native), 2 skb (generic), 3 offload
            modes[link["ifname"]] = {1: "native", 2: "generic", 3: "offload"}.get(x.get("mode"), "none")
    except ValueError:
        pass
    edged_modes = {}
    ed = (st.data.get("edges") or {}).get(node)
    if ed:
        from . import edge
        q = edge.edgectl(ed["ns"], ed["socket"], "-j", "status")
        try:
            for u in json.loads(q.stdout).get("uplinks", []):
                edged_modes[u["iface"]] = u.get("xdp_mode") + ("" if u.get("attached") else " (detached)")
                if u.get("driver") not in (None, "", "unknown"):
                    drivers[u["iface"]] = u["driver"]
        except (ValueError, AttributeError, TypeError):
            pass
    for i in ifnames:
        out.append({"iface": i, "driver": drivers.get(i, "?"), "xdp": modes.get(i, "?"),
                    "edged": edged_modes.get(i, "-")})
    return out


def uplinks_text(ups):
    return ", ".join(f"{u['iface']} {u['driver']}/{u['xdp']}" + ("" if u["edged"] in ("-", u["xdp"]) else
                                                                   f" (edged says {u['edged']})") for u in ups)


# ------------------------------------------------------------------------ health and shutdown
def check_alive(st, node):
    """None when guest NODE runs and its agent answers; otherwise why not (the guest is then
    killed: a hung guest is never left running)."""
    g = info(st, node)
    rec = next((r for r in st.data.get("procs", []) if r["node"] == node and r["role"] == "qemu"), None)
    if rec is None or not procs.alive(rec["pid"], rec["start"]):
        return f"guest {node}: QEMU is not running any more\n{console_tail(st, node)}"
    if ping(st, node, wait=PING_TIMEOUT):
        return None
    procs.stop(rec, timeout=3)
    return (f"guest {node}: its agent did not answer for {PING_TIMEOUT:.0f}s (hung): QEMU killed\n"
            f"{console_tail(st, node)}") if g else f"guest {node} is not recorded"


def shutdown(st, node, progress):
    """Power the guest off (reboot -f; QEMU runs with -no-reboot), wait SHUTDOWN_TIMEOUT for
    QEMU to exit, then kill it. Returns the problems to report."""
    issues = []
    recs = [r for r in st.data.get("procs", []) if r["node"] == node and r["role"] == "qemu"]
    booted = (info(st, node) or {}).get("ready")
    for rec in recs:
        if not procs.alive(rec["pid"], rec["start"]):
            continue
        t0 = time.monotonic()
        if not booted:  # interrupted while booting: there is no agent to ask, nothing to save
            procs.stop(rec, timeout=3)
            progress.say(f"  node {node:<10} guest stopped while booting")
            continue
        # The agent's answer never comes (the guest is gone first): the client is left to die.
        client = subprocess.Popen(client_argv(st, node, ["reboot", "-f"]), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while procs.alive(rec["pid"], rec["start"]) and time.monotonic() - t0 < SHUTDOWN_TIMEOUT:
            procs.reap()
            time.sleep(0.05)
        client.kill()
        client.wait()
        if procs.alive(rec["pid"], rec["start"]):
            procs.stop(rec, timeout=3, sig=signal.SIGTERM)
            issues.append(f"guest {node} did not power off within {SHUTDOWN_TIMEOUT:.0f}s: QEMU killed "
                          f"(console: {st.file(f'{node}.console.log')})")
        else:
            progress.say(f"  node {node:<10} guest powered off ({time.monotonic() - t0:.1f}s)")
    return issues


def _tail(path, n=8):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\n".join("    " + ln for ln in f.read().splitlines()[-n:])
    except OSError:
        return "    (no log)"


def _last(text, n=8):
    return "\n".join("    " + ln for ln in text.strip().splitlines()[-n:])
