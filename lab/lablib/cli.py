# SPDX-License-Identifier: GPL-2.0
"""lab/lab: the lab's one front end. See docs/lab.md, or `lab/lab COMMAND --help`."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

from . import bird, capture, netns, procs, qemu, runtime, scenario, state, topology
from .errors import LabError
from .report import CheckResult, Progress, emit

REPO = state.REPO
LAB = os.path.join(REPO, "lab", "lab")

EPILOG = """commands:
  up TOPOLOGY              bring a topology up and leave it running (lab/lab down ends it)
  down [--stale]           tear the current lab down; --stale: leftovers of dead runs only
  status                   runs that are up, their nodes, BGP sessions, edged health
  exec NODE -- CMD...      run a command inside a node (its network namespace)
  run SCENARIO...          run scenarios (lab/scenarios/NAME.yaml); --default: make lab's set
  replay PCAP --at N:IF    replay a pcap so that node N receives it on interface IF
  capture N:IF -w FILE     capture what node N's interface IF receives and sends

Every run has its own namespace prefix (lab-<6 hex>-<node>); everything it creates is
removed when it ends, also on failure or Ctrl-C. Topologies: topologies/*.yaml.
"""


class Interrupted(BaseException):
    """A signal asked us to stop. BaseException, like KeyboardInterrupt: handlers that catch
    Exception (a scenario's failure) must not swallow it; `finally` blocks still run."""


def _raise_interrupt(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def trap_signals():
    """SIGINT/SIGTERM/SIGHUP unwind the stack, so every `finally` tears down what was made."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _raise_interrupt)


def require_root():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, veths, BPF)", fix="run it with sudo")


# ---------------------------------------------------------------------------------- up
def cmd_up(a):
    require_root()
    topo = topology.load(a.topology)
    progress = Progress()
    trap_signals()
    lab = runtime.Lab.create(topo, progress, no_edged=a.no_edged)
    ok = False
    try:
        lab.up()
        if a.foreground:
            _hints(lab)
            progress.say("running in the foreground: Ctrl-C tears it down")
            while True:
                signal.pause()
        _start_keeper(lab.st)
        ok = True
    except Interrupted as e:
        progress.say(f"interrupted ({e}): tearing down")
        return 130
    finally:
        if not ok:
            lab.down()
    _hints(lab)
    return 0


def _start_keeper(st):
    """Hand ownership of the run to a small background process, so `lab up` can return."""
    log = st.file("keeper.log")
    p, _ = procs.spawn([sys.executable, LAB, "_keeper", st.prefix], log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st.load()
        if st.data["owner"].get("pid") == p.pid:
            return
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise LabError(f"the keeper process did not take over the run (see {log})")


def cmd_keeper(a):
    """Owner of a run started by `lab up`: sleeps; SIGTERM/INT/HUP tear down, SIGUSR1 hands over."""
    st = state.load_run(a.prefix)
    if st is None:
        return 1
    handover = []

    def on_usr1(signum, frame):
        handover.append(1)
        raise Interrupted("SIGUSR1")

    trap_signals()
    signal.signal(signal.SIGUSR1, on_usr1)
    st.set_owner(os.getpid())
    with st.locked() as d:
        d["owner"]["kind"] = "keeper"
    try:
        while True:
            signal.pause()
    except Interrupted:
        pass
    if not handover:
        runtime.teardown(st, Progress())
    return 0


def _hints(lab):
    st = lab.st
    if st.data.get("status") != "up":
        return
    t = lab.topo
    vip = t.vip(4)
    client = (t.by_role("client") or list(t.nodes.values()))[0].name
    scens = [s.name for s in scenario.available() if s.topology == t.name]
    lines = [f"lab {st.prefix} ({t.name}) is up. Try:", "  lab/lab status"]
    if vip:
        lines.append(f"  lab/lab exec {client} -- curl -s http://{vip}/")
    if scens:
        lines.append(f"  lab/lab run {scens[0]}        (scenarios of {t.name}: {', '.join(scens)})")
    lines.append("  lab/lab down")
    print("\n" + "\n".join(lines) + "\n", flush=True)


# ---------------------------------------------------------------------------------- down
def cmd_down(a):
    require_root()
    progress = Progress()
    if a.stale:
        return down_stale(progress)
    st = state.select(a.lab)
    st.load()
    owner = st.data.get("owner") or {}
    if st.owner_alive() and owner.get("pid") != os.getpid():
        if owner.get("kind") != "keeper":
            raise LabError(f"{st.prefix} is owned by a running `lab run` (PID {owner['pid']})",
                           fix=f"stop that command (Ctrl-C there, or kill {owner['pid']}): it tears down itself")
        os.kill(owner["pid"], signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while procs.alive(owner["pid"], owner.get("start")) and time.monotonic() < deadline:
            time.sleep(0.05)
    st.set_owner(os.getpid())
    issues = runtime.teardown(st, progress)
    return 1 if issues else 0


def down_stale(progress):
    """Remove leftovers of lab runs whose owner is gone. Live runs and foreign namespaces are
    never touched: only names matching lab-<6 hex>-<node> without a live owner."""
    stale = state.stale_prefixes()
    if not stale:
        progress.say("no stale lab runs")
        return 0
    for prefix, st in stale.items():
        if st is not None:
            progress.say(f"{prefix}: stale run (owner gone), cleaning from {st.path}")
            st.set_owner(os.getpid())
            runtime.teardown(st, progress)
            continue
        nss = [n for n in netns.list_namespaces() if n.startswith(prefix + "-") and netns.NS_PATTERN.match(n)]
        progress.say(f"{prefix}: {len(nss)} namespace(s) without a state file: deleting them")
        for ns in nss:
            for pid in procs.pids_in_netns(os.path.join(netns.NETNS_DIR, ns)):
                progress.warn(f"process {pid} ({procs.comm(pid)}) runs in {ns} and is not recorded by any run: "
                              f"left alone (kill {pid} yourself)")
            netns.delete(ns)
        state.unregister(prefix)
    return 0


# ---------------------------------------------------------------------------------- status
def cmd_status(a):
    runs = [state.select(a.lab)] if a.lab else state.live_runs()
    stale = state.stale_prefixes()
    if a.json:
        print(json.dumps({"runs": [_status_doc(st) for st in runs], "stale": sorted(stale)}, indent=1))
        return 0
    if not runs:
        print("no lab is up" + (f"; stale leftovers: {', '.join(stale)} (lab/lab down --stale)" if stale else ""))
        return 0
    for st in runs:
        _print_status(st)
    if stale:
        print(f"stale leftovers of dead runs: {', '.join(stale)} (remove with lab/lab down --stale)")
    return 0


def _status_doc(st):
    return {k: st.data.get(k) for k in ("prefix", "topology", "status", "owner", "failed", "edges", "issues")}


def _print_status(st):
    topo = topology.load(st.data["topology"])
    age = time.time() - st.data["created"]
    print(f"{st.prefix}  topology {topo.name}  status {st.data['status']}  up {age:.0f}s  "
          f"owner PID {st.data['owner'].get('pid')}  run dir {os.path.relpath(st.dir, REPO)}")
    failed = st.data.get("failed", {})
    for node in topo.nodes.values():
        recs = [r for r in st.data["procs"] if r["node"] == node.name]
        alive = [f"{r['role']}" + ("" if procs.alive(r["pid"], r["start"]) else "(dead)") for r in recs]
        addrs = f"{node.addr(4)} {node.addr(6)}"
        extra = ""
        if node.is_bgp:
            est, total = bird.bgp_established(st.file(f"{node.name}.bird.ctl"))
            extra += f"  bgp {est}/{total}"
        if node.role in topology.ROUTING_ROLES:
            for pfx in bird.anycast_routes(topo):
                extra += f"  {pfx}:{len(netns.route_nexthops(st.ns(node.name), pfx))}"
        if node.is_guest:
            g = qemu.info(st, node.name) or {}
            extra += "  QEMU guest (" + ", ".join(f"{e.ifname} {e.nic}" for e in node.ends) + \
                (f"; ready after {g['ready']:.1f}s" if g.get("ready") else "") + ")"
        if node.name in failed:
            extra += f"  FAILED ({failed[node.name]})"
        print(f"  {node.name:<10} {node.role:<13} {addrs:<36} {' '.join(alive) or '-'}{extra}")


# ---------------------------------------------------------------------------------- exec
def cmd_exec(a):
    require_root()
    st = state.select(a.lab)
    topo = topology.load(st.data["topology"])
    if a.node not in topo.nodes:
        raise LabError(f"no node '{a.node}' in {topo.name}", fix="use one of: " + ", ".join(topo.nodes))
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        raise LabError("no command given", fix=f"lab/lab exec {a.node} -- ip addr")
    env = dict(os.environ, LAB=st.prefix, LAB_NODE=a.node, LAB_RUN_DIR=st.dir)
    # In a QEMU guest the command runs through its agent (stdin, stdout, exit status alike).
    return subprocess.call(qemu.node_argv(st, a.node, cmd, bpffs=True), env=env)


# ---------------------------------------------------------------------------------- run
def cmd_run(a):
    require_root()
    names = list(a.scenarios)
    if a.default:
        names += [s.name for s in scenario.available(tag="default")]
    if a.tag:
        names += [s.name for s in scenario.available(tag=a.tag)]
    if not names:
        raise LabError("no scenario named", fix="lab/lab run --default, or lab/lab run NAME (see lab/scenarios/)")
    scens = [scenario.load(n) for n in dict.fromkeys(names)]
    trap_signals()
    runner = scenario.Runner(Progress(), no_edged=a.no_edged, lab_prefix=a.lab, fresh=a.default or a.fresh,
                             keep=a.keep, qemu=a.qemu)
    try:
        ok = runner.run(scens)
    except Interrupted as e:
        emit(f"interrupted ({e})")
        runner.results.append(CheckResult("-", "the run completed", False, f"interrupted by {e}"))
        ok = False
    finally:
        runner.close()
    runner.print_report()
    return 0 if ok else 1


# ---------------------------------------------------------------------------------- replay, capture
def _node_iface(text, topo):
    if ":" not in text:
        raise LabError(f"'{text}' is not NODE:IFACE", fix="e.g. edge1:r1 (interfaces are named after the peer node)")
    node, iface = text.split(":", 1)
    if node not in topo.nodes:
        raise LabError(f"no node '{node}' in {topo.name}", fix="use one of: " + ", ".join(topo.nodes))
    if topo.end(node, iface) is None:
        names = ", ".join(e.ifname for e in topo.nodes[node].ends)
        raise LabError(f"node {node} has no interface '{iface}'", fix=f"use one of: {names}")
    return node, iface


def cmd_replay(a):
    require_root()
    st = state.select(a.lab)
    topo = topology.load(st.data["topology"])
    node, iface = _node_iface(a.at, topo)
    trap_signals()
    res = capture.replay(st, topo, a.pcap, node, iface, pps=a.pps, loops=a.loop, limit=a.limit, progress=Progress())
    print(f"replayed {res['sent']} packets into {node}:{iface} ({res['seconds']:.2f}s)")
    return 0


def cmd_capture(a):
    require_root()
    st = state.select(a.lab)
    topo = topology.load(st.data["topology"])
    node, iface = _node_iface(a.at, topo)
    out = os.path.abspath(a.write)
    guest = qemu.is_guest(st, node)
    if guest:
        # The guest writes where it can: the run directory (a 9p share); moved at the end.
        out = st.file(f"capture-cli-{os.getpid()}.pcap")
    argv = ["tcpdump", "-i", iface, "-w", out, "-U", "--immediate-mode", "-n"] + (["-Z", "root"] if guest else [])
    if a.count:
        argv += ["-c", str(a.count)]
    argv += a.filter
    print(f"capturing on {node}:{iface} into {a.write}" + (f" for {a.duration}s" if a.duration else " until Ctrl-C"),
          flush=True)
    try:
        return _capture(qemu.node_argv(st, node, argv), a.duration)
    finally:
        if guest and os.path.exists(out):
            import shutil
            shutil.move(out, os.path.abspath(a.write))


def _capture(argv, duration):
    p = subprocess.Popen(argv)
    try:
        p.wait(timeout=duration)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        p.wait()
    except KeyboardInterrupt:
        p.send_signal(signal.SIGINT)
        p.wait()
    return 0


# ---------------------------------------------------------------------------------- main
def parser():
    ap = argparse.ArgumentParser(prog="lab/lab", description="edged's lab: topologies in network namespaces, "
                                 "BGP/ECMP routers, traffic, scenarios.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")

    def add(name, help_, desc=None):
        p = sub.add_parser(name, help=help_, description=desc or help_,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        return p

    p = add("up", "bring a topology up and leave it running",
            "Bring TOPOLOGY up (namespaces, links, BIRD, edged on every edge) and return; the lab keeps\n"
            "running until `lab/lab down`. Progress shows each node as it comes up.\n"
            "Topologies: " + ", ".join(topology.available()))
    p.add_argument("topology", help="topology name (topologies/NAME.yaml) or path")
    p.add_argument("--no-edged", action="store_true", help="edges run without edged (lab mechanics only)")
    p.add_argument("--foreground", action="store_true", help="stay in the foreground; Ctrl-C tears down")
    p.set_defaults(func=cmd_up)

    p = add("down", "tear a lab down",
            "Tear the current lab down (edged torn down on every edge first, then processes, then\n"
            "namespaces). --stale removes leftovers of earlier runs whose owner process is gone, found\n"
            "by the lab prefix lab-<6 hex>-; live runs and other namespaces are never touched.")
    p.add_argument("--stale", action="store_true", help="remove leftovers of dead lab runs only")
    p.add_argument("--lab", help="run prefix (lab-xxxxxx) when several are up")
    p.set_defaults(func=cmd_down)

    p = add("status", "show labs that are up", "Runs that are up: nodes, processes, BGP sessions, ECMP paths.")
    p.add_argument("--lab", help="one run only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = add("exec", "run a command in a node",
            "Run CMD inside NODE's network namespace (with the host's /sys/fs/bpf visible).\n"
            "Example: lab/lab exec client1 -- curl -s http://203.0.113.10/")
    p.add_argument("node")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    p.add_argument("--lab", help="run prefix when several are up")
    p.set_defaults(func=cmd_exec)

    p = add("run", "run scenarios",
            "Run scenarios (lab/scenarios/NAME.yaml or a path). Each check prints as it runs; the\n"
            "report lists every scenario with its checks and time; the last line is `N passed, N failed`.\n"
            "A lab of the scenario's topology that is already up is used (unless --fresh); otherwise one\n"
            "is brought up and torn down.\n"
            "Scenarios: " + ", ".join(s.name for s in scenario.available()))
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--default", action="store_true", help="every default scenario (make lab), on a fresh lab")
    p.add_argument("--tag", help="every scenario with this tag (e.g. smoke)")
    p.add_argument("--fresh", action="store_true", help="always bring up a new lab")
    p.add_argument("--keep", action="store_true", help="leave the lab up at the end (lab/lab down ends it)")
    p.add_argument("--no-edged", action="store_true", help="edges without edged; checks that need it are skipped")
    p.add_argument("--lab", help="run on this lab (prefix)")
    p.add_argument("--qemu", action="store_true",
                   help="the QEMU tier (make lab-qemu): each scenario on its topology's QEMU variant "
                        "(topologies/NAME-qemu.yaml: edges as guests on virtio-net and e1000)")
    p.set_defaults(func=cmd_run)

    p = add("replay", "replay a pcap into a node's interface",
            "Replay PCAP with tcpreplay so that NODE receives it on IFACE: it is sent from the\n"
            "peer end of that link, with MAC addresses rewritten for the link (IP untouched).\n"
            "Example: lab/lab replay traffic/incidents/x/incident.pcap --at edge1:r1 --pps 1000")
    p.add_argument("pcap")
    p.add_argument("--at", required=True, metavar="NODE:IFACE")
    p.add_argument("--pps", type=float, default=1000, help="packets per second (default 1000)")
    p.add_argument("--loop", type=int, default=1, help="replay the file N times (default 1)")
    p.add_argument("--limit", type=int, default=0, help="stop after N packets")
    p.add_argument("--lab", help="run prefix when several are up")
    p.set_defaults(func=cmd_replay)

    p = add("capture", "capture on a node's interface",
            "Capture packets on NODE:IFACE into FILE (pcap) until Ctrl-C, --count or --duration.\n"
            "On an edge uplink this shows what edged's XDP program let through. Words after the\n"
            "options are a tcpdump filter: lab/lab capture edge1:r1 -w x.pcap --count 10 tcp port 80")
    p.add_argument("at", metavar="NODE:IFACE")
    p.add_argument("-w", "--write", required=True, metavar="FILE")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--lab", help="run prefix when several are up")
    p.set_defaults(func=cmd_capture, filter=[])

    p = sub.add_parser("_keeper")
    p.add_argument("prefix")
    p.set_defaults(func=cmd_keeper)
    return ap


def main(argv=None):
    ap = parser()
    a, extra = ap.parse_known_args(argv)
    if extra and getattr(a, "cmd", None) == "capture":
        a.filter = extra  # the tcpdump filter: everything argparse did not take
    elif extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(a, "func", None):
        ap.print_help()
        return 2
    try:
        return a.func(a)
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"lab: interrupted ({e})", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lab/lab status | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 141
