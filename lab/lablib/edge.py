# SPDX-License-Identifier: GPL-2.0
"""edged on lab edge nodes: per-node config from a template, and reading its counters.

The config of each edge is generated from its template (topology `config:`, or a scenario's
`start_edged: {config: ...}`): the lab always sets `instance` (unique per run and node, so pins
under /sys/fs/bpf/edged/<instance>/ never collide), `control_socket` (in the run directory:
namespaces share the filesystem) and, unless the template lists them, `uplinks` (every
interface of the edge node).
"""
import json
import os
import re
import string

import yaml

from . import netns, wireguard
from .errors import LabError
from .yamlmarks import MDict, load_text

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATED = ("instance", "control_socket")


def binaries():
    """(edged, edgectl) paths: $EDGED/$EDGECTL (tests/run.sh sets them), else build/."""
    edged = os.environ.get("EDGED") or os.path.join(REPO, "build", "edged")
    edgectl = os.environ.get("EDGECTL") or os.path.join(REPO, "build", "edgectl")
    return tuple(p if os.path.isabs(p) else os.path.join(REPO, p) for p in (edged, edgectl))


def instance_name(run_id, node):
    name = f"l{run_id}-{node}"
    assert re.match(r"^[a-z0-9_-]{1,31}$", name), name
    return name


def template_vars(topo, node, st):
    v4 = topo.vip(4)
    v6 = topo.vip(6)
    a4 = [str(p) for p in node.anycast if p.version == 4]
    a6 = [str(p) for p in node.anycast if p.version == 6]
    out = {
        "node": node.name, "instance": instance_name(st.id, node.name), "run_dir": st.dir,
        "vip4": str(v4 or ""), "vip6": str(v6 or ""),
        "anycast4": a4[0] if a4 else "", "anycast6": a6[0] if a6 else "",
        # IP sharing (egress.snat[].share): every edge's fleet address (the one other nodes
        # reach it by), in name order.
        "fleet_edges": ", ".join(str(e.addr(4)) for e in sorted(topo.edges, key=lambda e: e.name)),
    }
    # Other nodes' addresses, for sections that name fleet members (lb.servers): ${addr4.edge2}.
    for n in topo.nodes.values():
        for fam in (4, 6):
            a = n.addr(fam)
            if a is not None:
                out[f"addr{fam}.{n.name}"] = str(a)
    # This edge's (egress.self): ${addr4.<this node>} by a name that needs none.
    out["fleet_self"] = out.get(f"addr4.{node.name}", "")
    return out


def wireguard_vars(topo, node, st):
    """What an egress template needs (made on demand: keys are files of the run):
    ${wg_ifname}, this edge's tunnel device (a per-run name: wireguard-go's socket path is
    host-wide); ${wg_key}, the private key file of the fleet's VPN endpoint; per VPN client N
    with wireguard: ${wg_pub_N}, its public key."""
    edges = sorted(e.name for e in topo.edges)
    v = {"wg_ifname": wireguard.ifname(st, "e", edges.index(node.name) if node.name in edges else 0),
         "wg_key": wireguard.endpoint_key(st)}
    for n in topo.by_role("vpn-client"):
        if n.wireguard:
            ident = re.sub(r"[^A-Za-z0-9_]", "_", n.name)
            v[f"wg_pub_{ident}"] = wireguard.pub(wireguard.client_key(st, n.name))
    return v


def render(template_path, variables, more=None):
    """Template text with ${var} substituted; an unknown ${var} is an error at its line.
    MORE() adds the WireGuard variables when the template uses some (${wg_...})."""
    path = template_path if os.path.isabs(template_path) else os.path.join(REPO, template_path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise LabError(f"cannot read edged config template: {e.strerror}", template_path, None,
                       "point the edge's config: (topology) or start_edged config: (scenario) at a file") from None
    if more and "${wg_" in text:
        variables = {**variables, **more()}
    for i, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"\$\{([^}]*)\}", line):
            if m.group(1) not in variables:
                raise LabError(f"unknown variable ${{{m.group(1)}}} in edged config template", template_path, i,
                               "use one of: " + ", ".join("${%s}" % k for k in variables if "." not in k)
                               + ", ${addr4.NODE}, ${addr6.NODE} (another node's address)")
    # Not string.Template: its names cannot hold the dot of ${addr4.edge2}.
    return re.sub(r"\$\{([^}]*)\}", lambda m: variables[m.group(1)], text)


