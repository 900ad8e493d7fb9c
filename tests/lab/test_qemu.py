#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The QEMU tier without booting anything: topology options for guests (every error with its
line and fix), the QEMU variant of a scenario's topology, what the lab generates for a guest
(QEMU command line, bring-up script, edged config), the agent's protocol over loopback, and
the guest image's Python closure and module tree."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import labtest
from lablib import edge, qemu, scenario, topology
from lablib.errors import LabError, LabErrors

REPO = labtest.REPO
AGENT = os.path.join(REPO, "lab", "qemu", "agent.py")
PY = "/usr/bin/python3"

GOOD = """\
#  client1 -- r1 == edge1 (QEMU guest, two links)
#               \\-- origin1
name: tinyq
anycast:
  prefixes: [203.0.113.0/24]
  vips: [203.0.113.10]
nodes:
  client1: {role: client}
  r1: {role: router, as: 64500}
  edge1: {role: edge, as: 64510, qemu: true}
  origin1: {role: origin, loopback: [192.0.2.80/32]}
links:
  - [client1, r1]
  - [r1, edge1]
  - {a: r1, b: edge1, nic: e1000}
  - [r1, origin1]
"""


def load(text):
    path = labtest.write_tmp(text)
    try:
        return topology.load(path)
    finally:
        os.unlink(path)


def errors(text):
    try:
        load(text)
    except LabErrors as e:
        return e.errors
    except LabError as e:
        return [e]
    return []


