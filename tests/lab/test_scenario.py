#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Scenario parsing and the pure parts of checks: committed scenarios are valid, mistakes are
reported with file, line and fix, and the measurements behind checks compute what they claim."""
import os
import unittest

import labtest
from lablib import scenario, topology, traffic
from lablib.errors import LabError, LabErrors

GOOD = """\
name: t
topology: single-edge
tags: [smoke]
steps:
  - snapshot: before
  - http: {name: web, from: client1, to: vip4, requests: 10}
  - wait: 1
  - expect_delivered: {traffic: web, min: 100%}
  - expect_counter: {node: edge1, counter: end.pass, since: before, min: $web.sent}
"""


def parse(text):
    path = labtest.write_tmp(text)
    try:
        return scenario.load(path)
    finally:
        os.unlink(path)


def errors(text):
    try:
        parse(text)
    except LabErrors as e:
        return e.errors
    except LabError as e:
        return [e]
    return []


class Committed(unittest.TestCase):
    def test_every_committed_scenario_is_valid(self):
        names = [s.name for s in scenario.available()]
        self.assertGreaterEqual(len(names), 5)
        for n in names:
            s = scenario.load(n)
            self.assertTrue(any(st.is_check for st in s.steps), n)

    def test_default_set_covers_the_issue(self):
        names = [s.name for s in scenario.available(tag="default")]
        for want in ("legit-http", "ecmp-spread", "edge-failover", "incident-loop", "teardown-clean",
                     "dos-syn-flood", "dos-udp-flood", "dos-spoofed-flood", "dos-blocklist-100k", "dos-capture-replay",
                     "lb-fleet", "dispatch-fleet", "transit-fleet", "vpn-egress", "vpn-egress-share"):
            self.assertIn(want, names)
        self.assertEqual(names[-1], "teardown-clean", "teardown must come last")
        # the fleet, and the VPN topologies egress needs (wireguard-go clients); each has a QEMU variant
        topologies = {scenario.load(n).topology for n in names}
        self.assertLessEqual(topologies, {"fleet", "fleet-vpn", "single-edge-vpn"})

    def test_smoke_set_is_single_edge(self):
        names = [s.name for s in scenario.available(tag="smoke")]
        self.assertTrue(names)
        self.assertTrue(all(scenario.load(n).topology == "single-edge" for n in names))


class Parsing(unittest.TestCase):
    def test_good(self):
        s = parse(GOOD)
        self.assertEqual([st.action for st in s.steps],
                         ["snapshot", "http", "wait", "expect_delivered", "expect_counter"])
        self.assertEqual(s.steps[1].args["parallel"], 4, "defaults are filled in")
        self.assertEqual(s.steps[2].args["seconds"], 1, "scalar form")
        self.assertEqual(s.steps[1].line, 6)

    def assertError(self, text, line, *words):
        errs = errors(text)
        for e in errs:
            if e.line == line and all(w in str(e) for w in words):
                self.assertTrue(e.fix and e.file)
                return
        self.fail(f"no error at line {line} with {words}; got: " + "; ".join(map(str, errs)))

    def test_unknown_action_suggests(self):
        self.assertError(GOOD.replace("- wait: 1", "- wait_for: 1"), 7, "unknown action 'wait_for'", "wait")

    def test_unknown_option(self):
        self.assertError(GOOD.replace("requests: 10", "request: 10"), 6, "unknown option 'request'")

    def test_unknown_node(self):
        self.assertError(GOOD.replace("from: client1", "from: client9"), 6, "no node 'client9'")

    def test_unknown_interface(self):
        self.assertError(GOOD.replace("  - wait: 1", "  - capture: {name: c, at: 'edge1:eth0'}"), 7,
                         "no interface 'eth0'", )

    def test_reference_to_later_traffic(self):
        self.assertError(GOOD.replace("traffic: web", "traffic: webx"), 8, "'webx' is not defined")

    def test_reference_in_bound(self):
        self.assertError(GOOD.replace("$web.sent", "$nope.sent"), 9, "traffic 'nope'")

    def test_missing_required(self):
        self.assertError(GOOD.replace("{name: web, from: client1,", "{name: web,"), 6, "'from' is required")

    def test_bad_percentage(self):
        self.assertError(GOOD.replace("min: 100%", "min: 150"), 8, "between 0 and 1")

    def test_scenario_without_checks(self):
        text = "\n".join(GOOD.splitlines()[:7]) + "\n"
        self.assertError(text, 4, "no check")

    def test_unknown_topology(self):
        self.assertError(GOOD.replace("single-edge", "nope"), 2, "topology 'nope'")

    def test_bad_failure_mode(self):
        self.assertError(GOOD.replace("- wait: 1", "- fail: {node: edge1, how: unplug}"), 7, "how must be one of")

    def test_replay_needs_pcap_or_capture(self):
        self.assertError(GOOD.replace("- wait: 1", "- replay: {at: 'edge1:r1'}"), 7, "exactly one of pcap")
        self.assertError(GOOD.replace("- wait: 1", "- replay: {capture: nope, at: 'edge1:r1'}"), 7,
                         "capture 'nope' is not defined")

    def test_requires_is_checked(self):
        self.assertError(GOOD.replace("tags: [smoke]", "tags: [smoke]\nrequires: [qemu]"), 4, "requires must be")
        self.assertEqual(parse(GOOD.replace("tags: [smoke]", "tags: [smoke]\nrequires: [edged]")).requires, ["edged"])

    def test_generate_needs_from_or_at(self):
        self.assertError(GOOD.replace("- wait: 1", "- generate: {name: g, kind: syn-flood}"), 7, "exactly one of")


DOS = """\
name: d
topology: fleet
requires: [edged]
steps:
  - block_file: {name: blk, count: 1000, first: [100.127.255.1/32], last: [198.51.100.128/25]}
  - reload_edged: {config: lab/templates/edge-dos-udp.yaml, within: 5}
  - snapshot: before
  - http: {name: web, from: client1, to: vip4, requests: 40, rate: 20, background: true}
  - generate: {name: ntp, kind: ntp-amp, from: attacker1, count: 100, background: true}
  - generate: {name: sp, kind: udp-flood, at: "edge1:rtr1", spoof: 100.96.0.0/11, sources: 5000, count: 5000}
  - capture: {name: c, at: "edge1:rtr1", filter: "udp"}
  - drop_capture: {name: drops, node: edge1, rule: ntp-reflection, count: 20}
  - expect_running: web
  - wait_traffic: ntp
  - expect_counter: {nodes: [edge1, edge2], sum: true, counter: rules.ntp-reflection.dropped, since: before, equals: "$ntp.sent + $sp.sent * 0"}
  - expect_counter: {node: edge1, counter: lists.block.entries_v4, equals: $blk.v4}
  - expect_map: {node: edge1, map: dos_buckets, min: 1, max: 262144}
  - expect_same: {capture: c, filters: ["src 100.127.255.1", "src 198.51.100.200"], tolerance: 2}
  - wait_sending: ntp
