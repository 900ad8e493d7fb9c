# SPDX-License-Identifier: GPL-2.0
"""Address plan of a lab: which ranges are allowed, and link subnets allocated from pools.

Every address the lab configures comes from the documentation ranges (RFC 5737, RFC 3849) or
the shared address space 100.64.0.0/10 (RFC 6598), so lab traffic can never be confused with
real traffic. Link subnets are /30 (IPv4: .1 and .2, readable in captures) and /64 (IPv6: ::1
and ::2), handed out in link order so that a topology always gets the same addresses.
"""
import ipaddress

ALLOWED = [ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10", "2001:db8::/32")]
ALLOWED_TEXT = "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 100.64.0.0/10, 2001:db8::/32"

DEFAULT_POOL4 = "100.64.0.0/16"
DEFAULT_POOL6 = "2001:db8:ffff::/48"
LINK_PREFIX4 = 30
LINK_PREFIX6 = 64


def allowed(net):
    """True when NET (network, interface or address) lies inside one allowed range."""
    # Interfaces subclass addresses: test them first.
    if isinstance(net, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        net = net.network
    elif isinstance(net, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        net = ipaddress.ip_network(net)
    return any(net.version == a.version and net.subnet_of(a) for a in ALLOWED)


def parse_net(text, strict=True):
    """An IP network from TEXT, or a ValueError whose message says what is wrong."""
    try:
        return ipaddress.ip_network(str(text), strict=strict)
    except ValueError as e:
        raise ValueError(f"'{text}' is not an IP prefix ({e})") from None


def parse_iface(text):
    try:
        return ipaddress.ip_interface(str(text))
    except ValueError as e:
        raise ValueError(f"'{text}' is not an address with a prefix length ({e})") from None


def parse_addr(text):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError as e:
        raise ValueError(f"'{text}' is not an IP address ({e})") from None


class PoolExhausted(Exception):
    pass


class SubnetPool:
    """Hands out subnets of one size from a pool, skipping any that overlap reserved networks."""

    def __init__(self, pool, prefixlen, reserved=()):
        self.pool = pool
        self.prefixlen = prefixlen
        self.reserved = [r for r in reserved if r.version == pool.version]
        self._iter = pool.subnets(new_prefix=prefixlen)

    def take(self):
        for net in self._iter:
            if not any(net.overlaps(r) for r in self.reserved):
                return net
        raise PoolExhausted(f"pool {self.pool} has no free /{self.prefixlen} left")


def host(net, n):
    """The Nth address of NET as an interface (address/prefixlen)."""
    return ipaddress.ip_interface(f"{net[n]}/{net.prefixlen}")


def allocate_links(links, pool4, pool6, reserved=()):
    """Give every link an IPv4 and an IPv6 subnet; side a gets host 1, side b host 2.

    LINKS: objects with .v4 and .v6 (explicit networks or None) and .a/.b endpoints with
    .addr4/.addr6 to fill. Explicit subnets are reserved first so the pool skips them.
    Raises PoolExhausted when a pool is too small for the links.
    """
    explicit = [n for link in links for n in (link.v4, link.v6) if n is not None]
    p4 = SubnetPool(pool4, LINK_PREFIX4, list(reserved) + explicit)
    p6 = SubnetPool(pool6, LINK_PREFIX6, list(reserved) + explicit)
    for link in links:
        if link.v4 is None:
            link.v4 = p4.take()
        if link.v6 is None:
            link.v6 = p6.take()
        link.a.addr4, link.b.addr4 = host(link.v4, 1), host(link.v4, 2)
        link.a.addr6, link.b.addr6 = host(link.v6, 1), host(link.v6, 2)


def name_interfaces(links, maxlen=15):
    """Name each link end after the peer node ("rtr1"), "-2", "-3" for parallel links."""
    seen = {}
    for link in links:
        for end, peer in ((link.a, link.b), (link.b, link.a)):
            key = (end.node, peer.node)
            seen[key] = seen.get(key, 0) + 1
            name = peer.node if seen[key] == 1 else f"{peer.node}-{seen[key]}"
            if len(name) > maxlen:
                raise ValueError(f"interface name '{name}' is longer than {maxlen} characters")
            end.ifname = name