class GuestTopology(unittest.TestCase):
    def assertError(self, text, line, *words):
        errs = errors(text)
        self.assertTrue(errs, "expected a validation error")
        for e in errs:
            if e.line == line and all(w in str(e) for w in words):
                self.assertTrue(e.file and e.fix, f"error without file or fix: {e}")
                return
        self.fail(f"no error at line {line} with {words}; got:\n" + "\n".join(str(e) for e in errs))

    def test_guest_and_nic_models(self):
        t = load(GOOD)
        g = t.nodes["edge1"]
        self.assertTrue(g.is_guest)
        self.assertEqual(g.qemu, {"nic": "virtio", "smp": 1, "memory": 1024})
        self.assertEqual([(e.ifname, e.nic) for e in g.ends], [("r1", "virtio"), ("r1-2", "e1000")])
        self.assertEqual([n.name for n in t.guests], ["edge1"])
        self.assertIsNone(t.nodes["r1"].ends[1].nic, "the router's end is a tap, not a guest NIC")

    def test_node_default_nic_and_settings(self):
        t = load(GOOD.replace("qemu: true", "qemu: {nic: e1000e, smp: 2, memory: 768}"))
        self.assertEqual(t.nodes["edge1"].qemu, {"nic": "e1000e", "smp": 2, "memory": 768})
        self.assertEqual([e.nic for e in t.nodes["edge1"].ends], ["e1000e", "e1000"])

    def test_qemu_false_is_a_namespace(self):
        t = load(GOOD.replace("qemu: true", "qemu: false").replace(", nic: e1000", ""))
        self.assertFalse(t.nodes["edge1"].is_guest)

    def test_defaults_make_guests(self):
        t = load(GOOD.replace("nodes:", "defaults:\n  edge: {qemu: {nic: e1000}}\nnodes:")
                 .replace(", qemu: true", ""))
        self.assertEqual([e.nic for e in t.nodes["edge1"].ends], ["e1000", "e1000"])

    def test_router_cannot_be_a_guest(self):
        self.assertError(GOOD.replace("{role: router, as: 64500}", "{role: router, as: 64500, qemu: true}"), 9,
                         "cannot be a QEMU guest", "routers")

    def test_client_cannot_be_a_guest(self):
        self.assertError(GOOD.replace("client1: {role: client}", "client1: {role: client, qemu: true}"), 8,
                         "(client) cannot be a QEMU guest")

    def test_unknown_nic_model(self):
        self.assertError(GOOD.replace("nic: e1000}", "nic: igb}"), 15, "'igb' is not a NIC model", "virtio")
        self.assertError(GOOD.replace("qemu: true", "qemu: {nic: rtl8139}"), 10, "rtl8139", "nic is one of")

    def test_bad_qemu_values(self):
        self.assertError(GOOD.replace("qemu: true", "qemu: {smp: 9}"), 10, "smp must be an integer from 1 to 4")
        self.assertError(GOOD.replace("qemu: true", "qemu: {memory: 64}"), 10, "memory")
        self.assertError(GOOD.replace("qemu: true", "qemu: {cpus: 2}"), 10, "unknown key 'cpus'")
        self.assertError(GOOD.replace("qemu: true", "qemu: yes"), 10, "true, false or a mapping")

    def test_nic_on_a_link_without_a_guest(self):
        self.assertError(GOOD.replace("  - [r1, origin1]", "  - {a: r1, b: origin1, nic: virtio}"), 16,
                         "neither end is a guest", "qemu: true")

    def test_management_subnet_is_never_a_link(self):
        self.assertError(GOOD.replace("  - [r1, origin1]", "  - {a: r1, b: origin1, v4: 100.127.255.252/30}"), 16,
                         "management link", str(topology.MGMT_NET))

    def test_tunnels_need_a_guest_kernel(self):
        site = GOOD.replace("  origin1:", "  site1: {role: customer-site, gre: {remote: 203.0.113.1}}\n  origin1:") \
            .replace("  - [r1, origin1]", "  - [r1, origin1]\n  - [site1, r1]")
        self.assertError(site, 11, "gre needs the node to be a QEMU guest", "no GRE netdevs", "qemu: true")
        # WireGuard does not: a namespace client runs wireguard-go.
        vpn = GOOD.replace("  origin1:", "  vpn1: {role: vpn-client, wireguard: {address: 100.127.1.2/24, "
                                         "routes: [192.0.2.80/32]}}\n"
                                         "  origin1:").replace("  - [r1, origin1]", "  - [r1, origin1]\n  - [vpn1, r1]")
        self.assertEqual(errors(vpn), [])
        self.assertError(vpn.replace("192.0.2.80/32", "8.8.8.8/32"), 11, "outside the lab's address ranges")

    def test_tunnel_settings(self):
        t = topology.load("tunnels-qemu")
        g, w = t.nodes["site1"].gre, t.nodes["vpn1"].wireguard
        self.assertEqual((str(g["remote"]), str(g["address"]), g["local"]), ("203.0.113.1", "100.127.0.2/30", None))
        self.assertEqual((str(w["address"]), str(w["endpoint"]), w["port"]), ("100.127.1.2/24", "203.0.113.10", 51820))
        bad = GOOD.replace("  origin1:", "  vpn1: {role: vpn-client, qemu: true, wireguard: {address: 100.127.1.2/24, "
                                         "peer_key: nope}}\n  origin1:").replace("  - [r1, origin1]",
                                                                                  "  - [r1, origin1]\n  - [vpn1, r1]")
        self.assertError(bad, 11, "not a WireGuard public key")
        bad = GOOD.replace("  origin1:", "  site1: {role: customer-site, qemu: true, gre: {remote: 8.8.8.8}}\n"
                                         "  origin1:")
        bad = bad.replace("  - [r1, origin1]", "  - [r1, origin1]\n  - [site1, r1]")
        self.assertError(bad, 11, "outside the lab's address ranges")

    def test_transit_and_egress_ends(self):
        # The customer's hosts behind the site guest, a prefix the edge announces without it
        # being local there (anycast.transit), and the internet host the VPN client routes
        # through its tunnel.
        t = topology.load("tunnels-qemu")
        self.assertEqual([str(h) for h in t.nodes["site1"].gre["hosts"]], ["198.51.100.129/26"])
        self.assertEqual([str(p) for p in t.transit], ["198.51.100.128/26"])
        self.assertEqual([str(r) for r in t.nodes["vpn1"].wireguard["routes"]], ["192.0.2.80/32"])
        from lablib import bird
        conf = bird.config(t, t.nodes["edge1"], "/tmp/x.log")
        static4 = conf.split("protocol static anycast4")[1].split("}")[0]
        self.assertIn("route 198.51.100.128/26 blackhole;", static4, "announced while edged is healthy")

    def test_peer_named_mgmt_is_refused(self):
        text = GOOD.replace("r1", "mgmt")
        self.assertTrue(any("management NIC" in str(e) for e in errors(text)))


