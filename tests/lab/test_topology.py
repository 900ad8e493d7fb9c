#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Topology validation: every error names the file, the line and a fix; the committed
topologies load; line numbers survive the YAML loader."""
import os
import unittest

import labtest
from lablib import topology
from lablib.errors import LabError, LabErrors
from lablib.yamlmarks import load_text

GOOD = """\
#  client1 -- r1 -- edge1
#               \\-- origin1
name: tiny
anycast:
  prefixes: [203.0.113.0/24, "2001:db8:a0::/48"]
  vips: [203.0.113.10]
nodes:
  client1: {role: client}
  r1: {role: router, as: 64500}
  edge1: {role: edge, as: 64510}
  origin1: {role: origin, loopback: [192.0.2.80/32]}
links:
  - [client1, r1]
  - [r1, edge1]
  - [r1, origin1]
"""


def load(text):
    path = labtest.write_tmp(text)
    try:
        return topology.load(path)
    finally:
        os.unlink(path)


def errors(text):
    """The list of LabErrors a topology produces ([] when it is valid)."""
    try:
        load(text)
    except LabErrors as e:
        return e.errors
    except LabError as e:
        return [e]
    return []


class Committed(unittest.TestCase):
    def test_single_edge_and_fleet_load(self):
        for name in ("single-edge", "fleet"):
            t = topology.load(name)
            self.assertTrue(t.drawing, name)
            self.assertGreaterEqual(len(t.edges), 1)

    def test_fleet_has_what_the_issue_asks(self):
        t = topology.load("fleet")
        roles = [n.role for n in t.nodes.values()]
        self.assertGreaterEqual(roles.count("edge"), 3)
        self.assertEqual(roles.count("customer-site"), 2)
        self.assertGreaterEqual(roles.count("vpn-client"), 1)
        self.assertGreaterEqual(roles.count("router"), 2)
        self.assertEqual(roles.count("internet"), 1)
        anycast = {tuple(e.anycast) for e in t.edges}
        self.assertEqual(len(anycast), 1, "every edge announces the same prefixes")

    def test_every_address_is_in_the_lab_ranges(self):
        from lablib import addressing
        for name in topology.available():
            t = topology.load(name)
            for link in t.links:
                for e in (link.a, link.b):
                    self.assertTrue(addressing.allowed(e.addr4) and addressing.allowed(e.addr6), (name, e.node))
            for n in t.nodes.values():
                for lo in n.loopback:
                    self.assertTrue(addressing.allowed(lo))


class Valid(unittest.TestCase):
    def test_good_topology(self):
        t = load(GOOD)
        self.assertEqual(t.name, "tiny")
        self.assertEqual(t.nodes["edge1"].ends[0].ifname, "r1")
        self.assertEqual(t.nodes["r1"].ends[1].ifname, "edge1")
        self.assertEqual(str(t.nodes["origin1"].addr(4)), "192.0.2.80")
        self.assertEqual(t.nodes["edge1"].origin, "origin1")
        self.assertEqual([str(p) for p in t.nodes["edge1"].anycast], ["203.0.113.0/24", "2001:db8:a0::/48"])
        self.assertEqual(str(topology.default_gateway(t, "client1", 4)), "100.64.0.2")

    def test_defaults_apply_by_role(self):
        t = load(GOOD.replace("  edge1: {role: edge, as: 64510}", "  edge1: {role: edge}")
                 .replace("nodes:", "defaults:\n  edge: {as: 64999}\nnodes:"))
        self.assertEqual(t.nodes["edge1"].asn, 64999)

    def test_yaml_12_booleans(self):
        self.assertEqual(load_text("a: off\nb: yes\nc: true\n"), {"a": "off", "b": "yes", "c": True})


class Invalid(unittest.TestCase):
    def assertError(self, text, line, *words):
        errs = errors(text)
        self.assertTrue(errs, "expected a validation error")
        for e in errs:
            if e.line == line and all(w in str(e) for w in words):
                self.assertTrue(e.file and e.fix, f"error without file or fix: {e}")
                return
        self.fail(f"no error at line {line} with {words}; got:\n" + "\n".join(str(e) for e in errs))

    def test_unknown_node_in_link(self):
        self.assertError(GOOD.replace("[r1, origin1]", "[r1, origin2]"), 15, "unknown node", "origin2", "fix:")

    def test_unknown_role(self):
        self.assertError(GOOD.replace("{role: client}", "{role: clent}"), 8, "clent", "role is one of")

    def test_address_outside_lab_ranges(self):
        self.assertError(GOOD.replace("192.0.2.80/32", "10.0.0.80/32"), 11, "outside the lab's address ranges")

    def test_anycast_outside_lab_ranges(self):
        self.assertError(GOOD.replace("203.0.113.0/24,", "8.8.8.0/24,"), 5, "outside")

    def test_vip_outside_anycast(self):
        self.assertError(GOOD.replace("vips: [203.0.113.10]", "vips: [198.51.100.10]"), 6, "not inside any anycast")

    def test_transit_prefixes(self):
        t = load(GOOD.replace("  vips: [203.0.113.10]\n", "  vips: [203.0.113.10]\n  transit: [192.0.2.128/26]\n"))
        self.assertEqual([str(p) for p in t.transit], ["192.0.2.128/26"])
        self.assertEqual([str(p) for p in t.nodes["edge1"].anycast], ["203.0.113.0/24", "2001:db8:a0::/48"])

    def test_transit_prefix_inside_anycast(self):
        self.assertError(GOOD.replace("  vips: [203.0.113.10]\n", "  vips: [203.0.113.10]\n  transit: [203.0.113.128/26]\n"),
                         7, "overlaps anycast prefix 203.0.113.0/24", "outside anycast.prefixes")

    def test_bgp_node_without_as(self):
        self.assertError(GOOD.replace("{role: router, as: 64500}", "{role: router}"), 9, "needs an AS number")

    def test_edge_linked_to_a_host(self):
        self.assertError(GOOD + "  - [edge1, client1]\n", 10, "edge 'edge1' is linked to client")

    def test_ibgp_link_refused(self):
        self.assertError(GOOD.replace("as: 64510", "as: 64500"), 9, "iBGP")

    def test_unknown_key_is_named(self):
        self.assertError(GOOD.replace("{role: client}", "{role: client, colour: red}"), 8, "unknown key 'colour'")

    def test_duplicate_node(self):
        self.assertError(GOOD.replace("  r1: {role: router, as: 64500}\n",
                                      "  r1: {role: router, as: 64500}\n  r1: {role: router, as: 64501}\n"),
                         10, "duplicate key 'r1'")

    def test_missing_drawing(self):
        self.assertError(GOOD.split("\n", 2)[2], 1, "ASCII drawing")

    def test_bad_node_name(self):
        self.assertError(GOOD.replace("client1: {role", "Client-1: {role"), 8, "not usable")

    def test_node_without_link(self):
        self.assertError(GOOD.replace("  origin1:", "  lonely: {role: client}\n  origin1:"), 11, "has no link")

    def test_hold_time_too_short(self):
        self.assertError(GOOD.replace("nodes:", "bgp: {hold: 2, keepalive: 1}\nnodes:"), 7, "hold")

    def test_overlapping_explicit_subnets(self):
        text = GOOD.replace("  - [r1, edge1]", "  - {a: r1, b: edge1, v4: 100.64.9.0/30}") \
            .replace("  - [r1, origin1]", "  - {a: r1, b: origin1, v4: 100.64.9.0/30}")
        self.assertError(text, 15, "overlaps")

    def test_explicit_subnet_is_skipped_by_the_pool(self):
        t = load(GOOD.replace("  - [r1, edge1]", "  - {a: r1, b: edge1, v4: 100.64.0.0/30}"))
        self.assertEqual(str(t.links[1].v4), "100.64.0.0/30")
        self.assertEqual(str(t.links[0].v4), "100.64.0.4/30")

    def test_every_error_is_reported_at_once(self):
        text = GOOD.replace("{role: client}", "{role: clent}").replace("192.0.2.80/32", "10.0.0.80/32")
        self.assertGreaterEqual(len(errors(text)), 2)

    def test_invalid_yaml_names_line(self):
        errs = errors(GOOD.replace("  r1: {role: router, as: 64500}", "  r1: {role: router, as: 64500"))
        self.assertTrue(errs and errs[0].line and "YAML" in str(errs[0]))

    def test_missing_template(self):
        self.assertError(GOOD.replace("{role: edge, as: 64510}", "{role: edge, as: 64510, config: nope.yaml}"), 10,
                         "does not exist")


if __name__ == "__main__":
    labtest.main()