def build_config(template_path, topo, node, st, control_socket=None, uplink_modes=None):
    """The edged config dict of NODE in run ST.

    CONTROL_SOCKET replaces the run directory's socket (a QEMU guest's edged listens inside
    the guest). UPLINK_MODES ({ifname: xdp_mode}) are the per-uplink defaults when the
    template lists no uplinks: a guest's e1000 NIC has generic XDP only. A nameless uplink
    entry in the template still applies to every uplink."""
    variables = template_vars(topo, node, st)
    doc = load_text(render(template_path, variables, lambda: wireguard_vars(topo, node, st)),
                    template_path) or MDict()
    if not isinstance(doc, dict):
        raise LabError("an edged config template must be a YAML mapping", template_path, 1,
                       "start from lab/templates/edge.yaml")
    for key in GENERATED:
        if key in doc:
            raise LabError(f"the template sets '{key}', which the lab generates per run and node", template_path,
                           doc.line_of(key), f"remove '{key}:' from the template")
    uplink_defaults = {}
    uplinks = doc.get("uplinks")
    if isinstance(uplinks, list) and uplinks and all(isinstance(u, dict) and "name" not in u for u in uplinks):
        # A nameless entry gives settings for every uplink, e.g. uplinks: [{xdp_mode: generic}].
        uplink_defaults.update(uplinks[0])
        uplinks = None
    modes = uplink_modes or {}
    out = {"instance": variables["instance"]}
    out["uplinks"] = uplinks if uplinks else [
        dict({"name": e.ifname, "xdp_mode": modes.get(e.ifname, "native")}, **uplink_defaults) for e in node.ends]
    out["control_socket"] = control_socket or st.file(f"{node.name}.sock")
    for k, v in doc.items():
        if k != "uplinks":
            out[k] = v
    return _plain(out)


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def dump(cfg):
    return ("# generated by lab/lab for one run and node; do not edit (edit the template)\n"
            + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False))


def edgectl(ns, sock, *args, timeout=10):
    _, ctl = binaries()
    return netns.sh(ns, [ctl, "-s", sock] + list(args), check=False, timeout=timeout)


def healthy(ns, sock):
    return edgectl(ns, sock, "-j", "status").returncode == 0


def stats(ns, sock, timeout=10):
    """edgectl -j stats as a dict; LabError when edged does not answer."""
    p = edgectl(ns, sock, "-j", "stats", timeout=timeout)
    if p.returncode != 0:
        raise LabError(f"edgectl stats failed in {ns}: {p.stderr.strip() or p.stdout.strip()}",
                       fix="is edged running on that edge? see lab/lab status and the edge's edged.log")
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise LabError(f"edgectl -j stats printed something that is not JSON: {p.stdout[:200]!r}") from None


def dos_rules(ns, sock, timeout=10):
    """`edgectl -j dos rules` as a dict (rules, lists, syn_cookies), or None while the DoS
    function is off (edgectl then answers with an error)."""
    p = edgectl(ns, sock, "-j", "dos", "rules", timeout=timeout)
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise LabError(f"edgectl -j dos rules printed something that is not JSON: {p.stdout[:200]!r}") from None


# Counter paths that start with one of these read `edgectl -j dos rules` (per edge, not per uplink).
DOS_ROOTS = ("rules", "lists", "syn_cookies")


def dos_counter(doc, path):
    """A value of `edgectl -j dos rules`: "rules.NAME.OUTCOME[.bytes]" (outcomes: matched,
    dropped, rate_limited, passed), "lists.block.dropped", "lists.block.entries_v4",
    "syn_cookies.syn_answered". Entries of a list are picked by name."""
    if doc is None:
        raise LabError(f"counter '{path}': the DoS function is off on this edge",
                       fix="give edged a template with a dos: section (reload_edged or start_edged)")
    cur = doc
    parts = path.split(".")
    for i, p in enumerate(parts):
        if isinstance(cur, list):
            match = [x for x in cur if isinstance(x, dict) and x.get("name") == p]
            if not match:
                names = ", ".join(str(x.get("name")) for x in cur if isinstance(x, dict))
                raise LabError(f"counter '{path}': no '{p}' in {'.'.join(parts[:i])} (there: {names or 'none'})",
                               fix="rule and list names are those of `edgectl dos rules`")
            cur = match[0]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            have = ", ".join(cur) if isinstance(cur, dict) else type(cur).__name__
            raise LabError(f"counter '{path}': no '{p}' (there: {have})",
                           fix="e.g. rules.NAME.dropped, lists.block.dropped, syn_cookies.syn_answered")
    if isinstance(cur, dict) and "packets" in cur:
        cur = cur["packets"]
    if isinstance(cur, bool) or not isinstance(cur, int):
        raise LabError(f"counter '{path}' is not a number: {json.dumps(cur)[:100]}",
                       fix="name a field down to its outcome, e.g. rules.NAME.dropped")
    return cur


def counter(doc, path):
    """Sum a counter over all uplinks of a stats document.

    PATH: "end.pass" (packets), "end.pass.bytes", "parse.drop.packets", "packets", "bytes";
    paths under rules., lists. and syn_cookies. read the DoS counters instead (dos_counter).
    A counter missing from the document is an error, not zero: a renamed field must not
    turn a check into one that cannot fail.
    """
    parts = path.split(".")
    if parts[0] in DOS_ROOTS:
        return dos_counter(doc.get("dos"), path)
    if parts[-1] not in ("packets", "bytes"):
        parts.append("packets")
    total = 0
    uplinks = doc.get("uplinks")
    if not isinstance(uplinks, list) or not uplinks:
        raise LabError(f"edgectl stats has no uplinks: {json.dumps(doc)[:200]}")
    for up in uplinks:
        cur = up if len(parts) == 1 else up.get("counters", {})
        for p in parts:
            if not isinstance(cur, dict) or p not in cur:
                raise LabError(f"counter '{path}' not found in edgectl stats of uplink {up.get('iface')}",
                               fix="counter paths look like end.pass, parse.drop.bytes, packets")
            cur = cur[p]
        total += int(cur)
    return total