class Variants(unittest.TestCase):
    def test_fleet_qemu_is_the_fleet_with_guests(self):
        base, var = topology.load("fleet"), topology.load("fleet-qemu")
        self.assertEqual({n: v.role for n, v in base.nodes.items()}, {n: v.role for n, v in var.nodes.items()})
        self.assertEqual([(ln.a.node, ln.b.node, str(ln.v4), str(ln.v6)) for ln in base.links],
                         [(ln.a.node, ln.b.node, str(ln.v4), str(ln.v6)) for ln in var.links])
        self.assertEqual({g.name: {e.nic for e in g.ends} for g in var.guests},
                         {"edge1": {"virtio"}, "edge2": {"e1000"}})
        self.assertEqual(var.transit, base.transit, "the transit customers' prefixes too")

    def test_default_scenarios_map_to_fleet_qemu(self):
        for s in scenario.available(tag="default"):
            s.topo = topology.load(s.topology)
            self.assertEqual(scenario.qemu_variant(s).name, s.topo.name + "-qemu", s.name)

    def test_smoke_maps_to_single_edge_qemu(self):
        s = scenario.load("smoke")
        self.assertEqual(scenario.qemu_variant(s).name, "single-edge-qemu")

    def test_a_topology_without_variant_is_an_error_with_a_fix(self):
        path = labtest.write_tmp(GOOD.replace("name: tinyq", "name: tinyns").replace(", qemu: true", "")
                                 .replace(", nic: e1000", ""))
        try:
            s = scenario.Scenario("x.yaml")
            s.name, s.topo = "x", topology.load(path)
            with self.assertRaises(LabError) as cm:
                scenario.qemu_variant(s)
            self.assertIn("no QEMU variant", cm.exception.msg)
            self.assertIn("topologies/tinyns-qemu.yaml", cm.exception.fix)
        finally:
            os.unlink(path)


class FakeRun:
    def __init__(self, d):
        self.dir, self.id, self.prefix = d, "abc123", "lab-abc123"
        self.data = {"guests": {}}

    def file(self, name):
        return os.path.join(self.dir, name)

    def ns(self, node):
        return f"{self.prefix}-{node}"


class FakeLab:
    def __init__(self, topo, st):
        self.topo, self.st = topo, st