"""


class DosSteps(unittest.TestCase):
    assertError = Parsing.assertError

    def test_dos_steps_parse(self):
        s = parse(DOS)
        a = {st.action: st for st in s.steps}
        self.assertTrue(a["reload_edged"].is_check, "reload_edged with within: is a check")
        self.assertEqual(a["reload_edged"].args["nodes"], None, "all edges by default")
        self.assertEqual(a["block_file"].args["seed"], 1)
        self.assertEqual(a["http"].args["rate"], 20)
        self.assertEqual(a["drop_capture"].args["rule"], "ntp-reflection")
        counters = [st for st in s.steps if st.action == "expect_counter"]
        self.assertEqual(counters[0].args["since"], "before")
        self.assertIsNone(counters[1].args["since"], "expect_counter without since: the value now")
        for check in ("expect_running", "expect_map", "expect_same"):
            self.assertTrue(a[check].is_check, check)

    def test_lb_steps_parse(self):
        s = scenario.load("lb-fleet")
        a = {st.action: st for st in s.steps}
        self.assertTrue(a["edgectl"].is_check, "edgectl is a check: each edge must accept the command")
        self.assertTrue(a["expect_held"].is_check)
        self.assertEqual(a["tcp_hold"].args["silent"], 9)
        w = [st for st in s.steps if st.action == "expect_spread" and st.args.get("weights")]
        self.assertEqual(w[0].args["weights"], {"edge1": 1, "edge2": 1, "edge3": 2})

    def test_dispatch_steps_parse(self):
        s = scenario.load("dispatch-fleet")
        a = {st.action: st for st in s.steps}
        self.assertFalse(a["service"].is_check, "a service is an action")
        self.assertTrue(a["expect_log"].is_check)
        absent = [st for st in s.steps if st.action == "expect_log" and st.args["absent"]]
        self.assertEqual(absent[0].args["names"], ["app1-e1", "app1-e2", "app1-e3"])

    def test_expect_log_names_an_earlier_service(self):
        self.assertError(DOS.replace("  - snapshot: before\n",
                                     "  - expect_log: {names: [nope], text: x}\n  - snapshot: before\n"),
                         7, "no service or traffic 'nope'")

    def test_reload_without_within_is_an_action(self):
        s = parse(DOS.replace("edge-dos-udp.yaml, within: 5}", "edge-dos-udp.yaml}"))
        self.assertFalse([st for st in s.steps if st.action == "reload_edged"][0].is_check)

    def test_reload_needs_an_existing_template(self):
        self.assertError(DOS.replace("edge-dos-udp.yaml", "nope.yaml"), 6, "no file 'lab/templates/nope.yaml'")

    def test_block_file_prefixes_must_be_lab_prefixes(self):
        self.assertError(DOS.replace("last: [198.51.100.128/25]", "last: [10.0.0.0/8]"), 5, "outside the lab ranges")
        self.assertError(DOS.replace("first: [100.127.255.1/32]", "first: [nonsense]"), 5, "not a prefix")
        self.assertError(DOS.replace("first: [100.127.255.1/32]", "first: 100.127.255.1/32"), 5,
                         "must be a list of prefixes")

    def test_block_file_name_becomes_a_file_name(self):
        self.assertError(DOS.replace("name: blk,", "name: ../blk,"), 5, "1-40 of letters")

    def test_wait_sending(self):
        s = parse(DOS)
        self.assertEqual((s.steps[-1].action, s.steps[-1].args["timeout"]), ("wait_sending", 60))
        self.assertError(DOS.replace("wait_sending: ntp", "wait_sending: nope"), 19, "no traffic 'nope'")

    def test_expect_running_needs_earlier_traffic(self):
        self.assertError(DOS.replace("expect_running: web", "expect_running: nope"), 13, "no traffic 'nope'")

    def test_expect_same_needs_two_filters(self):
        self.assertError(DOS.replace('filters: ["src 100.127.255.1", "src 198.51.100.200"]', 'filters: ["udp"]'), 18,
                         "two or more filters")

    def test_qemu_overrides(self):
        text = GOOD.replace("requests: 10}", "requests: 10, qemu: {requests: 3, rate: 5}}").replace(
            "min: $web.sent}", "min: $web.sent, qemu: {min: \"$web.sent - 1\"}}")
        s = parse(text)
        self.assertEqual((s.steps[1].args["requests"], s.steps[1].qemu), (10, {"requests": 3, "rate": 5}))
        self.assertEqual(s.steps[-1].qemu, {"min": "$web.sent - 1"})
        self.assertEqual(parse(GOOD).steps[1].qemu, {})
        bad = [str(e) for e in errors(GOOD.replace("requests: 10}", "requests: 10, qemu: {bogus: 1}}"))]
        self.assertTrue(any("qemu: unknown option 'bogus'" in e for e in bad), bad)
        bad = [str(e) for e in errors(GOOD.replace("requests: 10}", "requests: 10, qemu: 5}"))]
        self.assertTrue(any("qemu: takes a mapping" in e for e in bad), bad)
        bad = [str(e) for e in errors(GOOD.replace("min: $web.sent}", "min: $web.sent, qemu: {min: $nope.sent}}"))]
        self.assertTrue(any("traffic 'nope'" in e for e in bad), bad)

    def test_expect_map_names_a_node(self):
        self.assertError(DOS.replace("{node: edge1, map: dos_buckets", "{map: dos_buckets"), 17, "node: or nodes:")

    def test_bound_expression_references_are_checked(self):
        self.assertError(DOS.replace("$ntp.sent + $sp.sent * 0", "$ntp.sent + $nope.sent"), 15, "traffic 'nope'")
        self.assertError(DOS.replace("$ntp.sent + $sp.sent * 0", "$ntp.sent +"), 15, "ends too early")


class Bounds(unittest.TestCase):
    def ev(self, text, **refs):
        return scenario.eval_bound(text, lambda r: refs[r[1:].replace(".", "_").replace("-", "_")])

    def test_arithmetic(self):
        self.assertEqual(self.ev("$a.sent + $b.sent", a_sent=30000, b_sent=12000), 42000)
        self.assertEqual(self.ev("($a.sent + $b.sent) * 0.15", a_sent=100, b_sent=100), 30)
        self.assertEqual(self.ev("$a.sent - 1500", a_sent=6000), 4500)
        self.assertEqual(self.ev("$a.sent * 0.5 - 1", a_sent=6000), 2999)
        self.assertEqual(self.ev("2 * (3 + 4)"), 14)
        self.assertAlmostEqual(self.ev("$a.sent * 0.99", a_sent=1001), 990.99)

    def test_field_names_with_dashes(self):
        self.assertEqual(self.ev("$bad.classes.well-formed", bad_classes_well_formed=20), 20)
        self.assertEqual(scenario.bound_refs("$bad.classes.well-formed + $x.sent"), ["bad", "x"])

    def test_syntax_errors(self):
        for bad in ("$a.sent +", "($a.sent", "$a.sent $b.sent", "$a.sent / 2", "3 ** 2"):
            with self.assertRaises(ValueError, msg=bad):
                scenario.eval_bound(bad, lambda r: 1)
        with self.assertRaises(ValueError):
            scenario.eval_bound("$a.sent", lambda r: "many")

    def test_parse_amount_checks_expressions(self):
        self.assertEqual(scenario.parse_amount("$a.sent * 0.99", False), "$a.sent * 0.99")
        with self.assertRaises(ValueError):
            scenario.parse_amount("$a.sent *", False)
        with self.assertRaises(ValueError):
            scenario.parse_amount("$a.sent", True)


class Targets(unittest.TestCase):
    def test_resolution(self):
        t = topology.load("single-edge")
        self.assertEqual(str(scenario.resolve_target(t, "vip4")), "203.0.113.10")
        self.assertEqual(str(scenario.resolve_target(t, "vip6")), "2001:db8:a0::10")
        self.assertEqual(str(scenario.resolve_target(t, "origin1")), "192.0.2.80")
        self.assertEqual(str(scenario.resolve_target(t, "origin1:v6")), "2001:db8:80::80")
        self.assertEqual(str(scenario.resolve_target(t, "198.51.100.9")), "198.51.100.9")
        with self.assertRaises(LabError):
            scenario.resolve_target(t, "8.8.8.8")
        with self.assertRaises(LabError):
            scenario.resolve_target(t, "nowhere")

    def test_amounts(self):
        self.assertAlmostEqual(scenario.parse_amount("95%", True), 0.95)
        self.assertEqual(scenario.parse_amount(0.5, True), 0.5)
        self.assertEqual(scenario.parse_amount(300, False), 300)
        self.assertEqual(scenario.parse_amount("$x.sent", False), "$x.sent")
        for bad in ("lots", True, 2):
            with self.assertRaises(ValueError):
                scenario.parse_amount(bad, True)


class Measurements(unittest.TestCase):
    def test_failover_stats(self):
        # flow 0 on edge2 until 1.0 s, lost until 3.0 s, then edge1; flow 1 always edge3;
        # flow 2 on edge2 and never answered again.
        doc = {"flows": [
            [[0.5, 0.51, "edge2"], [1.5, None, None], [2.5, None, None], [3.0, 3.02, "edge1"]],
            [[0.5, 0.51, "edge3"], [1.5, 1.51, "edge3"]],
            [[0.5, 0.51, "edge2"], [1.5, None, None]],
        ]}
        moved, stuck, worst, lost = scenario.failover_stats(doc, 1.0, "edge2")
        self.assertEqual((moved, stuck, lost), (1, 1, 3))
        self.assertAlmostEqual(worst, 2.02)

    def test_http_output(self):
        r = traffic._parse_http("200 40001 edge1 0.01\n200 40002 edge2 0.01\n000 40003  0.00\n")
        self.assertEqual((r["sent"], r["delivered"], r["by_edge"]), (3, 2, {"edge1": 1, "edge2": 1}))

    def test_nc_output(self):
        r = traffic._parse_nc("edge1 ping1\nedge3 ping2\nnc-failed 3\n")
        self.assertEqual((r["sent"], r["delivered"]), (3, 2))

    def test_generator_output(self):
        r = traffic._parse_gen('noise\n{"kind": "malformed", "sent": 17, "classes": {"malformed": 8}}\n')
        self.assertEqual(r["classes"]["malformed"], 8)
        self.assertIn("error", traffic._parse_gen("gen.py: refusing\n"))


if __name__ == "__main__":
    labtest.main()
