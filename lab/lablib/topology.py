# SPDX-License-Identifier: GPL-2.0
"""Topology files (topologies/*.yaml): parsing and validation.

A topology names nodes with roles and the links between them; the lab turns every node into a
network namespace and every link into a veth pair. Validation checks the whole file and reports
every problem with its line and the fix, before anything is created.
"""
import ipaddress
import os
import re

from . import addressing
from .errors import Collector, LabError
from .yamlmarks import MDict, MList, load_file

ROLES = ("router", "internet", "edge", "client", "attacker", "origin", "customer-site", "vpn-client")
BGP_ROLES = ("router", "internet", "edge")     # run BIRD
ROUTING_ROLES = ("router", "internet")         # forward between links
HOST_ROLES = ("client", "attacker", "origin", "customer-site", "vpn-client")

NODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,11}$")
RESERVED_NAMES = ("lo", "all", "default")

TOP_KEYS = ("name", "description", "anycast", "addressing", "bgp", "defaults", "nodes", "links")
NODE_KEYS = {
    "*": ("role", "description", "loopback", "qemu"),
    "router": ("as",),
    "internet": ("as",),
    "edge": ("as", "config", "edged", "anycast", "origin"),
    "origin": ("http_port",),
    "customer-site": ("gre",),
    "vpn-client": ("wireguard",),
}
LINK_KEYS = ("a", "b", "v4", "v6", "mtu", "nic")

# The QEMU tier (lab/lablib/qemu.py): nodes of these roles can be guests instead of
# namespaces; routers, clients, attackers and origins stay namespaces.
GUEST_ROLES = ("edge", "customer-site", "vpn-client")
GUEST_KEYS = ("nic", "smp", "memory")
# NIC models a guest link can have, and the XDP mode edged uses on each by default: the
# virtio-net driver has native XDP; e1000 and e1000e have only the generic (skb) path.
NIC_MODELS = {"virtio": "native", "e1000": "generic", "e1000e": "generic"}
# The management link between a guest and its node's namespace (lab/lablib/qemu.py): the
# same /30 in every guest, never given to a lab link.
MGMT_NET = ipaddress.ip_network("100.127.255.252/30")

# BGP timers: a hold time of 3 s makes a silent edge failure cost at most 3 s of black-holed
# flows; keepalive 1 s is the usual hold/3. Connect retry 2 s brings a restored edge back
# within a few seconds instead of BIRD's default 120 s.
DEFAULT_BGP = {"hold": 3, "keepalive": 1, "connect_retry": 2}

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGY_DIR = os.path.join(REPO, "topologies")
DEFAULT_EDGE_TEMPLATE = "lab/templates/edge.yaml"


class LinkEnd:
    def __init__(self, node):
        self.node = node
        self.ifname = None
        self.addr4 = None
        self.addr6 = None
        self.peer = None  # the LinkEnd on the other side
        self.nic = None   # on a guest's end: its NIC model (virtio, e1000, e1000e)


class Link:
    def __init__(self, a, b, line, v4=None, v6=None, mtu=1500, nic=None):
        self.a, self.b = LinkEnd(a), LinkEnd(b)
        self.a.peer, self.b.peer = self.b, self.a
        self.line = line
        self.v4, self.v6, self.mtu = v4, v6, mtu
        self.nic = nic  # the NIC model the topology gives this link (None: the guest's default)

    def __repr__(self):
        return f"Link({self.a.node}:{self.a.ifname} <-> {self.b.node}:{self.b.ifname})"