class Generated(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="labtest-")
        cls.topo = load(GOOD.replace("qemu: true", "qemu: {smp: 2}"))
        cls.st = FakeRun(cls.tmp)
        cls.guest = qemu.Guest(FakeLab(cls.topo, cls.st), "edge1", 3)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def argv(self):
        return self.guest.qemu_argv("/k/vmlinux", "/i/lab-guest.cpio")

    def opts(self, flag):
        a = self.argv()
        return [a[i + 1] for i, x in enumerate(a) if x == flag]

    def test_qemu_is_bounded_and_never_reboots(self):
        a = self.argv()
        self.assertEqual(a[:3], ["timeout", "--kill-after=5", str(qemu.LIFETIME)])
        self.assertIn("-no-reboot", a)
        self.assertEqual(self.opts("-accel"), ["tcg"])
        self.assertIn("panic=-1", self.opts("-append")[0])

    def test_every_netdev_is_a_tap_without_vhost_or_scripts(self):
        netdevs = self.opts("-netdev")
        self.assertEqual(len(netdevs), 3)  # management + two links
        for n in netdevs:
            self.assertTrue(n.startswith("tap,"), n)
            self.assertIn("script=no,downscript=no,vhost=off", n)
        self.assertFalse(any("user" in n or "bridge" in n for n in netdevs))

    def test_virtio_is_multiqueue_e1000_is_not(self):
        devs, nets = self.opts("-device"), self.opts("-netdev")
        self.assertIn("queues=4", nets[1])  # twice smp: XDP_TX gets queues of its own
        self.assertIn("virtio-net-pci,netdev=n1,mac=52:54:00:1a:03:01,mq=on,vectors=10", devs[1])
        self.assertEqual(devs[2], "e1000,netdev=n2,mac=52:54:00:1a:03:02")
        self.assertNotIn("queues", nets[2])

    def test_shares_repo_read_only_and_the_run_dir(self):
        fs = self.opts("-virtfs")
        self.assertIn(f"path={REPO},mount_tag=repo", fs[0])
        self.assertIn("readonly=on", fs[0])
        self.assertIn(f"path={self.tmp},mount_tag=run", fs[1])
        append = self.opts("-append")[0]
        self.assertIn(f"lab_repo={REPO}", append)
        self.assertIn(f"lab_mgmt=52:54:00:1a:03:00,{qemu.MGMT_GUEST},{qemu.AGENT_PORT}", append)

    def test_setup_script_names_nics_by_mac_and_sets_queues(self):
        text = self.guest.setup_script(["addr add 100.64.0.6/30 dev r1"], {"net.ipv4.conf.all.rp_filter": 0})
        self.assertIn("name_by_mac 52:54:00:1a:03:01 r1\n", text)
        self.assertIn("name_by_mac 52:54:00:1a:03:02 r1-2\n", text)
        self.assertIn("ethtool -L r1 combined 2", text)
        self.assertNotIn("ethtool -L r1-2", text)
        self.assertIn("sysctl -q -w net.ipv4.conf.all.rp_filter=0", text)
        with open(self.st.file("edge1.ip-batch")) as f:
            self.assertEqual(f.read(), "addr add 100.64.0.6/30 dev r1\n")

    def test_edged_config_follows_the_nic(self):
        node = self.topo.nodes["edge1"]
        modes = {e.ifname: topology.NIC_MODELS[e.nic] for e in node.ends}
        cfg = edge.build_config("lab/templates/edge.yaml", self.topo, node, self.st,
                                control_socket="/run/edged/x.sock", uplink_modes=modes)
        self.assertEqual(cfg["uplinks"], [{"name": "r1", "xdp_mode": "native"},
                                          {"name": "r1-2", "xdp_mode": "generic"}])
        self.assertEqual(cfg["control_socket"], "/run/edged/x.sock")
        cfg = edge.build_config("lab/templates/edge-generic.yaml", self.topo, node, self.st, uplink_modes=modes)
        self.assertEqual({u["xdp_mode"] for u in cfg["uplinks"]}, {"generic"}, "a nameless template entry wins")

    def test_egress_backend_follows_the_node(self):
        # A guest's kernel has WireGuard; the host's has not (wireguard-go).
        node = self.topo.nodes["edge1"]
        self.assertEqual(edge.wireguard_vars(self.topo, node, self.st)["wg_backend"], "kernel")
        ns = topology.load("single-edge-vpn")
        self.assertEqual(edge.wireguard_vars(ns, ns.nodes["edge1"], self.st)["wg_backend"], "wireguard-go")

    def test_logs_hint_names_the_logs_there_are(self):
        for name in ("site9.console.log", "site9.setup.log"):
            open(self.st.file(name), "w").close()
        hint = qemu.logs_hint(self.st, "site9")
        self.assertIn("site9.console.log (guest console)", hint)
        self.assertIn("site9.setup.log", hint)
        self.assertNotIn("edged.log", hint, "a customer site has no edged")

    def test_guest_blackhole_keeps_the_management_link(self):
        self.assertIn('iifname "mgmt" accept', qemu.GUEST_BLACKHOLE_NFT)
        self.assertIn('oifname "mgmt" accept', qemu.GUEST_BLACKHOLE_NFT)

    def test_commands_for_a_guest_go_through_its_agent(self):
        self.st.data["guests"]["edge1"] = {"ns": self.st.ns("edge1")}
        argv = qemu.node_argv(self.st, "edge1", ["ip", "link"])
        self.assertEqual(argv[:2], ["nsenter", "--net=/run/netns/lab-abc123-edge1"])
        self.assertEqual(argv[-5:], ["exec", qemu.AGENT_ADDR, "--", "ip", "link"])
        self.assertEqual(qemu.node_argv(self.st, "r1", ["ip", "link"])[:3], ["ip", "netns", "exec"])
        del self.st.data["guests"]["edge1"]


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Agent(unittest.TestCase):
    """The agent's protocol, agent and clients on loopback (no guest, no root)."""

    @classmethod
    def setUpClass(cls):
        cls.addr = f"127.0.0.1:{free_port()}"
        cls.proc = subprocess.Popen([PY, AGENT, "serve", cls.addr], stdout=subprocess.PIPE, text=True)
        cls.proc.stdout.readline()  # "listening on"
        cls.tmp = tempfile.mkdtemp(prefix="labtest-")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait()
        shutil.rmtree(cls.tmp)

    def client(self, *argv, **kw):
        return subprocess.run([PY, AGENT, "exec", self.addr, "--"] + list(argv), capture_output=True, text=True,
                              timeout=20, **kw)

    def test_ping(self):
        p = subprocess.run([PY, AGENT, "ping", self.addr], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn('"ok": true', p.stdout)

    def test_exec_passes_output_and_status(self):
        p = self.client("bash", "-c", "echo out; echo err >&2; exit 3")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (3, "out\n", "err\n"))

    def test_exec_passes_stdin(self):
        p = self.client("tr", "a-z", "A-Z", input="table inet x\n")
        self.assertEqual(p.stdout, "TABLE INET X\n")

    def test_missing_command_is_127(self):
        p = self.client("/nonexistent/tool")
        self.assertEqual(p.returncode, 127)
        self.assertIn("cannot run", p.stderr)

    def test_signal_is_forwarded(self):
        marker = os.path.join(self.tmp, "term")
        p = subprocess.Popen([PY, AGENT, "exec", self.addr, "--", "bash", "-c",
                              f"trap 'echo got > {marker}; exit 7' TERM; while :; do sleep 0.1; done"],
                             stdin=subprocess.DEVNULL)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 7)
        self.assertTrue(os.path.exists(marker))

    def test_a_client_that_goes_takes_its_command(self):
        pidfile = os.path.join(self.tmp, "pid")
        p = subprocess.Popen([PY, AGENT, "exec", self.addr, "--", "bash", "-c", f"echo $$ > {pidfile}; exec sleep 60"],
                             stdin=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(pidfile) and open(pidfile).read().strip():
                break
            time.sleep(0.1)
        pid = int(open(pidfile).read())
        self.assertTrue(running(pid))
        p.kill()  # SIGKILL: the client cannot pass anything on; the agent sees the connection go
        p.wait()
        for _ in range(80):
            if not running(pid):
                break
            time.sleep(0.1)
        self.assertFalse(running(pid), "the command outlived its client")

    def test_bridge_forwards_a_unix_socket(self):
        guest_sock, host_sock = os.path.join(self.tmp, "g.sock"), os.path.join(self.tmp, "h.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(guest_sock)
        srv.listen(1)

        def echo():
            c, _ = srv.accept()
            data = b""
            while True:
                chunk = c.recv(100)
                if not chunk:
                    break
                data += chunk
            c.sendall(b"echo " + data)
            c.close()

        threading.Thread(target=echo, daemon=True).start()
        b = subprocess.Popen([PY, AGENT, "bridge", self.addr, f"{host_sock}={guest_sock}"], stdout=subprocess.PIPE)
        try:
            b.stdout.readline()
            c = socket.socket(socket.AF_UNIX)
            c.connect(host_sock)
            c.sendall(b"json stats")
            c.shutdown(socket.SHUT_WR)  # the half-close reaches the guest's server
            c.settimeout(10)
            got = b""
            while True:
                chunk = c.recv(100)
                if not chunk:
                    break
                got += chunk
            self.assertEqual(got, b"echo json stats")
        finally:
            b.terminate()
            b.wait()
            srv.close()
        self.assertFalse(os.path.exists(host_sock), "the bridge removes its socket")

    def test_no_agent_is_a_clear_error(self):
        p = subprocess.run([PY, AGENT, "exec", f"127.0.0.1:{free_port()}", "--", "true"], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(p.returncode, 255)
        self.assertIn("no agent answers", p.stderr)


class Image(unittest.TestCase):
    def test_python_closure_has_what_the_guest_needs(self):
        p = subprocess.run([PY, os.path.join(REPO, "lab", "qemu", "pylibs.py"),
                            os.path.join(REPO, "lab", "roles", "edge_service.py")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        dests = {line.split()[2] for line in p.stdout.splitlines() if line.startswith("file ")}
        for mod in ("http/server", "socketserver", "json/__init__", "subprocess", "encodings/idna", "stringprep"):
            self.assertIn(f"/usr/lib/python3.11/{mod}.pyc", dests, mod)
        self.assertFalse(any("/test/" in d for d in dests), "no test suites in the image")

    def test_module_closure_and_reproducible_archive(self):
        moddir = os.path.join(REPO, "build", "qemu", "kernel")
        trees = [os.path.join(moddir, d, "modules") for d in os.listdir(moddir)] if os.path.isdir(moddir) else []
        trees = [t for t in trees if os.path.exists(os.path.join(t, "kernel.release"))]
        if not trees:
            self.skipTest("no guest kernel cached (tests/qemu/guest-kernel.sh --modules fetches it)")
        tmp = tempfile.mkdtemp(prefix="labtest-")
        try:
            init = os.path.join(tmp, "init")
            with open(init, "w") as f:
                f.write("#!/bin/sh\n")
            man = os.path.join(tmp, "manifest")
            with open(man, "w") as f:
                f.write(f"init {init}\nlink /sbin/modprobe /bin/busybox\nkmods {trees[0]}\nmodule virtio_net\n")
            env = dict(os.environ, QEMU_CACHE=tmp)
            outs = [subprocess.run(["bash", os.path.join(REPO, "tests", "qemu", "mkinitramfs.sh"), "-m", man,
                                    "-n", "unit"], capture_output=True, text=True, env=env, timeout=120)
                    for _ in range(2)]
            self.assertEqual(outs[0].returncode, 0, outs[0].stderr)
            path = outs[0].stdout.strip()
            self.assertEqual(path, outs[1].stdout.strip(), "same inputs, same archive")
            listing = subprocess.run(["busybox", "cpio", "-t"], stdin=open(path, "rb"), capture_output=True,
                                     text=True).stdout.split()
            for want in ("virtio_net.ko", "net_failover.ko", "failover.ko", "virtio_ring.ko", "modules.dep",
                         "modules.alias", "sbin/modprobe", "init"):
                self.assertTrue(any(x.endswith(want) for x in listing), want)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    labtest.main()
