# SPDX-License-Identifier: GPL-2.0
"""A running lab: bring a topology up in namespaces, act on its nodes, tear it down.

Order of bring-up: namespaces (+ sysctls) -> QEMU guests started (their taps moved into the
routers' namespaces) -> veth links -> addresses and host routes -> guests ready and configured
-> origin and edge services -> edged on every edge -> health watchers -> BIRD everywhere ->
wait until BGP has converged (every session Established, every router has the anycast routes
with one nexthop per healthy neighbouring edge). A QEMU guest node (lab/lablib/qemu.py) keeps
its namespace, which holds only its management link; what runs "in the node" runs in the guest.

Teardown works from the state file alone (so it also cleans stale runs): health watchers ->
edged (SIGTERM) and `edged --teardown` per edge BEFORE its namespace goes (nothing may stay
pinned under /sys/fs/bpf/edged/) -> every other recorded process -> namespaces.
"""
import contextlib
import os
import random
import shutil
import signal
import subprocess
import time

from . import bird, edge, netns, procs, qemu, state, topology, wireguard
from .errors import LabError
from .report import Waiter

REPO = state.REPO
ROLES_DIR = os.path.join(REPO, "lab", "roles")
PY = "/usr/bin/python3"
BPFFS = "/sys/fs/bpf"
PIN_ROOT = "/sys/fs/bpf/edged"
HEALTH_INTERVAL = "0.5"  # edge health poll: a failed edged is withdrawn within ~0.5 s

SYSCTL_ALL = {
    # IPv6 addresses usable at once (no DAD) and kept across link down/up (fail/restore).
    "net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0,
    "net.ipv6.conf.all.keep_addr_on_down": 1, "net.ipv6.conf.default.keep_addr_on_down": 1,
    "net.ipv6.conf.all.accept_ra": 0, "net.ipv6.conf.default.accept_ra": 0,
    # New namespaces inherit the host's IPv4 rp_filter; spoofed-source tests need it off.
    "net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0,
}
SYSCTL_ROUTER = {
    "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1,
    # ECMP on the L4 5-tuple: flows of one client spread over the edges.
    "net.ipv4.fib_multipath_hash_policy": 1, "net.ipv6.fib_multipath_hash_policy": 1,
}
SYSCTL_EDGE = {"net.ipv6.ip_nonlocal_bind": 1}

# A node that stops answering while its links stay up (lab-owned table, in the node's netns;
# edged's own tables are untouched). ARP is not inet-family, so neighbours stay resolved.
BLACKHOLE_NFT = """
table inet lab_blackhole {
  chain pre { type filter hook prerouting priority -500; policy drop; }
  chain out { type filter hook output priority -500; policy drop; }
}
"""