class Node:
    def __init__(self, name, role, line):
        self.name = name
        self.role = role
        self.line = line
        self.asn = None
        self.loopback = []          # ip_interface list, on lo
        self.template = None        # edge: edged config template path
        self.edged = True           # edge: run build/edged
        self.anycast = []           # edge: prefixes announced
        self.origin = None          # edge: origin node the edge service proxies to
        self._origin_line = None
        self.http_port = 80         # origin
        self.ends = []              # LinkEnds of this node, in link order
        self.description = ""
        self.qemu = None            # a QEMU guest: {"nic": default model, "smp": n, "memory": MiB}
        self.gre = None             # customer-site guest: {"remote", "local", "address"} (kernel ip_gre)
        self.wireguard = None       # vpn-client guest: {"address", "endpoint", "port", "peer_key"}

    @property
    def is_bgp(self):
        return self.role in BGP_ROLES

    @property
    def is_guest(self):
        return self.qemu is not None

    def addr(self, family=4):
        """The address other nodes use to reach this node: a loopback, else the first link's."""
        for lo in self.loopback:
            if lo.version == family:
                return lo.ip
        for end in self.ends:
            a = end.addr4 if family == 4 else end.addr6
            if a is not None:
                return a.ip
        return None

    def router_id(self):
        return self.ends[0].addr4.ip if self.ends else None

    def __repr__(self):
        return f"Node({self.name}, {self.role})"


class Topology:
    def __init__(self, path):
        self.path = path
        self.name = None
        self.description = ""
        self.drawing = ""
        self.nodes = {}
        self.links = []
        self.anycast = []   # prefixes announced by edges by default
        self.vips = []      # service addresses inside the anycast prefixes
        self.transit = []   # prefixes every edge announces without making them local (transit customers')
        self.bgp = dict(DEFAULT_BGP)
        self.pool4 = addressing.parse_net(addressing.DEFAULT_POOL4)
        self.pool6 = addressing.parse_net(addressing.DEFAULT_POOL6)

    def by_role(self, *roles):
        return [n for n in self.nodes.values() if n.role in roles]

    @property
    def edges(self):
        return self.by_role("edge")

    @property
    def guests(self):
        return [n for n in self.nodes.values() if n.is_guest]

    def vip(self, family):
        for v in self.vips:
            if v.version == family:
                return v
        return None

    def end(self, node, ifname):
        for e in self.nodes[node].ends:
            if e.ifname == ifname:
                return e
        return None


def resolve_path(name_or_path):
    """A topology by name ("fleet") or path ("topologies/fleet.yaml")."""
    if os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return name_or_path
    return os.path.join(TOPOLOGY_DIR, name_or_path + ".yaml")


def available():
    try:
        return sorted(f[:-5] for f in os.listdir(TOPOLOGY_DIR) if f.endswith(".yaml"))
    except OSError:
        return []


def load(name_or_path):
    path = resolve_path(name_or_path)
    if not os.path.exists(path):
        raise LabError(f"no topology '{name_or_path}'", path, None,
                       "use one of: " + ", ".join(available()) if available() else None)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    doc = load_file(path)
    return parse(doc, os.path.relpath(path, REPO) if path.startswith(REPO) else path, text)


def _drawing(text):
    """The leading comment block: every topology file starts with an ASCII drawing."""
    lines = []
    for ln in text.splitlines():
        if not ln.startswith("#"):
            break
        lines.append(ln[2:] if ln.startswith("# ") else ln[1:])
    return "\n".join(lines).strip("\n")


def _unknown_keys(c, m, allowed, what):
    for k in m:
        if k not in allowed:
            c.add(f"unknown key '{k}' in {what}", m.line_of(k),
                  "use one of: " + ", ".join(allowed))


def _net_list(c, value, line, what, host_ok=False):
    """Parse a list of prefixes (or interface addresses with host_ok), all in allowed ranges."""
    out = []
    if not isinstance(value, list):
        c.add(f"{what} must be a list", line, f"write {what}: [192.0.2.0/24, 2001:db8::/48]")
        return out
    for i, item in enumerate(value):
        ln = value.line_of(i) if isinstance(value, MList) else line
        try:
            net = addressing.parse_iface(item) if host_ok else addressing.parse_net(item)
        except ValueError as e:
            fix = "give an address with its prefix length, e.g. 192.0.2.80/32" if host_ok else \
                "give the network address, e.g. 203.0.113.0/24 (host bits zero)"
            c.add(f"{what}: {e}", ln, fix)
            continue
        if not addressing.allowed(net):
            c.add(f"{what}: {item} is outside the lab's address ranges", ln,
                  f"use an address from {addressing.ALLOWED_TEXT}")
            continue
        out.append(net)
    return out


