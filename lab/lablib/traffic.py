# SPDX-License-Identifier: GPL-2.0
"""Traffic inside lab nodes: legit clients with real sockets, and the scapy generators.

Legit clients measure success the way users experience it: curl's HTTP status through the
edge to the origin, UDP flows answered by an edge, iperf3 throughput, nc round trips. Attack
traffic comes from traffic/gen.py. Every run is a recorded process of the lab (so teardown
stops it) whose output lands in the run directory and is parsed into a result dict.
"""
import json
import os
import time

from . import procs, state
from .errors import LabError

REPO = state.REPO
PY = "/usr/bin/python3"
GEN = os.path.join(REPO, "traffic", "gen.py")
UDP_FLOWS = os.path.join(REPO, "traffic", "clients", "udp_flows.py")
TCP_HOLD = os.path.join(REPO, "traffic", "clients", "tcp_hold.py")

# Every client is bounded like the floods: these caps keep a typo from running for an hour.
MAX_REQUESTS = 10000
MAX_SECONDS = 300
SENDING_MARK = "gen.py: sending"  # traffic/gen.py prints it before its first packet


class Run:
    """One traffic process in one node."""

    def __init__(self, lab, kind, name, node, argv, out, parse, timeout, bpffs=False):
        self.lab, self.kind, self.name, self.node = lab, kind, name, node
        self.out, self.parse, self.timeout = out, parse, timeout
        self.started = time.time()
        self.rec = lab.spawn(node, f"traffic-{kind}", argv, bpffs=bpffs, log_name=os.path.basename(out))
        self._result = None

    def done(self):
        return not procs.alive(self.rec["pid"], self.rec["start"])

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.done():
            if time.monotonic() > deadline:
                procs.stop(self.rec, timeout=2)
                self.lab.st.drop_proc(self.rec["pid"])
                raise LabError(f"traffic '{self.name}' ({self.kind} in {self.node}) did not finish in time: stopped")
            procs.reap()
            time.sleep(0.05)
        procs.reap()
        self.lab.st.drop_proc(self.rec["pid"])
        return self

    def stop(self):
        procs.stop(self.rec, timeout=2)
        self.lab.st.drop_proc(self.rec["pid"])

    def sending(self):
        """A generator has sent its first packet (it prints SENDING_MARK then), or has ended."""
        if self.done():
            return True
        try:
            with open(self.out, encoding="utf-8", errors="replace") as f:
                return SENDING_MARK in f.read(4096)
        except OSError:
            return False

    def result(self):
        if self._result is None:
            self.wait()
            try:
                with open(self.out, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            self._result = self.parse(text)
            self._result["started"] = self.started
        return self._result


def _bounded(v, hi, what):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= hi:
        raise LabError(f"{what} must be a number in (0, {hi}], not {v!r}")
    return v


def url_host(addr):
    return f"[{addr}]" if ":" in str(addr) else str(addr)


def http(lab, name, node, dst, out, requests=30, parallel=4, path="/", timeout=5.0, rate=None):
    """`requests` HTTP GETs with curl, `parallel` at a time, each on a new connection (the
    servers close after every response), so every request is a flow of its own for ECMP.
    With RATE (requests per second) they go one after the other at that pace instead: a
    user's steady load that lasts requests/rate seconds (curl --rate; parallel is ignored)."""
    _bounded(requests, MAX_REQUESTS, "requests")
    sep = "&" if "?" in path else "?"
    url = f"http://{url_host(dst)}{path}{sep}lab=[1-{int(requests)}]"
    pace = ["--rate", f"{int(_bounded(rate, 1000, 'rate'))}/s"] if rate else \
        ["--parallel", "--parallel-max", str(int(parallel))]
    argv = ["curl", "--silent", "--no-progress-meter"] + pace + [
            "--max-time", str(timeout), "--connect-timeout", str(min(timeout, 3)), "-o", "/dev/null",
            "-w", "%{http_code} %{local_port} %header{x-edge} %{time_total}\\n", url]
    limit = requests / rate + timeout * 10 if rate else timeout * requests / max(1, parallel)
    return Run(lab, "http", name, node, argv, out, _parse_http, limit + 30)


def _parse_http(text):
    by_edge, ok, total, ports = {}, 0, 0, set()
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].isdigit():
            continue
        total += 1
        if parts[0] == "200":
            ok += 1
            edge = parts[2] if len(parts) > 3 else "?"
            by_edge[edge] = by_edge.get(edge, 0) + 1
        if len(parts) > 1:
            ports.add(parts[1])
    return {"sent": total, "delivered": ok, "by_edge": by_edge, "flows": len(ports)}


