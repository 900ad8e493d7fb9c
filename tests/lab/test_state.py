#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Run ownership and `lab down --stale`: only lab namespaces of runs whose owner is gone are
stale; live runs and every other namespace are never touched."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import labtest
from lablib import netns, procs, state


class Guard(unittest.TestCase):
    def test_only_lab_namespaces_pass(self):
        for ok in ("lab-abc123-edge1", "lab-000000-r1"):
            self.assertEqual(netns.guard(ok), ok)
        for bad in ("dbg-e1", "lab-abc123", "lab-ABC123-edge1", "lab-abc12-edge1", "", None, "lab-abc123-edge1; rm",
                    "e2e-abc123-edge1", "lab-abc123-Edge1"):
            with self.assertRaises(AssertionError):
                netns.guard(bad)

    def test_commands_always_name_a_lab_namespace(self):
        self.assertEqual(netns.exec_argv("lab-abc123-c1", ["true"])[:4], ["ip", "netns", "exec", "lab-abc123-c1"])
        self.assertEqual(netns.exec_argv("lab-abc123-c1", ["true"], bpffs=True)[1], "lab-abc123-c1")
        with self.assertRaises(AssertionError):
            netns.exec_argv("root", ["true"])


class Procs(unittest.TestCase):
    def test_pid_reuse_is_detected_by_start_time(self):
        p = subprocess.Popen(["sleep", "5"])
        try:
            st = procs.start_time(p.pid)
            self.assertTrue(procs.alive(p.pid, st))
            self.assertFalse(procs.alive(p.pid, st + 1), "a different start time is another process")
        finally:
            p.kill()
            p.wait()
        self.assertFalse(procs.alive(p.pid, st))

    def test_stop_only_stops_the_recorded_process(self):
        p = subprocess.Popen(["sleep", "5"])
        rec = {"pid": p.pid, "start": procs.start_time(p.pid) + 1}
        self.assertFalse(procs.stop(rec, timeout=0.5))
        self.assertIsNone(p.poll(), "a record with another start time must not kill")
        rec["start"] -= 1
        self.assertTrue(procs.stop(rec, timeout=2))
        p.wait()


class Stale(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="labtest-")
        self.saved = (state.REGISTRY, netns.list_namespaces)
        state.REGISTRY = os.path.join(self.tmp, "registry")
        os.makedirs(state.REGISTRY)
        self.namespaces = []
        netns.list_namespaces = lambda: list(self.namespaces)

    def tearDown(self):
        state.REGISTRY, netns.list_namespaces = self.saved
        shutil.rmtree(self.tmp)

    def run_dir(self, rid, owner_pid, owner_start):
        d = os.path.join(self.tmp, rid)
        os.makedirs(d)
        with open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"id": rid, "prefix": f"lab-{rid}", "owner": {"pid": owner_pid, "start": owner_start},
                       "namespaces": [], "procs": [], "topology": "x"}, f)
        os.symlink(d, os.path.join(state.REGISTRY, f"lab-{rid}"))

    def test_classification(self):
        me = os.getpid()
        self.run_dir("aaaaaa", me, procs.start_time(me))          # live: owned by this process
        self.run_dir("bbbbbb", me, procs.start_time(me) + 7)      # owner gone (start time differs)
        self.namespaces = ["lab-aaaaaa-edge1", "lab-bbbbbb-edge1", "lab-cccccc-r1",  # cccccc: no state at all
                           "dbg-e1", "lab-xyz123-r1", "lab-dddddd", "e2e-eeeeee-r1"]   # foreign: never
        stale = state.stale_prefixes()
        self.assertEqual(sorted(stale), ["lab-bbbbbb", "lab-cccccc"])
        self.assertIsNotNone(stale["lab-bbbbbb"])
        self.assertIsNone(stale["lab-cccccc"])

    def test_live_runs_and_selection(self):
        me = os.getpid()
        self.run_dir("aaaaaa", me, procs.start_time(me))
        self.assertEqual([r.prefix for r in state.live_runs()], ["lab-aaaaaa"])
        self.assertEqual(state.select().prefix, "lab-aaaaaa")
        self.run_dir("ffffff", me, procs.start_time(me))
        with self.assertRaises(Exception) as cm:
            state.select()
        self.assertIn("--lab", str(cm.exception))
        self.assertEqual(state.select("ffffff").prefix, "lab-ffffff")


if __name__ == "__main__":
    labtest.main()