def _int(c, m, key, lo, hi, what):
    v = m.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        c.add(f"{what} must be an integer from {lo} to {hi}, not {v!r}", m.line_of(key),
              f"write e.g. {key}: {lo if lo > 1 else hi // 2}")
        return None
    return v


def parse(doc, path, text=""):
    c = Collector(path)
    topo = Topology(path)
    topo.drawing = _drawing(text)
    if not isinstance(doc, MDict):
        raise LabError("a topology must be a YAML mapping with nodes: and links:", path, 1,
                       "see topologies/single-edge.yaml for the shape")
    if text and not topo.drawing:
        c.add("the file does not start with an ASCII drawing of the topology", 1,
              "add a '# ...' comment block drawing nodes and links at the top")
    _unknown_keys(c, doc, TOP_KEYS, "the topology")

    topo.name = doc.get("name") or os.path.splitext(os.path.basename(path))[0]
    if not isinstance(topo.name, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", topo.name):
        c.add(f"name must be a word of [a-z0-9_-], not {topo.name!r}", doc.line_of("name"),
              "e.g. name: single-edge")
    topo.description = str(doc.get("description", ""))
    _parse_anycast(c, topo, doc)
    _parse_addressing(c, topo, doc)
    _parse_bgp(c, topo, doc)
    defaults = doc.get("defaults") or MDict()
    if not isinstance(defaults, dict):
        c.add("defaults must map roles to settings", doc.line_of("defaults"),
              "e.g. defaults: {edge: {as: 64510}}")
        defaults = MDict()
    for role in defaults:
        if role not in ROLES:
            c.add(f"defaults for unknown role '{role}'", defaults.line_of(role),
                  "roles are: " + ", ".join(ROLES))
    _parse_nodes(c, topo, doc, defaults)
    _parse_links(c, topo, doc)
    c.raise_if_any()
    _check_graph(c, topo, doc)
    c.raise_if_any()
    _allocate(c, topo, doc)
    c.raise_if_any()
    return topo


def _parse_anycast(c, topo, doc):
    a = doc.get("anycast")
    if a is None:
        return
    if not isinstance(a, MDict):
        c.add("anycast must be a mapping with prefixes: and vips:", doc.line_of("anycast"),
              "anycast: {prefixes: [203.0.113.0/24], vips: [203.0.113.10]}")
        return
    _unknown_keys(c, a, ("prefixes", "vips", "transit"), "anycast")
    topo.anycast = _net_list(c, a.get("prefixes", []), a.line_of("prefixes"), "anycast prefixes")
    _parse_transit(c, topo, a)
    vips = a.get("vips", [])
    if not isinstance(vips, list):
        c.add("anycast vips must be a list of addresses", a.line_of("vips"), "vips: [203.0.113.10]")
        return
    for i, v in enumerate(vips):
        ln = vips.line_of(i) if isinstance(vips, MList) else a.line_of("vips")
        try:
            addr = addressing.parse_addr(v)
        except ValueError as e:
            c.add(f"anycast vips: {e}", ln, "write an address, e.g. 203.0.113.10")
            continue
        if not any(addr.version == p.version and addr in p for p in topo.anycast):
            c.add(f"vip {addr} is not inside any anycast prefix", ln,
                  "pick an address inside one of anycast.prefixes")
            continue
        topo.vips.append(addr)


def _parse_addressing(c, topo, doc):
    a = doc.get("addressing")
    if a is None:
        return
    if not isinstance(a, MDict):
        c.add("addressing must be a mapping", doc.line_of("addressing"),
              f"addressing: {{links4: {addressing.DEFAULT_POOL4}, links6: {addressing.DEFAULT_POOL6}}}")
        return
    _unknown_keys(c, a, ("links4", "links6"), "addressing")
    for key, version, maxlen in (("links4", 4, addressing.LINK_PREFIX4), ("links6", 6, addressing.LINK_PREFIX6)):
        if key not in a:
            continue
        nets = _net_list(c, [a[key]], a.line_of(key), f"addressing.{key}")
        if not nets:
            continue
        net = nets[0]
        if net.version != version or net.prefixlen > maxlen:
            c.add(f"addressing.{key} must be an IPv{version} prefix of /{maxlen} or shorter, not {net}",
                  a.line_of(key), f"e.g. {key}: {addressing.DEFAULT_POOL4 if version == 4 else addressing.DEFAULT_POOL6}")
            continue
        if version == 4:
            topo.pool4 = net
        else:
            topo.pool6 = net


def _parse_bgp(c, topo, doc):
    b = doc.get("bgp")
    if b is None:
        return
    if not isinstance(b, MDict):
        c.add("bgp must be a mapping of timers", doc.line_of("bgp"), "bgp: {hold: 3, keepalive: 1}")
        return
    _unknown_keys(c, b, tuple(DEFAULT_BGP), "bgp")
    for key in b:
        if key in DEFAULT_BGP:
            v = _int(c, b, key, 1, 65535, f"bgp.{key}")
            if v is not None:
                topo.bgp[key] = v
    if topo.bgp["hold"] < 3:
        c.add("bgp.hold must be 3 or more (RFC 4271)", b.line_of("hold"), "hold: 3")
    elif topo.bgp["keepalive"] * 3 > topo.bgp["hold"]:
        c.add("bgp.keepalive must be at most a third of bgp.hold", b.line_of("keepalive"),
              f"keepalive: {max(1, topo.bgp['hold'] // 3)}")


def _parse_nodes(c, topo, doc, defaults):
    nodes = doc.get("nodes")
    if not isinstance(nodes, MDict) or not nodes:
        c.add("nodes must be a non-empty mapping of name -> settings", doc.line_of("nodes") if "nodes" in doc else 1,
              "nodes: {client1: {role: client}, r1: {role: router, as: 64500}}")
        return
    topo.declared = set(nodes)  # invalid nodes too: links to them are not errors of their own
    for name, spec in nodes.items():
        ln = nodes.line_of(name)
        if not isinstance(name, str) or not NODE_NAME.match(name) or name in RESERVED_NAMES:
            c.add(f"node name {name!r} is not usable", ln,
                  "use 1-12 characters [a-z0-9_] starting with a letter (it names a namespace and interfaces)")
            continue
        if not isinstance(spec, MDict):
            c.add(f"node '{name}' needs a mapping of settings", ln, f"{name}: {{role: client}}")
            continue
        role = spec.get("role")
        if role not in ROLES:
            c.add(f"node '{name}' has role {role!r}", spec.line_of("role"), "role is one of: " + ", ".join(ROLES))
            continue
        merged = MDict(defaults.get(role) or {})
        merged.line, merged.key_lines = spec.line, dict(getattr(defaults.get(role), "key_lines", None) or {})
        merged.update(spec)
        merged.key_lines.update(spec.key_lines)
        _unknown_keys(c, merged, NODE_KEYS["*"] + NODE_KEYS.get(role, ()), f"node '{name}' ({role})")
        node = Node(name, role, ln)
        node.description = str(merged.get("description", ""))
        if "loopback" in merged:
            node.loopback = _net_list(c, merged["loopback"], merged.line_of("loopback"),
                                      f"node '{name}' loopback", host_ok=True)
        if role in BGP_ROLES:
            if "as" not in merged:
                c.add(f"node '{name}' ({role}) speaks BGP and needs an AS number", ln,
                      "add e.g. as: 64500 (documentation ASNs are 64496-64511)")
            else:
                node.asn = _int(c, merged, "as", 1, 4294967294, f"node '{name}' as")
        if role == "edge":
            _parse_edge(c, topo, node, merged)
        if role == "origin" and "http_port" in merged:
            node.http_port = _int(c, merged, "http_port", 1, 65535, f"node '{name}' http_port") or 80
        if "qemu" in merged:
            _parse_qemu(c, node, merged)
        if "gre" in merged:
            _parse_gre(c, node, merged)
        if "wireguard" in merged:
            _parse_wireguard(c, node, merged)
        topo.nodes[name] = node


def _parse_transit(c, topo, a):
    """anycast.transit: customer prefixes of edged's transit. Every edge announces them while
    healthy, like the anycast prefixes, but does not make them local: edged routes their
    packets on to the customers' sites (a local route would deliver them to the edge)."""
    if "transit" not in a:
        return
    topo.transit = _net_list(c, a["transit"], a.line_of("transit"), "anycast transit")
    for net in topo.transit:
        for p in topo.anycast:
            if net.version == p.version and net.overlaps(p):
                c.add(f"anycast transit prefix {net} overlaps anycast prefix {p}", a.line_of("transit"),
                      "pick a transit prefix outside anycast.prefixes: edges make those local, so their "
                      "packets would never reach a customer")


def _parse_edge(c, topo, node, m):
    node.template = m.get("config", DEFAULT_EDGE_TEMPLATE)
    tpl = node.template if os.path.isabs(node.template) else os.path.join(REPO, node.template)
    if not os.path.isfile(tpl):
        c.add(f"edge '{node.name}': config template '{node.template}' does not exist", m.line_of("config"),
              f"point config: at a file, e.g. {DEFAULT_EDGE_TEMPLATE}")
    node.edged = m.get("edged", True)
    if not isinstance(node.edged, bool):
        c.add(f"edge '{node.name}': edged must be true or false", m.line_of("edged"), "edged: true")
    if "anycast" in m:
        node.anycast = _net_list(c, m["anycast"], m.line_of("anycast"), f"edge '{node.name}' anycast")
    else:
        node.anycast = list(topo.anycast)
    if not node.anycast and not m.get("anycast"):
        c.add(f"edge '{node.name}' announces no anycast prefix", m.line,
              "add anycast: {prefixes: [203.0.113.0/24]} at the top, or anycast: [...] on the edge")
    node.origin = m.get("origin")
    node._origin_line = m.line_of("origin")


def _parse_qemu(c, node, m):
    """qemu: true | false | {nic: virtio|e1000|e1000e, smp: 1-4, memory: MiB}."""
    v, ln = m["qemu"], m.line_of("qemu")
    if v is False:
        return
    if node.role not in GUEST_ROLES:
        c.add(f"node '{node.name}' ({node.role}) cannot be a QEMU guest", ln,
              f"only {', '.join(GUEST_ROLES)} nodes can be guests: remove qemu: (routers, clients, attackers "
              "and origins stay namespaces)")
        return
    spec = {"nic": "virtio", "smp": 1, "memory": 1024}
    if isinstance(v, MDict):
        _unknown_keys(c, v, GUEST_KEYS, f"node '{node.name}' qemu")
        if "nic" in v:
            if v["nic"] in NIC_MODELS:
                spec["nic"] = v["nic"]
            else:
                c.add(f"node '{node.name}': qemu nic {v['nic']!r} is not a NIC model the lab has", v.line_of("nic"),
                      "nic is one of: " + ", ".join(NIC_MODELS))
        # One vCPU by default: TCG runs a vCPU per host thread, and the machine has two.
        if "smp" in v:
            spec["smp"] = _int(c, v, "smp", 1, 4, f"node '{node.name}' qemu smp") or 1
        # The image (an initramfs, about 55 MB) lives in the guest's memory.
        if "memory" in v:
            spec["memory"] = _int(c, v, "memory", 384, 8192, f"node '{node.name}' qemu memory") or 1024
    elif v is not True:
        c.add(f"node '{node.name}': qemu must be true, false or a mapping, not {v!r}", ln,
              "qemu: true, or qemu: {nic: e1000}")
        return
    node.qemu = spec


def _tunnel_addr(c, m, key, what, iface):
    """An address of the tunnel settings M[KEY] (IFACE: with a prefix length), in the lab ranges."""
    v = m.get(key)
    try:
        a = addressing.parse_iface(v) if iface else addressing.parse_addr(v)
    except ValueError as e:
        c.add(f"{what}: {e}", m.line_of(key), "e.g. 100.127.0.1/30" if iface else "e.g. 203.0.113.1")
        return None
    if not addressing.allowed(a):
        c.add(f"{what}: {v} is outside the lab's address ranges", m.line_of(key),
              f"use an address from {addressing.ALLOWED_TEXT}")
        return None
    return a


def _tunnel_spec(c, node, m, key, allowed, guest_only=True):
    """The mapping under M[KEY] of a tunnel; GUEST_ONLY: only a guest's kernel can terminate it."""
    spec, ln = m[key], m.line_of(key)
    if not isinstance(spec, MDict):
        c.add(f"node '{node.name}': {key} must be a mapping", ln,
              f"{key}: {{{', '.join(k + ': ...' for k in allowed)}}}")
        return None
    _unknown_keys(c, spec, allowed, f"node '{node.name}' {key}")
    if node.qemu is None and guest_only:
        # The host kernel has no GRE netdevs (shared/platform.md).
        c.add(f"node '{node.name}': {key} needs the node to be a QEMU guest (the host kernel has no "
              f"{'GRE netdevs' if key == 'gre' else 'kernel WireGuard'})", ln, "add qemu: true to the node")
        return None
    return spec


def _parse_gre(c, node, m):
    """gre: {remote: ADDR, local: ADDR, address: ADDR/LEN}: the site terminates GRE from the
    anycast endpoint REMOTE with its own kernel's ip_gre (an independent check of edged's GRE)."""
    spec = _tunnel_spec(c, node, m, "gre", ("remote", "local", "address"))
    if spec is None:
        return
    if "remote" not in spec:
        c.add(f"node '{node.name}': gre needs remote: (the anycast GRE endpoint)", spec.line,
              "e.g. gre: {remote: 203.0.113.1, address: 100.127.0.2/30}")
        return
    g = {"remote": _tunnel_addr(c, spec, "remote", f"node '{node.name}' gre remote", False),
         "local": _tunnel_addr(c, spec, "local", f"node '{node.name}' gre local", False) if "local" in spec else None,
         "address": _tunnel_addr(c, spec, "address", f"node '{node.name}' gre address", True)
         if "address" in spec else None}
    node.gre = g


def _parse_wireguard(c, node, m):
    """wireguard: {address: ADDR/LEN, endpoint: ADDR, port: N, peer_key: KEY, routes: [PREFIX]}:
    the client's WireGuard interface towards the fleet's VPN endpoint: kernel WireGuard (wg0) in
    a guest, wireguard-go in a namespace (the host kernel has no WireGuard). ROUTES go through
    the tunnel besides the address's own network (a namespace client's)."""
    spec = _tunnel_spec(c, node, m, "wireguard", ("address", "endpoint", "port", "peer_key", "routes"),
                        guest_only=False)
    if spec is None:
        return
    if "address" not in spec:
        c.add(f"node '{node.name}': wireguard needs address: (wg0's address)", spec.line,
              "e.g. wireguard: {address: 100.127.1.2/32, endpoint: 203.0.113.10}")
        return
    w = {"address": _tunnel_addr(c, spec, "address", f"node '{node.name}' wireguard address", True),
         "endpoint": _tunnel_addr(c, spec, "endpoint", f"node '{node.name}' wireguard endpoint", False)
         if "endpoint" in spec else None,
         "port": _int(c, spec, "port", 1, 65535, f"node '{node.name}' wireguard port") if "port" in spec else 51820,
         "peer_key": spec.get("peer_key"),
         "routes": _tunnel_routes(c, node, spec)}
    key = w["peer_key"]
    if key is not None and not (isinstance(key, str) and re.match(r"^[A-Za-z0-9+/]{43}=$", key)):
        c.add(f"node '{node.name}': wireguard peer_key is not a WireGuard public key", spec.line_of("peer_key"),
              "give the base64 key `wg pubkey` prints (44 characters), or leave it out")
    node.wireguard = w


def _tunnel_routes(c, node, spec):
    routes = spec.get("routes", [])
    if not isinstance(routes, list):
        c.add(f"node '{node.name}': wireguard routes must be a list of prefixes", spec.line_of("routes"),
              "e.g. routes: [192.0.2.80/32]")
        return []
    out = []
    for r in routes:
        try:
            net = ipaddress.ip_network(str(r))
        except ValueError as e:
            c.add(f"node '{node.name}': wireguard route {r!r}: {e}", spec.line_of("routes"), "e.g. 192.0.2.80/32")
            continue
        if not addressing.allowed(net.network_address):
            c.add(f"node '{node.name}': wireguard route {r} is outside the lab's address ranges",
                  spec.line_of("routes"), f"use prefixes of {addressing.ALLOWED_TEXT}")
            continue
        out.append(net)
    return out


def _parse_links(c, topo, doc):
    links = doc.get("links")
    if not isinstance(links, MList) or not links:
        c.add("links must be a non-empty list", doc.line_of("links") if "links" in doc else 1,
              "links: [[client1, r1], [r1, edge1]]")
        return
    for i, spec in enumerate(links):
        ln = links.line_of(i)
        v4 = v6 = None
        mtu = 1500
        nic = None
        if isinstance(spec, MList) and len(spec) == 2:
            a, b = spec
        elif isinstance(spec, MDict):
            _unknown_keys(c, spec, LINK_KEYS, "a link")
            a, b = spec.get("a"), spec.get("b")
            for key in ("v4", "v6"):
                if key in spec:
                    nets = _net_list(c, [spec[key]], spec.line_of(key), f"link {key}")
                    want = 4 if key == "v4" else 6
                    maxlen = addressing.LINK_PREFIX4 if want == 4 else addressing.LINK_PREFIX6
                    if nets and (nets[0].version != want or nets[0].prefixlen > maxlen):
                        c.add(f"link {key} must be an IPv{want} prefix of /{maxlen} or shorter", spec.line_of(key),
                              f"e.g. {key}: {'100.64.200.0/30' if want == 4 else '2001:db8:ffff:200::/64'}")
                    elif nets:
                        if want == 4:
                            v4 = nets[0]
                        else:
                            v6 = nets[0]
            if "mtu" in spec:
                mtu = _int(c, spec, "mtu", 1280, 9000, "link mtu") or 1500
            if "nic" in spec:
                nic = spec["nic"]
                if nic not in NIC_MODELS:
                    c.add(f"link nic {nic!r} is not a NIC model the lab has", spec.line_of("nic"),
                          "nic is one of: " + ", ".join(NIC_MODELS))
                    nic = None
        else:
            c.add("a link is [node, node] or {a: node, b: node, v4: ..., v6: ...}", ln, "e.g. - [client1, r1]")
            continue
        bad = False
        for n in (a, b):
            if n in getattr(topo, "declared", ()) and n not in topo.nodes:
                bad = True  # declared but invalid: already reported at its own line
            elif n not in topo.nodes:
                known = ", ".join(sorted(topo.nodes))
                c.add(f"link names unknown node {n!r}", ln, f"declare it under nodes:, or use one of: {known}")
                bad = True
        if bad:
            continue
        if a == b:
            c.add(f"link from '{a}' to itself", ln, "a link joins two different nodes")
            continue
        link = Link(a, b, ln, v4, v6, mtu, nic)
        topo.links.append(link)
        topo.nodes[a].ends.append(link.a)
        topo.nodes[b].ends.append(link.b)


def _check_graph(c, topo, doc):
    for node in topo.nodes.values():
        peers = [topo.nodes[e.peer.node] for e in node.ends]
        if not peers:
            c.add(f"node '{node.name}' has no link", node.line, f"add a link such as - [{node.name}, <router>]")
            continue
        if node.role in HOST_ROLES or node.role == "edge":
            for p in peers:
                if p.role not in ROUTING_ROLES:
                    c.add(f"{node.role} '{node.name}' is linked to {p.role} '{p.name}'", node.line,
                          f"link {node.role} nodes to a router or internet node only")
        if node.role in ROUTING_ROLES:
            for p in peers:
                if p.is_bgp and p.asn is not None and p.asn == node.asn:
                    c.add(f"'{node.name}' and '{p.name}' are linked and share AS {node.asn} (iBGP)", node.line,
                          "give them different AS numbers: the lab sets up eBGP sessions only")
        if node.role == "edge":
            origins = [n.name for n in topo.by_role("origin")]
            if node.origin is not None and node.origin not in origins:
                c.add(f"edge '{node.name}': origin {node.origin!r} is not an origin node", node._origin_line,
                      "use one of: " + (", ".join(origins) or "(declare a node with role: origin)"))
            elif node.origin is None and origins:
                node.origin = origins[0]
    if topo.vips and not topo.edges:
        c.add("anycast vips are declared but no edge announces them", doc.line_of("anycast"),
              "add an edge node, or remove anycast:")
    _check_guest_links(c, topo)


def _check_guest_links(c, topo):
    """Every end of a guest gets its NIC model; nic: on a link without a guest is an error."""
    for link in topo.links:
        ends = [e for e in (link.a, link.b) if topo.nodes[e.node].is_guest]
        if link.nic is not None and not ends:
            c.add(f"link {link.a.node} -- {link.b.node}: nic: names the NIC model of a QEMU guest's end, and "
                  "neither end is a guest", link.line,
                  f"remove nic:, or make {link.a.node} or {link.b.node} a guest with qemu: true")
        for e in ends:
            e.nic = link.nic or topo.nodes[e.node].qemu["nic"]
            if e.peer.node == "mgmt":
                c.add(f"guest '{e.node}' has a link to a node named 'mgmt', the name of its management NIC",
                      link.line, "rename that node")


def _allocate(c, topo, doc):
    reserved = list(topo.anycast) + list(topo.transit) + [MGMT_NET]
    for n in topo.nodes.values():
        reserved += [lo.network for lo in n.loopback]
        reserved += n.anycast
    for link in topo.links:
        for net in (link.v4, link.v6):
            if net is not None:
                for r in reserved:
                    if net.version == r.version and net.overlaps(r):
                        what = "the QEMU guests' management link" if r == MGMT_NET else "an anycast prefix or loopback"
                        c.add(f"link subnet {net} overlaps {r} ({what})", link.line,
                              "pick a link subnet outside the anycast prefixes and loopbacks"
                              + (f" and {MGMT_NET}" if r == MGMT_NET else ""))
    for pool, key in ((topo.pool4, "links4"), (topo.pool6, "links6")):
        for r in reserved:
            if r == MGMT_NET:
                continue  # the pool skips it; a pool around it is fine
            if pool.version == r.version and pool.overlaps(r):
                c.add(f"link pool {pool} overlaps {r} (an anycast prefix or loopback)",
                      (doc.get("addressing") or MDict()).line_of(key) if isinstance(doc.get("addressing"), MDict) else None,
                      f"set addressing.{key} to a range that avoids it")
    if c.errors:
        return
    try:
        addressing.allocate_links(topo.links, topo.pool4, topo.pool6, reserved)
        addressing.name_interfaces(topo.links)
    except addressing.PoolExhausted as e:
        c.add(str(e), doc.line_of("addressing") if "addressing" in doc else None,
              "give addressing.links4/links6 a larger pool")
    except ValueError as e:
        c.add(str(e), None, "use shorter node names")
    seen = {}
    for link in topo.links:
        for net in (link.v4, link.v6):
            for other, ln in seen.items():
                if net.version == other.version and net.overlaps(other):
                    c.add(f"link subnet {net} overlaps the subnet of the link at line {ln}", link.line,
                          "give each link its own subnet")
            seen[net] = link.line


def summary(topo):
    """A short human description: counts by role and the anycast plan."""
    roles = {}
    for n in topo.nodes.values():
        roles.setdefault(n.role, []).append(n.name)
    parts = [f"{r}: {', '.join(ns)}" for r, ns in roles.items()]
    for g in topo.guests:
        parts.append(f"QEMU guest {g.name}: " + ", ".join(f"{e.ifname} {e.nic}" for e in g.ends))
    return "; ".join(parts)


def neighbors(topo, node):
    """(LinkEnd of NODE, peer Node) for every link of NODE."""
    return [(e, topo.nodes[e.peer.node]) for e in topo.nodes[node].ends]


def default_gateway(topo, node, family):
    """The peer address a host routes everything through: its first link's peer."""
    end = topo.nodes[node].ends[0]
    peer = end.peer
    return (peer.addr4 if family == 4 else peer.addr6).ip


def ip(text):
    return ipaddress.ip_address(text)
