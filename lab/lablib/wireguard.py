# SPDX-License-Identifier: GPL-2.0
"""WireGuard keys and interface names of a lab run.

Keys live in the run directory (mode 0600), made once with `wg genkey`: a VPN client's own key
is <node>.wg.key, and the fleet's VPN endpoint (edged's egress on every edge: the anycast
endpoint is one peer to the clients) takes its key from vpn-endpoint.wg.key. Interface names are per run: wireguard-go's control socket is
/var/run/wireguard/<ifname>.sock for the whole host, shared by every namespace and run.
"""
import os

from . import netns


def key(st, name):
    """The path of the private key NAME in the run directory, made on first use."""
    path = st.file(name)
    if not os.path.exists(path):
        p = netns.run(["wg", "genkey"])
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path  # made meanwhile by another part of the same run
        with os.fdopen(fd, "w") as f:
            f.write(p.stdout)
    return path


def pub(key_path):
    """The public key of the private key at KEY_PATH."""
    with open(key_path, encoding="ascii") as f:
        return netns.run(["wg", "pubkey"], input=f.read()).stdout.strip()


def client_key(st, node):
    return key(st, f"{node}.wg.key")


def endpoint_key(st):
    """The key of the fleet's VPN endpoint, which every client's tunnel goes to."""
    return key(st, "vpn-endpoint.wg.key")


def ifname(st, kind, index):
    """A host-wide unique interface name: 'w' + KIND letter + run id + INDEX (at most 15)."""
    name = f"w{kind}{st.id}{index}"
    assert len(name) < 16, name
    return name
