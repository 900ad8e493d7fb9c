#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Address allocation: allowed ranges, deterministic link subnets, overlap avoidance, names."""
import ipaddress
import unittest

import labtest
from lablib import addressing


class End:
    def __init__(self, node):
        self.node = node
        self.addr4 = self.addr6 = self.ifname = None


class Link:
    def __init__(self, a, b, v4=None, v6=None):
        self.a, self.b = End(a), End(b)
        self.v4, self.v6 = v4, v6


def net(t):
    return ipaddress.ip_network(t)


class AllowedRanges(unittest.TestCase):
    def test_documentation_and_shared_ranges_are_allowed(self):
        for t in ("192.0.2.0/24", "198.51.100.7/32", "203.0.113.0/25", "100.64.0.0/10", "100.127.255.0/24",
                  "2001:db8::/32", "2001:db8:a0::/48"):
            self.assertTrue(addressing.allowed(net(t)), t)

    def test_everything_else_is_refused(self):
        for t in ("10.0.0.0/8", "192.168.1.0/24", "8.8.8.8/32", "100.128.0.0/16", "0.0.0.0/0",
                  "2001:db9::/32", "2001:db8::/31", "fe80::/64", "192.0.2.0/23"):
            self.assertFalse(addressing.allowed(net(t)), t)

    def test_interfaces_are_judged_by_their_network(self):
        self.assertTrue(addressing.allowed(ipaddress.ip_interface("198.51.100.1/26")))
        self.assertFalse(addressing.allowed(ipaddress.ip_interface("192.0.2.1/16")))


class Allocation(unittest.TestCase):
    def test_links_get_consecutive_subnets_host_1_and_2(self):
        links = [Link("a", "r"), Link("b", "r")]
        addressing.allocate_links(links, net("100.64.0.0/16"), net("2001:db8:ffff::/48"))
        self.assertEqual(str(links[0].a.addr4), "100.64.0.1/30")
        self.assertEqual(str(links[0].b.addr4), "100.64.0.2/30")
        self.assertEqual(str(links[1].a.addr4), "100.64.0.5/30")
        self.assertEqual(str(links[1].b.addr6), "2001:db8:ffff:1::2/64")

    def test_allocation_is_deterministic(self):
        runs = []
        for _ in range(2):
            links = [Link("a", "r"), Link("b", "r"), Link("c", "r")]
            addressing.allocate_links(links, net("100.64.0.0/16"), net("2001:db8:ffff::/48"))
            runs.append([(str(l.a.addr4), str(l.b.addr6)) for l in links])
        self.assertEqual(runs[0], runs[1])

    def test_explicit_subnets_are_kept_and_skipped_by_the_pool(self):
        links = [Link("a", "r"), Link("b", "r", v4=net("100.64.0.4/30"))]
        addressing.allocate_links(links, net("100.64.0.0/16"), net("2001:db8:ffff::/48"))
        self.assertEqual(str(links[1].v4), "100.64.0.4/30")
        self.assertEqual(str(links[0].v4), "100.64.0.0/30")
        links = [Link("b", "r", v4=net("100.64.0.0/30")), Link("a", "r")]
        addressing.allocate_links(links, net("100.64.0.0/16"), net("2001:db8:ffff::/48"))
        self.assertEqual(str(links[1].v4), "100.64.0.4/30")

    def test_reserved_networks_are_never_handed_out(self):
        links = [Link("a", "r")]
        addressing.allocate_links(links, net("100.64.0.0/29"), net("2001:db8:ffff::/48"),
                                  reserved=[net("100.64.0.0/30")])
        self.assertEqual(str(links[0].v4), "100.64.0.4/30")

    def test_pool_exhaustion_is_an_error(self):
        links = [Link("a", "r"), Link("b", "r"), Link("c", "r")]
        with self.assertRaises(addressing.PoolExhausted):
            addressing.allocate_links(links, net("100.64.0.0/29"), net("2001:db8:ffff::/48"))


class InterfaceNames(unittest.TestCase):
    def test_named_after_the_peer_with_suffix_for_parallel_links(self):
        links = [Link("edge1", "rtr1"), Link("edge1", "rtr1"), Link("edge1", "rtr2")]
        addressing.name_interfaces(links)
        self.assertEqual([l.a.ifname for l in links], ["rtr1", "rtr1-2", "rtr2"])
        self.assertEqual([l.b.ifname for l in links], ["edge1", "edge1-2", "edge1"])

    def test_too_long_names_are_refused(self):
        with self.assertRaises(ValueError):
            addressing.name_interfaces([Link("a", "x" * 16)])


if __name__ == "__main__":
    labtest.main()