class Lab:
    def __init__(self, st, topo, progress):
        self.st = st
        self.topo = topo
        self.progress = progress
        self.children = []  # Popen objects of this process, reaped at exit
        self.no_edged = bool(st.data.get("options", {}).get("no_edged"))
        self.guests = {}    # name -> qemu.Guest, for the guests this process boots

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, topo, progress, no_edged=False):
        st = state.new_run(topo.path, {"no_edged": no_edged})
        return cls(st, topo, progress)

    @classmethod
    def attach(cls, st, progress):
        topo = topology.load(st.data["topology"])
        return cls(st, topo, progress)

    def ns(self, node):
        if node not in self.topo.nodes:
            raise LabError(f"no node '{node}' in topology {self.topo.name}",
                           fix="use one of: " + ", ".join(self.topo.nodes))
        return self.st.ns(node)

    def edge_runs_edged(self, node):
        return self.topo.nodes[node].edged and not self.no_edged

    def is_guest(self, node):
        return self.topo.nodes[node].is_guest

    def time_scale(self, node):
        """How much longer work inside NODE may take than in a namespace: 1, or for a QEMU guest
        (TCG emulates every instruction: a reload's verifier run, a map walk)
        qemu.TIME_SCALE. Bounds on such work in scenarios are multiplied by it; bounds set by
        the network (BGP timers, failover) are not."""
        return qemu.TIME_SCALE if self.is_guest(node) else 1.0

    def node_sh(self, node, argv, check=True, timeout=30, bpffs=False, input=None):
        """A command in NODE (inside the guest for a QEMU guest), to its end."""
        return qemu.node_sh(self.st, node, argv, check=check, timeout=timeout, bpffs=bpffs, input=input)

    def up(self):
        p = self.progress
        topo = self.topo
        preflight()
        p.say(f"lab {self.st.prefix}: bringing up '{topo.name}' ({len(topo.nodes)} nodes, "
              f"{len(topo.links)} links); run dir {os.path.relpath(self.st.dir, REPO)}")
        if any(self.edge_runs_edged(e.name) for e in topo.edges):
            self._check_edged_binaries()
            ensure_bpffs()
        if topo.guests:
            kernel, image = qemu.build_image(p)
        for node in topo.nodes.values():
            self._create_node(node)
        # Guests boot (about 9 s under TCG) while the namespaces are wired around them.
        for i, node in enumerate(topo.guests, 1):
            g = self.guests[node.name] = qemu.Guest(self, node.name, i)
            g.start(kernel, image)
            nics = ", ".join(f"{e.ifname} {e.nic}" for e in node.ends)
            p.say(f"  node {node.name:<10} QEMU guest booting (NICs: {nics}; console "
                  f"{os.path.relpath(self.st.file(node.name + '.console.log'), REPO)})")
        for g in self.guests.values():
            g.wire()
        veths = [ln for ln in topo.links if not (topo.nodes[ln.a.node].is_guest or topo.nodes[ln.b.node].is_guest)]
        p.say(f"  {len(topo.nodes)} namespaces created; wiring {len(veths)} veth links"
              + (f" and {len(topo.links) - len(veths)} guest taps" if len(veths) < len(topo.links) else ""))
        for link in veths:
            netns.veth(self.st.ns(link.a.node), link.a.ifname, self.st.ns(link.b.node), link.b.ifname, link.mtu)
        self.peer_xdp_pass(veths)
        for node in topo.nodes.values():
            if not node.is_guest:
                self._configure_node(node)
        self._write_bird_configs()
        for node in topo.by_role("origin"):
            self._start_origin(node)
        for name, g in self.guests.items():
            secs = g.wait_ready()
            p.say(f"  node {name:<10} guest ready: boot to agent {secs:.1f}s")
            g.start_bridges()
            self._configure_node(topo.nodes[name])
        for node in topo.edges:
            self._start_edge_service(node)
        for node in topo.edges:
            if self.edge_runs_edged(node.name):
                self.start_edged(node.name, node.template)
            self._start_health(node)
        for node in topo.nodes.values():
            if node.is_bgp:
                self.start_bird(node.name)
        self.wait_converged(timeout=60)
        self.st.set_status("up")
        p.say(f"lab {self.st.prefix} is up")

    def peer_xdp_pass(self, veths):
        """An XDP program that passes everything on the router's end of every veth to an edge.

        edged answers SYNs with cookies from XDP (XDP_TX, out of the uplink they came in on),
        and a veth delivers XDP_TX frames only when its other end runs NAPI: an XDP program
        there turns it on; without one the frames are dropped silently (the edge's `ethtool
        -S` counts them as xdp_tx_errors). GRO on the router's end, the other arrangement the
        platform notes name, did not deliver them on this kernel (measured in the lab). The
        program only passes frames, so nothing else changes for the router."""
        pairs = [(ln.b, ln.a) if self.topo.nodes[ln.a.node].role == "edge" else (ln.a, ln.b) for ln in veths
                 if "edge" in (self.topo.nodes[ln.a.node].role, self.topo.nodes[ln.b.node].role)]
        pairs = [(r, e) for r, e in pairs if self.topo.nodes[r.node].role in topology.ROUTING_ROLES]
        if not pairs:
            return
        try:
            obj = xdp_pass_object()
        except LabError as e:
            self.progress.warn(f"{e.msg}: XDP_TX from the edges (SYN cookies) will not reach the routers")
            return
        for r, e in pairs:
            p = netns.ip(self.st.ns(r.node), "link", "set", "dev", r.ifname, "xdp", "obj", obj, "sec", "xdp",
                         check=False)
            if p.returncode != 0:
                self.progress.warn(f"xdp_pass on {r.node}:{r.ifname} (towards {e.node}) failed: {p.stderr.strip()}; "
                                   "XDP_TX frames of that uplink will be lost")

    def _check_edged_binaries(self):
        edged, edgectl = edge.binaries()
        for b in (edged, edgectl):
            if not os.access(b, os.X_OK):
                raise LabError(f"{os.path.relpath(b, REPO)} is missing", fix="build it with `make`, or pass --no-edged "
                               "to run the lab's mechanics (topology, BGP, traffic) without edged")

    def _create_node(self, node):
        ns = self.st.ns(node.name)
        self.st.add_namespace(ns)  # recorded first: a crash right after still gets it cleaned
        netns.add(ns)
        if node.is_guest:
            # Only the management link lives here; the node's own sysctls are the guest's.
            netns.sysctls(ns, {"net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0})
            self.progress.say(f"  node {node.name:<10} {node.role:<13} QEMU guest, namespace {ns} (management)")
            return
        settings = dict(SYSCTL_ALL)
        optional = ()
        if node.role in topology.ROUTING_ROLES:
            settings.update(SYSCTL_ROUTER)
            # A different hash seed per router: without it every router hashes a flow the
            # same way and the second ECMP stage sees only the flows the first gave it.
            settings["net.ipv4.fib_multipath_hash_seed"] = random.randint(1, 2**31 - 1)
            optional = ("net.ipv4.fib_multipath_hash_seed",)
        if node.role == "edge":
            settings.update(SYSCTL_EDGE)
        netns.sysctls(ns, settings, optional)
        self.progress.say(f"  node {node.name:<10} {node.role:<13} namespace {ns}")

    def _configure_node(self, node):
        cmds = ["link set dev lo up"]
        for end in node.ends:
            cmds += [f"addr add {end.addr4} dev {end.ifname}",
                     f"addr add {end.addr6} dev {end.ifname} nodad",
                     f"link set dev {end.ifname} up"]
        for lo in node.loopback:
            cmds.append(f"addr add {lo} dev lo" + (" nodad" if lo.version == 6 else ""))
        if node.role in topology.HOST_ROLES:
            cmds += [f"route add default via {topology.default_gateway(self.topo, node.name, 4)}",
                     f"route add default via {topology.default_gateway(self.topo, node.name, 6)}"]
        if node.role == "edge":
            # AnyIP: every address of the anycast prefixes is local on the edge.
            for pfx in node.anycast:
                cmds.append(f"route add local {pfx} dev lo")
        if node.is_guest:
            sysctls = dict(SYSCTL_ALL)
            if node.role == "edge":
                sysctls.update(SYSCTL_EDGE)
                # The VIPs as addresses of lo as well: a guest edge's egress runs kernel
                # WireGuard, which answers from the address a handshake came to only when that
                # is a device's address (a `local` route alone is refused as a source, and it
                # falls back to the uplink's): the client would roam to one edge's unicast
                # address, out of anycast. (wireguard-go, on namespace edges, needs no such.)
                cmds += [f"addr add {v}/{v.max_prefixlen} dev lo" + (" nodad" if v.version == 6 else "")
                         for v in self.topo.vips]
            tun_ip, tun_sh = self._guest_tunnels(node)
            self.guests[node.name].configure(cmds + tun_ip, sysctls, tun_sh)
            return
        netns.ip_batch(self.st.ns(node.name), cmds)
        if node.wireguard:
            self._start_wireguard_go(node)

    def _guest_tunnels(self, node):
        """(ip commands, shell lines) of a guest's tunnels: a customer site's GRE (gre1, the
        guest kernel's ip_gre) and a VPN client's kernel WireGuard (wg0). The modules load on
        demand when the links are created."""
        ip_cmds, sh = [], []
        if node.gre:
            g = node.gre
            local = g["local"] or node.addr(4)
            ip_cmds.append(f"link add gre1 type gre local {local} remote {g['remote']} ttl 64")
            if g["address"]:
                ip_cmds.append(f"addr add {g['address']} dev gre1")
            ip_cmds.append("link set dev gre1 up")
            # The customer's hosts: the whole prefix local (lo), and what they send goes into
            # the tunnel (table 100); the internet reaches them only through the edge.
            for h in g["hosts"]:
                ip_cmds += [f"addr add {h} dev lo", f"rule add from {h.network} lookup 100 pref 100"]
            if g["hosts"]:
                ip_cmds.append("route add default dev gre1 table 100")
            # The edge's GRE keepalives: ip_gre unwraps an echo reply from this site's own
            # address to the endpoint, which the site forwards straight back (plain IP).
            sh.append("sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.gre1.accept_local=1 "
                      "net.ipv4.conf.gre1.rp_filter=0")
        if node.wireguard:
            w = node.wireguard
            key = self._wg_key(f"{node.name}.wg.key")
            peer = w["peer_key"] or _wg_pub(wireguard.endpoint_key(self.st))
            endpoint = w["endpoint"] or self.topo.vip(4)
            ip_cmds += ["link add wg0 type wireguard", f"addr add {w['address']} dev wg0", "link set dev wg0 up"]
            # With routes (the internet through the tunnel: egress), the peer is allowed every
            # source, as a namespace client's is.
            allowed = "0.0.0.0/0,::/0" if w.get("routes") else str(w["address"].network)
            sh.append(f"wg set wg0 private-key {key} peer {peer} endpoint {endpoint}:{w['port']} "
                      f"allowed-ips {allowed} persistent-keepalive 5")
            sh += [f"ip route add {r} dev wg0" for r in w.get("routes", [])]
        return ip_cmds, sh

    def _wg_key(self, name):
        """A WireGuard private key in the run directory (lablib/wireguard.py). Without a
        peer_key in the topology, the client's peer is a key of the run's own: the fleet's VPN
        endpoint (edged's egress) takes its private half from the run directory."""
        return wireguard.key(self.st, name)

    def _start_wireguard_go(self, node):
        """A namespace VPN client: wireguard-go (the host kernel has no WireGuard) on a per-run
        interface, configured with wg(8) towards the fleet's endpoint; the tunnel carries the
        address's network and the topology's routes."""
        w = node.wireguard
        idx = sorted(n.name for n in self.topo.by_role("vpn-client")).index(node.name)
        ifn = wireguard.ifname(self.st, "c", idx)
        sock = f"/var/run/wireguard/{ifn}.sock"
        self.spawn(node.name, "wireguard-go", ["env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", ifn])
        deadline = time.monotonic() + 5
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                raise LabError(f"wireguard-go for {node.name} did not open {sock}",
                               fix=f"see {os.path.relpath(self.st.file(node.name + '.wireguard-go.log'), REPO)}")
            time.sleep(0.05)
        key = wireguard.client_key(self.st, node.name)
        peer = w["peer_key"] or wireguard.pub(wireguard.endpoint_key(self.st))
        endpoint = w["endpoint"] or self.topo.vip(4)
        ns = self.st.ns(node.name)
        netns.run(netns.exec_argv(ns, ["wg", "set", ifn, "private-key", key, "peer", peer, "endpoint",
                                       f"{endpoint}:{w['port']}", "allowed-ips", "0.0.0.0/0,::/0",
                                       "persistent-keepalive", "1"]))
        cmds = [f"addr add {w['address']} dev {ifn}", f"link set dev {ifn} up"]
        cmds += [f"route add {r} dev {ifn}" for r in w.get("routes", [])]
        netns.ip_batch(ns, cmds)
        self.progress.say(f"  node {node.name:<10} wireguard-go {ifn} -> {endpoint}:{w['port']}")

    # ------------------------------------------------------------------ processes
    def spawn(self, node, role, argv, bpffs=False, log_name=None, host=False):
        """Start ARGV in NODE: its namespace, or inside its guest (host=True: the guest node's
        namespace on the host, for host tools such as edgectl on a bridged socket)."""
        if self.is_guest(node) and not host:
            full = qemu.client_argv(self.st, node, argv)
        else:
            full = netns.exec_argv(self.st.ns(node), argv, bpffs=bpffs)
        return self.spawn_host(node, role, full, log_name)

    def spawn_host(self, node, role, full_argv, log_name=None):
        """Start FULL_ARGV as it is (it enters its namespace itself) and record it for NODE."""
        log = self.st.file(log_name or f"{node}.{role}.log")
        proc, rec = procs.spawn(full_argv, log)
        self.children.append(proc)
        return self.st.add_proc(rec, node, role)

    def _start_origin(self, node):
        self.spawn(node.name, "origin", [PY, os.path.join(ROLES_DIR, "origin_http.py"), "--name", node.name,
                                         "--port", str(node.http_port), "--hits", self.hits_file(node.name)])

    def hits_file(self, node):
        return self.st.file(f"{node}.hits")

    def _start_edge_service(self, node):
        argv = [PY, os.path.join(ROLES_DIR, "edge_service.py"), "--name", node.name]
        for v in self.topo.vips:
            if any(v in p for p in node.anycast if p.version == v.version):
                argv += ["--vip", str(v)]
        if node.origin:
            o = self.topo.nodes[node.origin]
            argv += ["--origin", str(o.addr(4)), "--origin", str(o.addr(6)), "--origin-port", str(o.http_port)]
        if "--vip" in argv:
            self.spawn(node.name, "service", argv)
            self.spawn(node.name, "iperf3", ["iperf3", "-s", "-p", "5201"])
            if node.is_guest:
                self._wait_service(node.name)

    def _wait_service(self, node, timeout=30):
        """A guest's Python starts slowly under TCG: wait until the edge service listens on :80."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.node_sh(node, ["grep", "-qE", ":0050 [0-9A-F]+:[0-9A-F]+ 0A ", "/proc/net/tcp",
                                    "/proc/net/tcp6"], check=False, timeout=10)
            if p.returncode == 0:
                return
            time.sleep(0.3)
        raise LabError(f"the edge service on guest {node} did not listen on port 80 within {timeout}s",
                       fix=f"see {self.st.file(node + '.service.log')}")

    def _write_bird_configs(self):
        for node in self.topo.nodes.values():
            if not node.is_bgp:
                continue
            conf = self.st.file(f"{node.name}.bird.conf")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(bird.config(self.topo, node, self.st.file(f"{node.name}.bird.log")))
            ok, msg = bird.validate(conf)
            if not ok:
                raise LabError(f"generated BIRD config of {node.name} is invalid: {msg}", conf,
                               fix="this is a lab bug: report it with the config file")

    def bird_ctl(self, node):
        return self.st.file(f"{node}.bird.ctl")

    def start_bird(self, node):
        self.progress.say(f"  node {node:<10} starting BIRD (AS {self.topo.nodes[node].asn})")
        # -f: foreground, so the recorded PID is BIRD itself. In a guest the control socket is
        # the guest's own; the bridge makes it bird_ctl() on the host.
        ctl, pid = (qemu.GUEST_BIRD_CTL, qemu.GUEST_BIRD_PID) if self.is_guest(node) else \
            (self.bird_ctl(node), self.st.file(f"{node}.bird.pid"))
        self.spawn(node, "bird", ["bird", "-f", "-c", self.st.file(f"{node}.bird.conf"), "-s", ctl, "-P", pid])

    def _start_health(self, node):
        ctl = self.bird_ctl(node.name)
        protos = ",".join(f"anycast{p.version}" for p in node.anycast)
        protos = ",".join(dict.fromkeys(protos.split(",")))
        if self.edge_runs_edged(node.name) and node.is_guest:
            # The watcher runs in the guest, next to edged and BIRD, as on a real server.
            ctl = qemu.GUEST_BIRD_CTL
            check = ["edgectl", "-s", qemu.guest_edged_socket(edge.instance_name(self.st.id, node.name)), "-j",
                     "status"]
        elif self.edge_runs_edged(node.name):
            _, edgectl = edge.binaries()
            check = [edgectl, "-s", self.edge_sock(node.name), "-j", "status"]
        else:
            check = ["true"]  # no edged: the edge is healthy by definition (mechanics-only runs)
            if node.is_guest:
                ctl = qemu.GUEST_BIRD_CTL
        self.spawn(node.name, "health", [os.path.join(ROLES_DIR, "edge-health"), ctl, HEALTH_INTERVAL, protos, "--"]
                   + check)

    def edge_sock(self, node):
        return self.st.file(f"{node}.sock")

    # ------------------------------------------------------------------ edged
    def start_edged(self, node, template=None):
        n = self.topo.nodes[node]
        template = template or n.template
        guest_sock = None
        if n.is_guest:
            # edged in the guest is the image's copy of this build; its socket is the guest's,
            # bridged to the run directory (edge_sock) for edgectl on the host.
            guest_sock = qemu.guest_edged_socket(edge.instance_name(self.st.id, node))
            modes = {e.ifname: topology.NIC_MODELS[e.nic] for e in n.ends}
            cfg = edge.build_config(template, self.topo, n, self.st, control_socket=guest_sock, uplink_modes=modes)
        else:
            cfg = edge.build_config(template, self.topo, n, self.st)
        path = self.st.file(f"{node}.edged.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(edge.dump(cfg))
        with self.st.locked() as d:
            d["edges"][node] = {"ns": self.st.ns(node), "instance": cfg["instance"], "config": path,
                                "socket": self.edge_sock(node) if n.is_guest else cfg["control_socket"],
                                "template": template, "guest": n.is_guest}
        edged, _ = edge.binaries()
        if n.is_guest:
            edged = "edged"
        chk = self.node_sh(node, [edged, "--check", "-c", path], check=False, bpffs=True)
        if chk.returncode != 0:
            raise LabError(f"edged rejects the config generated for {node}:\n{(chk.stderr or chk.stdout).strip()}",
                           template, None, f"fix the template (generated file: {path})")
        with self.st.locked() as d:
            d["edges"][node]["checked"] = True  # from here on, teardown must run for it
        self.progress.say(f"  node {node:<10} starting edged (instance {cfg['instance']}, "
                          f"uplinks {', '.join(u['name'] for u in cfg['uplinks'])})")
        if n.is_guest:
            rec = self.spawn(node, "edged", [edged, "-c", path], bpffs=True)
        else:
            # nsenter --net only, not nsexec's private mount namespace: edged pins the network
            # namespaces it makes (transit's per-customer ones) under /run/netns, and mounts
            # made in a private mount namespace vanish with edged, taking the customers'
            # namespaces and traffic down with it (and leaving empty files in /run/netns that
            # a later edged cannot open). edged reads nothing of the namespace's sysfs; the
            # host's /sys keeps /sys/fs/bpf, where it pins.
            rec = self.spawn_host(node, "edged", ["nsenter", f"--net=/run/netns/{netns.guard(self.st.ns(node))}",
                                                  edged, "-c", path])
        # Under TCG the verifier alone takes seconds: a guest gets longer.
        wait = 60 if n.is_guest else 20
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not procs.alive(rec["pid"], rec["start"]):
                raise LabError(f"edged on {node} exited during start:\n{tail(rec['log'])}",
                               fix=f"see {rec['log']}")
            if edge.healthy(self.st.ns(node), self.edge_sock(node) if n.is_guest else cfg["control_socket"]):
                return rec
            time.sleep(0.1)
        raise LabError(f"edged on {node} did not answer `edgectl status` within {wait} s:\n{tail(rec['log'])}")

    def stop_edged(self, node):
        for rec in self.st.procs(node=node, role="edged"):
            procs.stop(rec, timeout=5)
            self.st.drop_proc(rec["pid"])

    def write_edged_config(self, node, template):
        """Render TEMPLATE for NODE into the config file its edged reads (on start and reload);
        checked with `edged --check` first. Returns the path."""
        n = self.topo.nodes[node]
        info = self.st.data["edges"].get(node)
        if not info:
            raise LabError(f"edged does not run on {node}", fix="start it first (no --no-edged)")
        kw = {}
        if n.is_guest:
            kw = {"control_socket": qemu.guest_edged_socket(info["instance"]),
                  "uplink_modes": {e.ifname: topology.NIC_MODELS[e.nic] for e in n.ends}}
        cfg = edge.build_config(template, self.topo, n, self.st, **kw)
        path = info["config"]
        tmp = path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(edge.dump(cfg))
        edged, _ = edge.binaries()
        chk = self.node_sh(node, ["edged" if n.is_guest else edged, "--check", "-c", tmp], check=False, bpffs=True,
                           timeout=60)
        if chk.returncode != 0:
            os.unlink(tmp)
            raise LabError(f"edged rejects the config generated for {node}:\n{(chk.stderr or chk.stdout).strip()}",
                           template, None, "fix the template")
        os.replace(tmp, path)  # edged reads the whole new file or the old one, never half
        with self.st.locked() as d:
            d["edges"][node]["template"] = template
        return path

    def reload_edged(self, node):
        """`edgectl reload` on NODE (edged re-reads its config file). Returns (seconds, output);
        a rejected reload is a LabError."""
        info = self.st.data["edges"][node]
        t0 = time.monotonic()
        p = edge.edgectl(info["ns"], info["socket"], "reload", timeout=120)
        secs = time.monotonic() - t0
        if p.returncode != 0:
            raise LabError(f"edgectl reload on {node} failed ({p.returncode}): {(p.stderr or p.stdout).strip()}",
                           fix=f"see {self.st.file(node + '.edged.log')}")
        return secs, p.stdout.strip()

    def edge_stats(self, node):
        """`edgectl -j stats` of NODE, with `edgectl -j dos rules` under "dos" (None while the
        DoS function is off): counter paths reach both (edge.counter)."""
        info = self.st.data["edges"].get(node)
        if not info:
            raise LabError(f"edged does not run on {node}", fix="counters need edged: drop --no-edged")
        # A guest's edged answers through TCG: slower, bounded all the same.
        timeout = 10 * self.time_scale(node)
        doc = edge.stats(info["ns"], info["socket"], timeout=timeout)
        doc["dos"] = edge.dos_rules(info["ns"], info["socket"], timeout=timeout)
        return doc

    # ------------------------------------------------------------------ failures
    def fail(self, node, how):
        """Fail NODE. blackhole: the node goes silent with its links up (a hung server behind
        a switch): routers notice only when the BGP hold timer expires. link-down: carrier
        loss, which BIRD notices at once. edged-stop: edged stops and the health watcher
        withdraws the anycast routes. bird-kill: BIRD dies, the kernel resets its sessions."""
        ns = self.ns(node)
        guest = self.is_guest(node)
        if how == "blackhole":
            self.node_sh(node, ["nft", "-f", "-"], input=qemu.GUEST_BLACKHOLE_NFT if guest else BLACKHOLE_NFT)
        elif how == "link-down" and guest:
            # The guest's NIC down, and the tap at the router's end: a tap has no carrier to lose,
            # and the router must see the link go at once, as with a veth.
            for end in self.topo.nodes[node].ends:
                self.node_sh(node, ["ip", "link", "set", "dev", end.ifname, "down"])
                netns.ip(self.st.ns(end.peer.node), "link", "set", "dev", end.peer.ifname, "down")
        elif how == "link-down":
            for end in self.topo.nodes[node].ends:
                netns.ip(ns, "link", "set", "dev", end.ifname, "down")
        elif how == "edged-stop":
            self.stop_edged(node)
        elif how == "bird-kill":
            for rec in self.st.procs(node=node, role="bird"):
                # In a guest the record is the agent client: SIGUSR2 asks it to SIGKILL BIRD.
                procs.stop(rec, sig=signal.SIGUSR2 if guest else signal.SIGKILL)
                self.st.drop_proc(rec["pid"])
        else:
            raise LabError(f"unknown failure '{how}'", fix="use blackhole, link-down, edged-stop or bird-kill")
        with self.st.locked() as d:
            d["failed"][node] = how

    def restore(self, node):
        how = self.st.data.get("failed", {}).get(node)
        if how is None:
            return
        ns = self.ns(node)
        guest = self.is_guest(node)
        if how == "blackhole":
            self.node_sh(node, ["nft", "delete", "table", "inet", "lab_blackhole"])
        elif how == "link-down" and guest:
            for end in self.topo.nodes[node].ends:
                netns.ip(self.st.ns(end.peer.node), "link", "set", "dev", end.peer.ifname, "up")
                self.node_sh(node, ["ip", "link", "set", "dev", end.ifname, "up"])
        elif how == "link-down":
            for end in self.topo.nodes[node].ends:
                netns.ip(ns, "link", "set", "dev", end.ifname, "up")
        elif how == "edged-stop":
            self.start_edged(node, self.st.data["edges"].get(node, {}).get("template"))
        elif how == "bird-kill":
            self.start_bird(node)
            if self.topo.nodes[node].role == "edge":
                # The watcher remembers what it told the old BIRD: start it afresh.
                for rec in self.st.procs(node=node, role="health"):
                    procs.stop(rec)
                    self.st.drop_proc(rec["pid"])
                self._start_health(self.topo.nodes[node])
        with self.st.locked() as d:
            d["failed"].pop(node, None)

    # ------------------------------------------------------------------ convergence
    def expected_nexthops(self):
        """{(router, prefix): n}: routers next to edges expect one path per healthy edge."""
        failed = self.st.data.get("failed", {})
        out = {}
        for r in self.topo.by_role(*topology.ROUTING_ROLES):
            for pfx in bird.anycast_routes(self.topo):
                n = sum(1 for end, peer in topology.neighbors(self.topo, r.name)
                        if peer.role == "edge" and pfx in peer.anycast and peer.name not in failed)
                out[(r.name, pfx)] = n
        return out

    def convergence(self):
        """(done, detail) of the current BGP state."""
        est = total = 0
        failed = self.st.data.get("failed", {})
        for node in self.topo.nodes.values():
            if node.is_bgp and node.name not in failed:
                e, t = bird.bgp_established(self.bird_ctl(node.name))
                if t == 0:
                    return False, f"BIRD on {node.name} not answering yet"
                est, total = est + e, total + t
        missing = []
        for (r, pfx), n in self.expected_nexthops().items():
            have = len(netns.route_nexthops(self.st.ns(r), pfx))
            if (n and have != n) or (not n and have == 0):
                missing.append(f"{r} {pfx} {have}/{n or '>0'} paths")
        if not failed and est < total:
            return False, f"{est}/{total} BGP sessions established"
        if missing:
            return False, f"{est}/{total} sessions; " + ", ".join(missing[:3])
        return True, f"{est}/{total} BGP sessions established, anycast routes complete"

    def wait_converged(self, timeout=60):
        w = Waiter(self.progress, "BGP convergence")
        deadline = time.monotonic() + timeout
        while True:
            done, detail = self.convergence()
            if done:
                self.progress.say(f"  BGP converged: {detail} ({time.monotonic() - w.t0:.1f}s)")
                return time.monotonic() - w.t0
            if time.monotonic() > deadline:
                raise LabError(f"BGP did not converge within {timeout}s: {detail}",
                               fix=f"see the BIRD logs in {self.st.dir} (*.bird.log) and `lab/lab status`")
            w.tick(detail)
            time.sleep(0.2)

    # ------------------------------------------------------------------ teardown
    def down(self):
        for c in self.children:
            with contextlib.suppress(Exception):
                c.poll()
        teardown(self.st, self.progress)


# Tools the lab runs, and the Debian package that has each (bash ci/deps.sh installs them).
TOOLS = {"ip": "iproute2", "bird": "bird2", "birdc": "bird2", "nft": "nftables", "tcpdump": "tcpdump",
         "tcpreplay": "tcpreplay", "curl": "curl", "iperf3": "iperf3", "nc": "netcat-openbsd",
         "nsenter": "util-linux", "unshare": "util-linux", "mountpoint": "util-linux"}


def _wg_pub(key_path):
    return wireguard.pub(key_path)


def preflight():
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise LabError("tools the lab needs are missing", fix=f"apt-get install --no-install-recommends "
                       f"{' '.join(missing)} (or bash ci/deps.sh)")
    try:
        subprocess.run([PY, "-c", "import scapy, yaml"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        raise LabError(f"{PY} cannot import scapy and yaml",
                       fix="apt-get install python3-scapy python3-yaml (the lab uses Debian's python3)") from None


def tail(path, n=8):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()[-n:]
        return "\n".join("    " + ln for ln in lines)
    except OSError:
        return "    (no log)"


XDP_PASS_SRC = os.path.join(ROLES_DIR, "xdp_pass.bpf.c")
XDP_PASS_OBJ = os.path.join(REPO, "build", "lab", "xdp_pass.o")


def xdp_pass_object():
    """build/lab/xdp_pass.o, built from lab/roles/xdp_pass.bpf.c when missing or older."""
    if os.path.exists(XDP_PASS_OBJ) and os.path.getmtime(XDP_PASS_OBJ) >= os.path.getmtime(XDP_PASS_SRC):
        return XDP_PASS_OBJ
    os.makedirs(os.path.dirname(XDP_PASS_OBJ), exist_ok=True)
    tmp = f"{XDP_PASS_OBJ}.{os.getpid()}"
    try:
        p = subprocess.run(["clang", "-O2", "-target", "bpf", "-c", XDP_PASS_SRC, "-o", tmp],
                           capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise LabError(f"cannot build {os.path.relpath(XDP_PASS_SRC, REPO)}: {e.strerror}",
                       fix="apt-get install clang (make deps)") from None
    if p.returncode != 0:
        raise LabError(f"cannot build {os.path.relpath(XDP_PASS_SRC, REPO)}: {p.stderr.strip()[-300:]}")
    os.replace(tmp, XDP_PASS_OBJ)  # atomic: two labs coming up at once never load half a file
    return XDP_PASS_OBJ


def ensure_bpffs():
    """edged pins under /sys/fs/bpf; mount bpffs there once, as edged itself would (mode 0700).

    It must be mounted in the host's mount namespace BEFORE edged starts: see lab/roles/nsexec.
    """
    if subprocess.run(["mountpoint", "-q", BPFFS]).returncode == 0:
        return
    subprocess.run(["mount", "-t", "bpf", "-o", "mode=0700", "bpf", BPFFS], check=True)


def _teardown_guest_edge(st, node, info):
    """`edged --teardown` inside a guest, and a check that nothing stayed pinned there."""
    if not info.get("checked"):
        return []
    why = qemu.check_alive(st, node)
    if why:
        return [f"`edged --teardown` on {node} could not run: {why.splitlines()[0]}"]
    p = qemu.node_sh(st, node, ["edged", "--teardown", "-c", info["config"]], check=False, timeout=60)
    if p.returncode != 0:
        return [f"`edged --teardown` in guest {node} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[:300]}"]
    pin_dir = os.path.join(PIN_ROOT, info["instance"])
    if qemu.node_sh(st, node, ["test", "-e", pin_dir], check=False, timeout=20).returncode == 0:
        return [f"{pin_dir} still exists in guest {node} after `edged --teardown`"]
    return []


def teardown(st, progress):
    """Tear down run ST from its state file; records any leftover as an issue in the state."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        _teardown(st, progress)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _teardown(st, progress):
    t0 = time.monotonic()
    st.load()
    st.set_status("stopping")
    progress.say(f"lab {st.prefix}: tearing down")
    issues = []
    for rec in [r for r in st.data["procs"] if r["role"] == "health"]:
        procs.stop(rec, timeout=2)
    edged_bin, _ = edge.binaries()
    for node, info in sorted(st.data.get("edges", {}).items()):
        for rec in [r for r in st.data["procs"] if r["node"] == node and r["role"] == "edged"]:
            procs.stop(rec, timeout=5)
        if info.get("guest"):
            issues += _teardown_guest_edge(st, node, info)
            progress.say(f"  node {node:<10} edged stopped, data path torn down (in the guest)")
            continue
        ns = info["ns"]
        pin_dir = os.path.join(PIN_ROOT, info["instance"])
        if info.get("checked") and netns.exists(ns) and os.access(edged_bin, os.X_OK):
            p = netns.sh(ns, [edged_bin, "--teardown", "-c", info["config"]], check=False, bpffs=True, timeout=30)
            if p.returncode != 0:
                issues.append(f"`edged --teardown` on {node} failed ({p.returncode}): "
                              f"{(p.stderr or p.stdout).strip()[:300]}")
        if os.path.exists(pin_dir):
            issues.append(f"{pin_dir} still exists after `edged --teardown` on {node}: removed by the lab")
            shutil.rmtree(pin_dir, ignore_errors=True)
        progress.say(f"  node {node:<10} edged stopped, data path torn down")
    # Guests power off before their bridges and agent clients go: those end with them.
    for node in sorted(st.data.get("guests") or {}):
        issues += qemu.shutdown(st, node, progress)
        # The guest's processes went with it: their agent clients are proxies of nothing now
        # (they would wait for keepalives to notice), so they end at once.
        for rec in [r for r in st.data["procs"] if r["node"] == node and r["role"] not in ("qemu", "bridge")]:
            procs.stop(rec, timeout=0.5, sig=signal.SIGKILL)
    others = [r for r in st.data["procs"] if r["role"] not in ("health", "edged")]
    for rec in reversed(others):
        procs.stop(rec, timeout=3)
    procs.reap()
    for ns in st.data["namespaces"]:
        if not netns.NS_PATTERN.match(ns) or not ns.startswith(st.prefix + "-"):
            continue
        left = procs.pids_in_netns(os.path.join(netns.NETNS_DIR, ns))
        for pid in left:
            issues.append(f"process {pid} ({procs.comm(pid)}) still runs in {ns}; the lab did not start it "
                          f"and leaves it alone: kill {pid}")
        netns.delete(ns)
    with st.locked() as d:
        d["procs"] = []
        d["status"] = "down"
        d["issues"] = d.get("issues", []) + issues
        d["down_seconds"] = time.monotonic() - t0
    state.unregister(st.prefix)
    for i in issues:
        progress.warn(i)
    progress.say(f"lab {st.prefix} is down ({time.monotonic() - t0:.1f}s)")
    return issues
