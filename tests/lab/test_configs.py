#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""What the lab generates for BIRD and edged, and how it reads edged's counters."""
import os
import shutil
import tempfile
import unittest

import labtest
from lablib import blocklist, bird, edge, topology
from lablib.errors import LabError


class FakeRun:
    def __init__(self, d):
        self.dir, self.id = d, "abc123"

    def file(self, name):
        return os.path.join(self.dir, name)


class Bird(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.topo = topology.load("fleet")
        cls.tmp = tempfile.mkdtemp(prefix="labtest-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def conf(self, node):
        return bird.config(self.topo, self.topo.nodes[node], "/tmp/x.log")

    def test_router_installs_multipath_and_uses_short_timers(self):
        c = self.conf("rtr1")
        self.assertIn("merge paths on", c)
        self.assertIn("hold time 3;", c)
        self.assertIn("keepalive time 1;", c)
        # one session per family per edge, plus the internet router
        self.assertEqual(c.count("protocol bgp "), 8)

    def test_edge_announces_only_its_anycast_and_starts_withdrawn(self):
        c = self.conf("edge2")
        self.assertIn("protocol static anycast4 {\n  disabled;", c)
        self.assertIn("route 203.0.113.0/24 blackhole;", c)
        self.assertIn('export where proto = "anycast4"', c)
        self.assertIn('export where proto = "anycast6"', c)
        self.assertNotIn("protocol direct", c)

    def test_edge_announces_transit_prefixes_with_its_anycast(self):
        # fleet's anycast.transit: announced (and withdrawn) with the anycast prefixes, while
        # the edge's kernel gets no local route for them (lablib/runtime.py adds the anycast only)
        c = self.conf("edge1")
        static4 = c.split("protocol static anycast4 {")[1].split("}")[0]
        static6 = c.split("protocol static anycast6 {")[1].split("}")[0]
        self.assertIn("route 192.0.2.128/26 blackhole;", static4)
        self.assertIn("route 2001:db8:c1::/48 blackhole;", static6)
        self.assertNotIn("192.0.2.128/26", "".join(str(p) for p in self.topo.nodes["edge1"].anycast))

    def test_own_link_subnets_are_never_imported(self):
        c = self.conf("edge1")
        for e in self.topo.nodes["edge1"].ends:
            self.assertIn(str(e.addr4.network), c.split("filter import4")[1].split("}")[0])
            self.assertIn(str(e.addr6.network), c.split("filter import6")[1].split("}")[0])

    def test_router_has_static_routes_to_host_loopbacks(self):
        c = self.conf("inet")
        self.assertIn("route 192.0.2.80/32 via", c)
        self.assertIn("route 198.51.100.0/26 via", c)

    @unittest.skipUnless(shutil.which("bird"), "bird2 not installed")
    def test_every_generated_config_parses(self):
        for n in self.topo.nodes.values():
            if not n.is_bgp:
                continue
            path = os.path.join(self.tmp, f"{n.name}.conf")
            with open(path, "w") as f:
                f.write(self.conf(n.name))
            ok, msg = bird.validate(path)
            self.assertTrue(ok, f"{n.name}: {msg}")

    def test_protocol_table_parsing(self):
        self.assertIsNotNone(bird.PROTO_LINE.match("rtr1_v4    BGP        ---        up     23:26:36.550  Established"))


class EdgedConfig(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="labtest-")
        self.run = FakeRun(self.tmp)
        self.topo = topology.load("fleet")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def tpl(self, text):
        path = os.path.join(self.tmp, "t.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_generated_keys(self):
        cfg = edge.build_config("lab/templates/edge.yaml", self.topo, self.topo.nodes["edge1"], self.run)
        self.assertEqual(cfg["instance"], "labc123-edge1")
        self.assertEqual(cfg["control_socket"], os.path.join(self.tmp, "edge1.sock"))
        self.assertEqual([u["name"] for u in cfg["uplinks"]], ["rtr1", "rtr2"])
        self.assertEqual(cfg["uplinks"][0]["xdp_mode"], "native")
        self.assertEqual(cfg["metrics"]["listen"], "off", "YAML 1.1 would have made this False")

    def test_instances_are_unique_per_node_and_short(self):
        names = {edge.instance_name("abc123", e.name) for e in self.topo.edges}
        self.assertEqual(len(names), 3)
        self.assertTrue(all(len(n) <= 31 for n in names))

    def test_nameless_uplink_entry_sets_defaults(self):
        cfg = edge.build_config(self.tpl("uplinks: [{xdp_mode: generic}]\n"), self.topo,
                                self.topo.nodes["edge2"], self.run)
        self.assertEqual([(u["name"], u["xdp_mode"]) for u in cfg["uplinks"]],
                         [("rtr1", "generic"), ("rtr2", "generic")])

    def test_variables_are_substituted(self):
        cfg = edge.build_config(self.tpl("note: ${node} ${vip4} ${anycast6}\n"), self.topo,
                                self.topo.nodes["edge3"], self.run)
        self.assertEqual(cfg["note"], "edge3 203.0.113.10 2001:db8:a0::/48")

    def test_other_nodes_addresses(self):
        cfg = edge.build_config(self.tpl("servers: [\"${addr4.edge1}\", \"${addr6.edge3}\"]\n"), self.topo,
                                self.topo.nodes["edge2"], self.run)
        self.assertEqual(cfg["servers"], [str(self.topo.nodes["edge1"].addr(4)), str(self.topo.nodes["edge3"].addr(6))])

    def test_fleet_self_is_this_nodes_addr4(self):
        cfg = edge.build_config(self.tpl("self: ${fleet_self}\nsame: ${addr4.edge2}\n"), self.topo,
                                self.topo.nodes["edge2"], self.run)
        self.assertEqual(cfg["self"], str(self.topo.nodes["edge2"].addr(4)))
        self.assertEqual(cfg["self"], cfg["same"])

    def test_lb_template_names_every_edge(self):
        cfg = edge.build_config("lab/templates/edge-lb.yaml", self.topo, self.topo.nodes["edge1"], self.run)
        addrs = {s["address"] for s in cfg["lb"]["servers"]}
        for n in ("edge1", "edge2", "edge3"):
            self.assertIn(str(self.topo.nodes[n].addr(4)), addrs)
            self.assertIn(str(self.topo.nodes[n].addr(6)), addrs)

    def test_unknown_variable_names_the_line(self):
        with self.assertRaises(LabError) as cm:
            edge.build_config(self.tpl("a: 1\nb: ${nope}\n"), self.topo, self.topo.nodes["edge1"], self.run)
        self.assertEqual(cm.exception.line, 2)

    def test_template_may_not_set_instance(self):
        with self.assertRaises(LabError) as cm:
            edge.build_config(self.tpl("instance: x\n"), self.topo, self.topo.nodes["edge1"], self.run)
        self.assertIn("remove", cm.exception.fix)


STATS = {"instance": "x", "uplinks": [
    {"iface": "rtr1", "packets": 10, "bytes": 1000,
     "counters": {"parse": {"drop": {"packets": 2, "bytes": 100}}, "end": {"pass": {"packets": 8, "bytes": 900}}}},
    {"iface": "rtr2", "packets": 5, "bytes": 500,
     "counters": {"parse": {"drop": {"packets": 1, "bytes": 60}}, "end": {"pass": {"packets": 4, "bytes": 440}}}}]}


class Counters(unittest.TestCase):
    def test_paths_sum_over_uplinks(self):
        self.assertEqual(edge.counter(STATS, "end.pass"), 12)
        self.assertEqual(edge.counter(STATS, "end.pass.bytes"), 1340)
        self.assertEqual(edge.counter(STATS, "parse.drop.packets"), 3)
        self.assertEqual(edge.counter(STATS, "packets"), 15)

    def test_missing_counter_is_an_error_not_zero(self):
        with self.assertRaises(LabError):
            edge.counter(STATS, "dos.drop")
        with self.assertRaises(LabError):
            edge.counter({"uplinks": []}, "end.pass")

    def test_dos_paths_read_the_dos_rules_document(self):
        doc = dict(STATS, dos=DOS_RULES)
        self.assertEqual(edge.counter(doc, "rules.ntp-reflection.dropped"), 7)
        self.assertEqual(edge.counter(doc, "rules.ntp-reflection.dropped.bytes"), 3080)
        self.assertEqual(edge.counter(doc, "rules.udp-junk.rate_limited"), 40)
        self.assertEqual(edge.counter(doc, "lists.block.dropped"), 3)
        self.assertEqual(edge.counter(doc, "lists.block.entries_v4"), 100000)
        self.assertEqual(edge.counter(doc, "syn_cookies.syn_answered"), 42)
        self.assertEqual(edge.counter(doc, "end.pass"), 12, "stage counters still sum over uplinks")

    def test_dos_paths_fail_loudly(self):
        doc = dict(STATS, dos=DOS_RULES)
        for bad in ("rules.nope.dropped", "rules.ntp-reflection.droped", "lists.block", "syn_cookies.nope"):
            with self.assertRaises(LabError, msg=bad):
                edge.counter(doc, bad)
        with self.assertRaises(LabError) as cm:
            edge.counter(dict(STATS, dos=None), "rules.ntp-reflection.dropped")
        self.assertIn("DoS function is off", cm.exception.msg)


def _outcomes(m, d, r, p):
    return {k: {"packets": v, "bytes": v * 440} for k, v in
            (("matched", m), ("dropped", d), ("rate_limited", r), ("passed", p))}


DOS_RULES = {
    "rules": [dict(name="ntp-reflection", id=0, action="drop", **_outcomes(7, 7, 0, 0)),
              dict(name="udp-junk", id=1, action="rate-limit", **_outcomes(50, 0, 40, 10))],
    "lists": [dict(name="allow", entries_v4=0, entries_v6=0, **_outcomes(0, 0, 0, 0)),
              dict(name="block", entries_v4=100000, entries_v6=0, **_outcomes(3, 3, 0, 0))],
    "syn_cookies": {"syn_answered": 42, "ack_valid": 5, "ack_invalid": 0}}


class DosTemplates(unittest.TestCase):
    setUp, tearDown = EdgedConfig.setUp, EdgedConfig.tearDown

    def test_every_dos_template_renders(self):
        import glob
        for path in sorted(glob.glob(os.path.join(labtest.REPO, "lab", "templates", "edge-dos-*.yaml"))):
            cfg = edge.build_config(os.path.relpath(path, labtest.REPO), self.topo, self.topo.nodes["edge1"], self.run)
            self.assertIn("dos", cfg, path)

    def test_syn_cookies_protect_the_vips(self):
        cfg = edge.build_config("lab/templates/edge-dos-syn.yaml", self.topo, self.topo.nodes["edge1"], self.run)
        self.assertEqual([c["dst"] for c in cfg["dos"]["syn_cookies"]], ["203.0.113.10", "2001:db8:a0::10"])

    def test_block_file_lives_in_the_run_directory(self):
        cfg = edge.build_config("lab/templates/edge-dos-block100k.yaml", self.topo, self.topo.nodes["edge2"], self.run)
        self.assertEqual(cfg["dos"]["block_files"], [os.path.join(self.tmp, "block100k.txt")])


class BlockFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="labtest-")
        self.path = os.path.join(self.tmp, "b.txt")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def lines(self):
        with open(self.path) as f:
            return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]

    def test_count_first_last_and_distinct(self):
        import ipaddress
        info = blocklist.generate(self.path, 5000, first=["100.127.255.1/32"], last=["198.51.100.128/25"])
        lines = self.lines()
        self.assertEqual((info["lines"], info["v4"], len(lines)), (5000, 5000, 5000))
        self.assertEqual((lines[0], lines[-1]), ("100.127.255.1/32", "198.51.100.128/25"))
        self.assertEqual(len(set(lines)), 5000, "no prefix twice")
        pool = ipaddress.ip_network("100.96.0.0/11")
        for ln in lines[1:-1]:
            n = ipaddress.ip_network(ln)  # strict: no host bits, as edged requires
            self.assertTrue(n.subnet_of(pool), ln)
        self.assertGreater(sum(1 for ln in lines if not ln.endswith("/32")), 500, "not only single addresses")

    def test_same_seed_same_file(self):
        blocklist.generate(self.path, 300, seed=5)
        a = self.lines()
        blocklist.generate(self.path, 300, seed=5)
        self.assertEqual(a, self.lines())

    def test_pools_share_and_ipv6(self):
        info = blocklist.generate(self.path, 1000, pool=["100.96.0.0/11", "2001:db8:b000::/36"])
        self.assertEqual((info["v4"], info["v6"]), (500, 500))

    def test_refusals(self):
        for kw in ({"pool": ["10.0.0.0/8"]}, {"first": ["8.8.8.8/32"]}, {"pool": ["198.51.100.0/28"]}):
            with self.assertRaises(LabError, msg=kw):
                blocklist.generate(self.path, 1000, **kw)
        with self.assertRaises(LabError):
            blocklist.generate(self.path, 1, first=["100.127.255.1/32"], last=["198.51.100.128/25"])


if __name__ == "__main__":
    labtest.main()