def udp_flows(lab, name, node, dst, out, flows=30, interval=0.1, duration=10, port=7):
    _bounded(duration, MAX_SECONDS, "duration")
    argv = [PY, UDP_FLOWS, "--dst", str(dst), "--port", str(port), "--flows", str(flows),
            "--interval", str(interval), "--duration", str(duration), "--out", out + ".json"]
    run = Run(lab, "udp-flows", name, node, argv, out, None, duration + 30)
    run.parse = lambda text: _parse_flows(out + ".json")
    return run


def _parse_flows(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {"sent": 0, "delivered": 0, "by_edge": {}, "flows": 0, "timeline": None}
    sent = delivered = 0
    by_edge = {}
    horizon = max((e[0] for fl in doc["flows"] for e in fl), default=0)
    for fl in doc["flows"]:
        for t_send, t_reply, edge in fl:
            if t_send > horizon - 0.5 and t_reply is None:
                continue  # sent in the last half second: its reply may still be on the way
            sent += 1
            if t_reply is not None:
                delivered += 1
                by_edge[edge] = by_edge.get(edge, 0) + 1
    return {"sent": sent, "delivered": delivered, "by_edge": by_edge, "flows": len(doc["flows"]), "timeline": doc}


def iperf3(lab, name, node, dst, out, seconds=3, parallel=1, port=5201):
    _bounded(seconds, MAX_SECONDS, "seconds")
    argv = ["iperf3", "-c", str(dst), "-p", str(port), "-t", str(seconds), "-P", str(parallel), "-J",
            "--connect-timeout", "3000"]
    return Run(lab, "iperf3", name, node, argv, out, _parse_iperf3, seconds + 30)


def _parse_iperf3(text):
    try:
        doc = json.loads(text[text.index("{"):])
    except ValueError:
        return {"sent": 1, "delivered": 0, "error": text.strip()[-200:] or "no output", "bps": 0}
    if doc.get("error"):
        return {"sent": 1, "delivered": 0, "error": doc["error"], "bps": 0}
    bps = doc.get("end", {}).get("sum_received", {}).get("bits_per_second", 0)
    return {"sent": 1, "delivered": 1 if bps > 0 else 0, "bps": bps}


def nc(lab, name, node, dst, out, count=10, port=7):
    """COUNT TCP connections with nc to the edges' echo service, one line each."""
    _bounded(count, MAX_REQUESTS, "count")
    script = (f'for i in $(seq 1 {int(count)}); do echo "ping$i" | nc -N -w 3 {dst} {port} || echo "nc-failed $i"; '
              "done")
    return Run(lab, "nc", name, node, ["bash", "-c", script], out, _parse_nc, 5 * count + 30)


def tcp_hold(lab, name, node, dst, out, conns=60, interval=0.5, duration=30, port=7, replace=False, silent=9):
    """CONNS long-lived TCP connections to the edges' echo service (traffic/clients/tcp_hold.py)."""
    _bounded(duration, MAX_SECONDS, "duration")
    argv = [PY, TCP_HOLD, "--dst", str(dst), "--port", str(port), "--conns", str(conns), "--interval",
            str(interval), "--duration", str(duration), "--silent", str(silent), "--out", out + ".json"] + \
        (["--replace"] if replace else [])
    run = Run(lab, "tcp-hold", name, node, argv, out, None, duration + 60)
    run.parse = lambda text: _parse_hold(hold_state(run))
    return run


def hold_state(run):
    """The tcp_hold client's last written state (it rewrites it every round)."""
    try:
        with open(run.out + ".json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"rounds": 0, "t": 0, "conns": []}


def _parse_hold(doc):
    by_edge = {}
    for c in doc["conns"]:
        if c["server"]:
            by_edge[c["server"]] = by_edge.get(c["server"], 0) + 1
    return {"sent": len(doc["conns"]), "delivered": sum(c["broken"] is None for c in doc["conns"]),
            "by_edge": by_edge}


def _parse_nc(text):
    by_edge, ok, total = {}, 0, 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("ping"):
            total += 1
            ok += 1
            by_edge[parts[0]] = by_edge.get(parts[0], 0) + 1
        elif line.startswith("nc-failed"):
            total += 1
    return {"sent": total, "delivered": ok, "by_edge": by_edge}


def gen(lab, name, node, kind, dst, out, args):
    """traffic/gen.py KIND in NODE; ARGS: extra options as a dict (count, pps, spoof, ...)."""
    argv = [PY, GEN, kind, "--dst", str(dst)]
    for k, v in args.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    duration = float(args.get("duration", 10))
    return Run(lab, "gen", name, node, argv, out, _parse_gen, duration + 60)


def _parse_gen(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                doc = json.loads(line)
                doc.setdefault("sent", doc.get("written", 0))
                return doc
            except ValueError:
                pass
    return {"sent": 0, "error": text.strip()[-300:]}
