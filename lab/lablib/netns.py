# SPDX-License-Identifier: GPL-2.0
"""Network namespaces, veth links, addresses and sysctls -- only ever inside lab namespaces.

Every command here names its namespace (`ip -n NS`, `ip netns exec NS`), and every namespace
name is checked against the lab pattern first: nothing in this module can touch the root
network namespace or a namespace the lab did not name.
"""
import os
import re
import subprocess

from .errors import LabError

# lab-<6 hex run id>-<node>; `lab down --stale` matches the same pattern.
NS_PATTERN = re.compile(r"^lab-([0-9a-f]{6})-([a-z][a-z0-9_]{0,11})$")
PREFIX_PATTERN = re.compile(r"^lab-[0-9a-f]{6}$")
NETNS_DIR = "/run/netns"
HERE = os.path.dirname(os.path.abspath(__file__))
NSEXEC = os.path.join(os.path.dirname(HERE), "roles", "nsexec")


def guard(ns):
    """Refuse any namespace name that is not a lab namespace."""
    if not isinstance(ns, str) or not NS_PATTERN.match(ns):
        raise AssertionError(f"refusing to act on namespace {ns!r}: not a lab namespace")
    return ns


def ns_name(prefix, node):
    return guard(f"{prefix}-{node}")


def run(argv, check=True, input=None, timeout=30):
    """Run a command; on failure raise LabError carrying the command and its stderr."""
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"command not found: {argv[0]}", fix="install it (bash ci/deps.sh)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"'{' '.join(argv)}' did not finish within {timeout}s") from None
    if check and p.returncode != 0:
        raise LabError(f"'{' '.join(argv)}' failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p


def ip(ns, *args, check=True, json=False):
    argv = ["ip", "-n", guard(ns)] + (["-j"] if json else []) + [str(a) for a in args]
    return run(argv, check=check)


def ip_batch(ns, lines):
    """Several `ip` commands in one process (bring-up of a node is dozens of them)."""
    if lines:
        run(["ip", "-n", guard(ns), "-batch", "-"], input="\n".join(lines) + "\n")


def exec_argv(ns, argv, bpffs=False):
    """argv that runs ARGV inside NS. bpffs=True keeps the host's /sys/fs/bpf visible.

    `ip netns exec` mounts a fresh sysfs over /sys, which hides the bpffs mounted at
    /sys/fs/bpf: a program pinning there would pin into a private bpffs that vanishes with
    it. lab/roles/nsexec gives the netns' sysfs AND the shared bpffs (used for edgectl and
    `lab exec`; edged itself runs under plain `nsenter --net`, see runtime.start_edged).
    """
    if bpffs:
        return [NSEXEC, guard(ns)] + list(argv)
    return ["ip", "netns", "exec", guard(ns)] + list(argv)


def sh(ns, argv, check=True, timeout=30, bpffs=False, input=None):
    return run(exec_argv(ns, argv, bpffs), check=check, timeout=timeout, input=input)


def list_namespaces():
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def exists(ns):
    return os.path.exists(os.path.join(NETNS_DIR, guard(ns)))


def add(ns):
    run(["ip", "netns", "add", guard(ns)])


def delete(ns):
    if exists(ns):
        run(["ip", "netns", "del", guard(ns)], check=False)


def sysctls(ns, settings, optional=()):
    """Write sysctls inside NS (procfs net/ entries belong to the writer's namespace)."""
    args = [f"{k}={v}" for k, v in settings.items() if k not in optional]
    sh(ns, ["sysctl", "-q", "-w"] + args)
    for k in optional:  # knobs that older kernels lack: best effort
        if k in settings:
            sh(ns, ["sysctl", "-q", "-w", f"{k}={settings[k]}"], check=False)


def veth(ns_a, if_a, ns_b, if_b, mtu=1500):
    """A veth pair created directly between two lab namespaces (never in the root one)."""
    ip(ns_a, "link", "add", if_a, "mtu", mtu, "type", "veth", "peer", "name", if_b,
       "netns", guard(ns_b), "mtu", mtu)


def link_stats(ns):
    """{ifname: {'rx_packets':..,'tx_packets':..,'rx_bytes':..,'tx_bytes':..}} of NS."""
    out = {}
    import json as _json
    for link in _json.loads(ip(ns, "-s", "link", "show", json=True).stdout or "[]"):
        st = link.get("stats64", {})
        out[link["ifname"]] = {
            "rx_packets": st.get("rx", {}).get("packets", 0), "rx_bytes": st.get("rx", {}).get("bytes", 0),
            "tx_packets": st.get("tx", {}).get("packets", 0), "tx_bytes": st.get("tx", {}).get("bytes", 0),
            "mac": link.get("address"), "up": "UP" in link.get("flags", []),
        }
    return out


def route_nexthops(ns, prefix):
    """Nexthop gateways of the route to PREFIX in NS ([] when there is no route)."""
    import json as _json
    fam = "-6" if ":" in str(prefix) else "-4"
    p = run(["ip", "-n", guard(ns), "-j", fam, "route", "show", "exact", str(prefix)], check=False)
    if p.returncode != 0 or not p.stdout.strip():
        return []
    hops = []
    for r in _json.loads(p.stdout):
        if "nexthops" in r:
            hops += [h.get("gateway", h.get("dev")) for h in r["nexthops"] if "dead" not in h.get("flags", [])]
        elif "gateway" in r or "dev" in r:
            if r.get("type", "unicast") == "unicast":
                hops.append(r.get("gateway", r.get("dev")))
    return hops
