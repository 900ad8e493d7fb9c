#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The scapy generators' safety and bookkeeping: lab addresses only, bounded runs, never from
outside a lab namespace, and malformed packets labelled the way edged's parser must see them."""
import os
import subprocess
import tempfile
import unittest

import labtest

GEN = os.path.join(labtest.REPO, "traffic", "gen.py")


def gen(*args):
    return subprocess.run(["/usr/bin/python3", GEN] + list(args), capture_output=True, text=True, timeout=120)


class Safety(unittest.TestCase):
    def test_refuses_addresses_outside_lab_ranges(self):
        p = gen("syn-flood", "--dst", "8.8.8.8", "--count", "1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("outside the lab ranges", p.stderr)

    def test_refuses_spoofing_outside_lab_ranges(self):
        p = gen("syn-flood", "--dst", "203.0.113.10", "--spoof", "10.0.0.0/8", "--count", "1", "--write", "/dev/null")
        self.assertEqual(p.returncode, 2)

    def test_refuses_to_send_outside_a_lab_namespace(self):
        p = gen("udp-flood", "--dst", "203.0.113.10", "--count", "1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("refusing to send outside a lab namespace", p.stderr)

    def test_bounds_are_capped(self):
        for args in (("--count", "2000000"), ("--duration", "1000"), ("--pps", "0")):
            p = gen("syn-flood", "--dst", "203.0.113.10", "--write", "/dev/null", *args)
            self.assertEqual(p.returncode, 2, args)


class Pcaps(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="labtest-")

    def tearDown(self):
        for f in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, f))
        os.rmdir(self.tmp)

    def read(self, path):
        from scapy.layers.inet import IP, UDP
        from scapy.utils import rdpcap
        self.IP, self.UDP = IP, UDP
        return rdpcap(path)

    def test_every_kind_writes_its_count(self):
        for kind in ("syn-flood", "udp-flood", "icmp-flood", "dns-amp", "ntp-amp", "gre"):
            path = os.path.join(self.tmp, kind + ".pcap")
            p = gen(kind, "--dst", "203.0.113.10", "--count", "25", "--spoof", "198.51.100.0/24", "--write", path)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(self.read(path)), 25, kind)

    def test_spoofed_sources_stay_in_the_prefix(self):
        path = os.path.join(self.tmp, "s.pcap")
        gen("syn-flood", "--dst", "203.0.113.10", "--count", "50", "--spoof", "198.51.100.128/25", "--write", path)
        import ipaddress
        net = ipaddress.ip_network("198.51.100.128/25")
        srcs = {p[self.IP].src for p in self.read(path)}
        self.assertGreater(len(srcs), 10)
        self.assertTrue(all(ipaddress.ip_address(s) in net for s in srcs))

    def test_amplification_is_reflection_shaped(self):
        path = os.path.join(self.tmp, "ntp.pcap")
        gen("ntp-amp", "--dst", "203.0.113.10", "--count", "5", "--write", path)
        for p in self.read(path):
            self.assertEqual(p[self.UDP].sport, 123)
            self.assertGreater(len(p), 400)

    def test_malformed_labels(self):
        import json
        path = os.path.join(self.tmp, "m.pcap")
        p = gen("malformed", "--dst", "203.0.113.10", "--dst6", "2001:db8:a0::10", "--repeat", "2", "--write", path)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["classes"], {"malformed": 16, "well-formed": 18})
        self.assertEqual(len(self.read(path)), 34)

    def test_malformed_without_ipv6_target_skips_ipv6_variants(self):
        import json
        p = gen("malformed", "--dst", "203.0.113.10", "--write", os.path.join(self.tmp, "m4.pcap"))
        self.assertEqual(json.loads(p.stdout)["classes"], {"malformed": 6, "well-formed": 5})

    def test_spoof_list_alternates(self):
        path = os.path.join(self.tmp, "alt.pcap")
        p = gen("udp-flood", "--dst", "203.0.113.10", "--count", "600", "--spoof", "100.127.255.1,198.51.100.200",
                "--write", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        srcs = [q[self.IP].src for q in self.read(path)]
        self.assertEqual(srcs[:4], ["100.127.255.1", "198.51.100.200"] * 2)
        self.assertEqual((srcs.count("100.127.255.1"), srcs.count("198.51.100.200")), (300, 300))
        p = gen("udp-flood", "--dst", "203.0.113.10", "--count", "1", "--spoof", "100.127.255.1,2001:db8::1",
                "--write", path)
        self.assertEqual(p.returncode, 2)

    def test_distinct_sources_beyond_the_pool(self):
        import ipaddress
        import json
        path = os.path.join(self.tmp, "many.pcap")
        p = gen("syn-flood", "--dst", "203.0.113.10", "--count", "3000", "--spoof", "100.96.0.0/11", "--sources",
                "2000", "--write", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["sources"], 2000)
        pkts = self.read(path)
        srcs = [q[self.IP].src for q in pkts]
        self.assertEqual(len(set(srcs)), 2000, "2000 distinct sources, then the first ones again")
        self.assertEqual(srcs[2000:2010], srcs[:10])
        net = ipaddress.ip_network("100.96.0.0/11")
        self.assertTrue(all(ipaddress.ip_address(x) in net for x in srcs))
        # checksums survive the rewrite: scapy recomputes them from scratch for comparison
        from scapy.layers.inet import TCP
        for q in pkts[::97]:
            ip_sum, tcp_sum = q[self.IP].chksum, q[TCP].chksum
            fresh = q[self.IP].__class__(bytes(q[self.IP]))
            del fresh.chksum, fresh[TCP].chksum
            fresh = fresh.__class__(bytes(fresh))
            self.assertEqual((ip_sum, tcp_sum), (fresh.chksum, fresh[TCP].chksum))

    def test_distinct_sources_ipv6_checksums(self):
        from scapy.layers.inet import UDP
        from scapy.layers.inet6 import IPv6
        path = os.path.join(self.tmp, "many6.pcap")
        p = gen("udp-flood", "--dst", "2001:db8:a0::10", "--count", "700", "--spoof", "2001:db8:bad::/48",
                "--sources", "700", "--write", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        pkts = self.read(path)
        self.assertEqual(len({q[IPv6].src for q in pkts}), 700)
        for q in pkts[::50]:
            fresh = IPv6(bytes(q[IPv6]))
            want = fresh[UDP].chksum
            del fresh[UDP].chksum
            self.assertEqual(IPv6(bytes(fresh))[UDP].chksum, want)

    def test_sources_refusals(self):
        for args in (("--sources", "10"), ("--spoof", "198.51.100.0/28", "--sources", "100"),
                     ("--spoof", "198.51.100.1,198.51.100.2", "--sources", "2")):
            p = gen("udp-flood", "--dst", "203.0.113.10", "--count", "5", "--write", "/dev/null", *args)
            self.assertEqual(p.returncode, 2, args)


if __name__ == "__main__":
    labtest.main()
