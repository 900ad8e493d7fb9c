# SPDX-License-Identifier: GPL-2.0
"""Scenario files (lab/scenarios/*.yaml): parsing, validation and the runner.

A scenario names its topology and a list of steps. A step is one action -- start traffic,
fail or restore a node, replay a pcap, wait -- or one check (`expect_*`), which the runner
prints as it goes. See docs/lab.md for every action and check.

    name: ecmp-spread
    topology: fleet
    tags: [default]
    steps:
      - snapshot: before
      - http: {name: web, from: client1, to: vip4, requests: 90}
      - expect_spread: {traffic: web, min_share: 15%}
"""
import ipaddress
import os
import re
import time

from . import addressing, blocklist, bpfmap, capture, edge, netns, procs, qemu, runtime, state, topology, traffic
from .errors import Collector, LabError
from .report import CheckResult, Waiter, emit, print_check, table
from .yamlmarks import MDict, MList, load_file

REPO = state.REPO
SCENARIO_DIR = os.path.join(REPO, "lab", "scenarios")
REQUIRED = object()

# Argument types: how a value is checked at parse time.
STR, INT, NUM, BOOL, NODE, NODEIF, TARGET, PCT, BOUND, NODES, CMD, PATH, ANY, PREFIXES, STRS = (
    "string", "integer", "number", "true/false", "node", "NODE:IFACE", "address", "fraction", "bound",
    "node list", "command", "file", "value", "prefix list", "string list")

HOW = ("blackhole", "link-down", "edged-stop", "bird-kill")

SCHEMA = {
    # actions
    "snapshot": {"_scalar": "name", "name": (STR, REQUIRED)},
    "http": {"name": (STR, REQUIRED), "from": (NODE, REQUIRED), "to": (TARGET, "vip4"), "requests": (INT, 30),
             "parallel": (INT, 4), "path": (STR, "/"), "timeout": (NUM, 5), "rate": (NUM, None),
             "background": (BOOL, False)},
    "udp_flows": {"name": (STR, REQUIRED), "from": (NODE, REQUIRED), "to": (TARGET, "vip4"), "flows": (INT, 30),
                  "interval": (NUM, 0.1), "duration": (NUM, 10), "port": (INT, 7), "background": (BOOL, False)},
    "iperf3": {"name": (STR, REQUIRED), "from": (NODE, REQUIRED), "to": (TARGET, "vip4"), "seconds": (NUM, 3),
               "parallel": (INT, 1), "background": (BOOL, False)},
    "nc": {"name": (STR, REQUIRED), "from": (NODE, REQUIRED), "to": (TARGET, "vip4"), "count": (INT, 10),
           "port": (INT, 7), "background": (BOOL, False)},
    "tcp_hold": {"name": (STR, REQUIRED), "from": (NODE, REQUIRED), "to": (TARGET, "vip4"), "conns": (INT, 60),
                 "interval": (NUM, 0.5), "duration": (NUM, 30), "port": (INT, 7), "replace": (BOOL, False),
                 "silent": (NUM, 9), "background": (BOOL, False)},
    "generate": {"name": (STR, REQUIRED), "kind": (STR, REQUIRED), "from": (NODE, None), "at": (NODEIF, None),
                 "to": (TARGET, "vip4"), "to6": (TARGET, None), "count": (INT, 1000), "pps": (NUM, 1000),
                 "duration": (NUM, 10), "spoof": (STR, None), "size": (INT, None), "port": (INT, None),
                 "variants": (STR, None), "repeat": (INT, None), "inner_dst": (TARGET, None),
                 "sources": (INT, None), "background": (BOOL, False)},
    "replay": {"pcap": (PATH, None), "capture": (STR, None), "at": (NODEIF, REQUIRED), "pps": (NUM, 1000),
               "loop": (INT, 1)},
    "drop_capture": {"name": (STR, REQUIRED), "node": (NODE, REQUIRED), "verdict": (STR, "drop"),
                     "count": (INT, 1000), "timeout": (NUM, 30), "rule": (STR, None), "stage": (STR, None)},
    "capture": {"name": (STR, REQUIRED), "at": (NODEIF, REQUIRED), "filter": (STR, "")},
    "stop_capture": {"_scalar": "name", "name": (STR, REQUIRED)},
    "fail": {"node": (NODE, REQUIRED), "how": (STR, "blackhole")},
    "restore": {"_scalar": "node", "node": (NODE, REQUIRED)},
    "start_edged": {"node": (NODE, REQUIRED), "config": (PATH, None)},
    "stop_edged": {"_scalar": "node", "node": (NODE, REQUIRED)},
    "wait": {"_scalar": "seconds", "seconds": (NUM, REQUIRED)},
    "wait_traffic": {"_scalar": "name", "name": (STR, REQUIRED)},
    "wait_sending": {"_scalar": "name", "name": (STR, REQUIRED), "timeout": (NUM, 60)},
    "wait_converged": {"timeout": (NUM, 60)},
    "exec": {"node": (NODE, REQUIRED), "cmd": (CMD, REQUIRED), "expect_rc": (INT, None)},
    "reload_edged": {"nodes": (NODES, None), "config": (PATH, REQUIRED), "within": (NUM, None)},
    "edgectl": {"nodes": (NODES, None), "args": (STR, REQUIRED), "expect": (STR, None), "within": (NUM, 0),
                "any": (BOOL, False)},
    "service": {"name": (STR, REQUIRED), "node": (NODE, REQUIRED), "cmd": (STR, REQUIRED)},
    "block_file": {"name": (STR, REQUIRED), "count": (INT, REQUIRED), "pool": (PREFIXES, None),
                   "first": (PREFIXES, None), "last": (PREFIXES, None), "seed": (INT, 1)},
    "teardown": {},
    # checks
    "expect_delivered": {"traffic": (STR, REQUIRED), "min": (PCT, None), "max": (PCT, None)},
    "expect_spread": {"traffic": (STR, REQUIRED), "over": (NODES, None), "min_share": (PCT, None),
                      "weights": (ANY, None), "tolerance": (PCT, "10%")},
    "expect_log": {"names": (STRS, REQUIRED), "text": (STR, REQUIRED), "within": (NUM, 5), "absent": (BOOL, False)},
    "expect_held": {"traffic": (STR, REQUIRED), "servers": (NODES, None), "fresh": (NUM, 5), "min": (INT, 1)},
    "expect_counter": {"node": (NODE, None), "nodes": (NODES, None), "counter": (STR, REQUIRED),
                       "since": (STR, None), "min": (BOUND, None), "max": (BOUND, None),
                       "equals": (BOUND, None), "sum": (BOOL, False)},
    "expect_share": {"nodes": (NODES, None), "counter": (STR, "end.pass"), "since": (STR, REQUIRED),
                     "min_share": (PCT, REQUIRED)},
    "expect_origin": {"node": (NODE, REQUIRED), "since": (STR, REQUIRED), "min": (BOUND, 1), "max": (BOUND, None),
                      "client": (STR, None)},
    "expect_route": {"node": (NODE, REQUIRED), "prefix": (STR, REQUIRED), "nexthops": (INT, REQUIRED),
                     "within": (NUM, 10)},
    "expect_failover": {"traffic": (STR, REQUIRED), "node": (NODE, REQUIRED), "within": (NUM, REQUIRED)},
    "expect_capture": {"capture": (STR, REQUIRED), "filter": (STR, ""), "min": (BOUND, None), "max": (BOUND, None)},
    "expect_same": {"capture": (STR, REQUIRED), "filters": (STRS, REQUIRED), "tolerance": (INT, 0)},
    "expect_map": {"node": (NODE, None), "nodes": (NODES, None), "map": (STR, REQUIRED), "min": (BOUND, None),
                   "max": (BOUND, None)},
    "expect_running": {"_scalar": "name", "name": (STR, REQUIRED)},
    "expect_clean": {},
}
CHECKS = tuple(k for k in SCHEMA if k.startswith("expect_"))
TOP_KEYS = ("name", "topology", "tags", "description", "requires", "steps")
# edged: the scenario checks what edged does (skipped under --no-edged); namespace-edges: it
# runs this build's binaries on the edges or was only tried with namespace edges (skipped
# under --qemu, where edges are guests with an image of their own).
REQUIREMENTS = ("edged", "namespace-edges")


class Step:
    def __init__(self, action, args, line, qemu=None):
        self.action, self.args, self.line = action, args, line
        self.qemu = qemu or {}  # options that replace args when the lab has QEMU guests

    @property
    def is_check(self):
        return self.action in CHECKS or (self.action == "exec" and self.args.get("expect_rc") is not None) or \
            (self.action == "reload_edged" and self.args.get("within") is not None) or self.action == "edgectl"


class Scenario:
    def __init__(self, path):
        self.path = path
        self.name = None
        self.topology = None
        self.topo = None
        self.tags = []
        self.requires = []
        self.description = ""
        self.steps = []


def scenario_name(path):
    base = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"^\d+-", "", base)


def available(tag=None):
    """Scenarios in lab/scenarios/, in file-name order (the NN- prefix orders them)."""
    try:
        files = sorted(f for f in os.listdir(SCENARIO_DIR) if f.endswith(".yaml"))
    except OSError:
        return []
    out = []
    for f in files:
        path = os.path.join(SCENARIO_DIR, f)
        try:
            s = load(path, check_topology=False)
        except LabError:
            continue
        if tag is None or tag in s.tags:
            out.append(s)
    return out


def resolve(name_or_path):
    if os.path.exists(name_or_path):
        return name_or_path
    try:
        for f in sorted(os.listdir(SCENARIO_DIR)):
            if f.endswith(".yaml") and scenario_name(f) == name_or_path or f == name_or_path + ".yaml":
                return os.path.join(SCENARIO_DIR, f)
    except OSError:
        pass
    names = ", ".join(scenario_name(f) for f in sorted(os.listdir(SCENARIO_DIR)) if f.endswith(".yaml"))
    raise LabError(f"no scenario '{name_or_path}'", fix=f"use one of: {names}")


def load(name_or_path, check_topology=True):
    path = resolve(name_or_path)
    rel = os.path.relpath(path, REPO) if os.path.abspath(path).startswith(REPO) else path
    return parse(load_file(path), rel, check_topology)


def parse(doc, path, check_topology=True):
    c = Collector(path)
    s = Scenario(path)
    if not isinstance(doc, MDict):
        raise LabError("a scenario is a YAML mapping with topology: and steps:", path, 1,
                       "see lab/scenarios/10-legit-http.yaml")
    for k in doc:
        if k not in TOP_KEYS:
            c.add(f"unknown key '{k}'", doc.line_of(k), "use one of: " + ", ".join(TOP_KEYS))
    s.name = doc.get("name") or scenario_name(path)
    s.description = str(doc.get("description", ""))
    s.topology = doc.get("topology")
    if not isinstance(s.topology, str):
        c.add("topology: is missing", doc.line, "name the topology, e.g. topology: fleet")
    elif check_topology:
        try:
            s.topo = topology.load(s.topology)
        except LabError as e:
            c.add(f"topology '{s.topology}': {e}", doc.line_of("topology"),
                  "use one of: " + ", ".join(topology.available()))
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        c.add("tags must be a list of words", doc.line_of("tags"), "tags: [default, smoke]")
    else:
        s.tags = list(tags)
    req = doc.get("requires", [])
    if not isinstance(req, list) or any(r not in REQUIREMENTS for r in req):
        c.add(f"requires must be a list of: {', '.join(REQUIREMENTS)}", doc.line_of("requires"), "requires: [edged]")
    else:
        s.requires = list(req)
    steps = doc.get("steps")
    if not isinstance(steps, MList) or not steps:
        c.add("steps: must be a non-empty list", doc.line_of("steps") if "steps" in doc else doc.line,
              "steps:\n  - http: {name: web, from: client1}")
        c.raise_if_any()
    names = {"traffic": set(), "snapshot": set(), "capture": set()}
    for i, raw in enumerate(steps):
        step = _parse_step(c, raw, steps.line_of(i), s.topo)
        if step is None:
            continue
        _check_refs(c, step, names)
        s.steps.append(step)
    if not any(st.is_check for st in s.steps):
        c.add("the scenario has no check (expect_*)", doc.line_of("steps"),
              "add at least one check: a scenario that checks nothing cannot fail")
    c.raise_if_any()
    return s


def _parse_step(c, raw, line, topo):
    if not isinstance(raw, MDict) or len(raw) != 1:
        c.add("a step is one action: '- ACTION: ARGS'", line, "e.g. - wait: 2")
        return None
    action, args = next(iter(raw.items()))
    if action not in SCHEMA:
        near = [a for a in SCHEMA if a.split("_")[-1] in action or action in a]
        c.add(f"unknown action '{action}'", line,
              f"did you mean {', '.join(near)}?" if near else "actions: " + ", ".join(SCHEMA))
        return None
    schema = SCHEMA[action]
    if not isinstance(args, MDict):
        if args is None and all(v[1] is not REQUIRED for k, v in schema.items() if k != "_scalar"):
            args = MDict()
        elif "_scalar" in schema and not isinstance(args, (MList, MDict)):
            a2 = MDict({schema["_scalar"]: args})
            a2.line, a2.key_lines = line, {}
            args = a2
        else:
            keys = [k for k in schema if k != "_scalar"]
            c.add(f"{action}: takes a mapping of options", line, f"{action}: {{{', '.join(k + ': ...' for k in keys[:3])}}}")
            return None
    out = {}
    qemu_over = _qemu_overrides(c, action, schema, args, line, topo)
    for k in args:
        if k == "qemu":
            continue
        if k not in schema or k == "_scalar":
            c.add(f"{action}: unknown option '{k}'", args.line_of(k) or line,
                  "options are: " + ", ".join(x for x in schema if x != "_scalar"))
    for k, spec in schema.items():
        if k == "_scalar":
            continue
        typ, default = spec
        if k not in args:
            if default is REQUIRED:
                c.add(f"{action}: '{k}' is required", line, f"add {k}: <{typ}>")
            out[k] = None if default is REQUIRED else default
            continue
        out[k] = _check_type(c, action, k, typ, args[k], args.line_of(k) or line, topo)
    if action == "generate" and bool(out.get("from")) == bool(out.get("at")):
        c.add("generate: give exactly one of from: NODE (send from a node) or at: NODE:IFACE (replay into an "
              "interface)", line, "e.g. from: attacker1")
    if action == "replay" and bool(out.get("pcap")) == bool(out.get("capture")):
        c.add("replay: give exactly one of pcap: FILE or capture: NAME (a capture of this scenario)", line,
              "e.g. pcap: traffic/incidents/NAME/incident.pcap")
    if action == "fail" and out.get("how") not in HOW:
        c.add(f"fail: how must be one of {', '.join(HOW)}", line, "e.g. how: blackhole")
    if action in ("expect_counter", "expect_map") and not (out.get("node") or out.get("nodes")):
        c.add(f"{action}: name node: or nodes:", line, "e.g. nodes: [edge1, edge2, edge3]")
    if action == "expect_same" and isinstance(out.get("filters"), list) and len(out["filters"]) < 2:
        c.add("expect_same: filters: needs two or more filters to compare", line,
              'e.g. filters: ["src 100.127.255.1", "src 198.51.100.200"]')
    if action == "block_file" and not re.match(r"^[A-Za-z0-9_-]{1,40}$", str(out.get("name"))):
        c.add(f"block_file: name '{out.get('name')}' must be 1-40 of letters, digits, '-', '_'", line,
              "it becomes ${run_dir}/NAME.txt")
    return Step(action, out, line, qemu_over)


def _qemu_overrides(c, action, schema, args, line, topo):
    """The step's `qemu:` options, which replace its own when the lab has QEMU guests: TCG
    takes tens of thousands of packets a second and runs work in the guest several times
    slower, so a flood sized for veths is paced (and its checks sized) for guests there."""
    over = args.get("qemu") if isinstance(args, MDict) else None
    if over is None:
        return {}
    ln = args.line_of("qemu") or line
    if not isinstance(over, MDict):
        c.add(f"{action}: qemu: takes a mapping of this step's options to use with QEMU guests", ln,
              "e.g. qemu: {pps: 2000, count: 40000}")
        return {}
    out = {}
    for k in over:
        if k not in schema or k in ("_scalar", "qemu"):
            c.add(f"{action}: qemu: unknown option '{k}'", over.line_of(k) or ln,
                  "options are: " + ", ".join(x for x in schema if x != "_scalar"))
            continue
        out[k] = _check_type(c, action, k, schema[k][0], over[k], over.line_of(k) or ln, topo)
    return out


def _check_type(c, action, key, typ, v, line, topo):
    bad = None
    if typ == STR and not isinstance(v, str):
        bad = "a string"
    elif typ == INT and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        bad = "a non-negative integer"
    elif typ == NUM and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
        bad = "a non-negative number"
    elif typ == BOOL and not isinstance(v, bool):
        bad = "true or false"
    elif typ == NODE:
        if not isinstance(v, str):
            bad = "a node name"
        elif topo is not None and v not in topo.nodes:
            c.add(f"{action}: {key}: no node '{v}' in topology {topo.name}", line,
                  "nodes are: " + ", ".join(topo.nodes))
    elif typ == NODES:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            bad = "a list of node names"
        elif topo is not None:
            for x in v:
                if x not in topo.nodes:
                    c.add(f"{action}: {key}: no node '{x}' in topology {topo.name}", line,
                          "nodes are: " + ", ".join(topo.nodes))
    elif typ == NODEIF:
        if not isinstance(v, str) or ":" not in v:
            bad = "NODE:IFACE (e.g. edge1:r1)"
        elif topo is not None:
            n, i = v.split(":", 1)
            if n not in topo.nodes:
                c.add(f"{action}: {key}: no node '{n}' in topology {topo.name}", line,
                      "nodes are: " + ", ".join(topo.nodes))
            elif topo.end(n, i) is None:
                c.add(f"{action}: {key}: node {n} has no interface '{i}'", line,
                      "its interfaces: " + ", ".join(e.ifname for e in topo.nodes[n].ends))
    elif typ == TARGET:
        if topo is not None:
            try:
                resolve_target(topo, v)
            except LabError as e:
                c.add(f"{action}: {key}: {e.msg}", line, e.fix)
    elif typ in (PCT, BOUND):
        try:
            parse_amount(v, typ == PCT)
        except ValueError as e:
            c.add(f"{action}: {key}: {e}", line, "e.g. 95%, 0.95" if typ == PCT else "e.g. 100, or $traffic.field")
    elif typ == PATH:
        if not isinstance(v, str):
            bad = "a file path"
        elif not os.path.exists(v if os.path.isabs(v) else os.path.join(REPO, v)):
            c.add(f"{action}: {key}: no file '{v}'", line, "paths are relative to the repository root")
    elif typ == CMD and not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
        bad = "a command string or list"
    elif typ == STRS and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        bad = "a list of strings"
    elif typ == PREFIXES:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            bad = "a list of prefixes"
        else:
            for x in v:
                try:
                    n = ipaddress.ip_network(x, strict=False)
                except ValueError:
                    c.add(f"{action}: {key}: '{x}' is not a prefix", line, "e.g. 198.51.100.128/25")
                    continue
                if not addressing.allowed(n):
                    c.add(f"{action}: {key}: {n} is outside the lab ranges", line,
                          f"use prefixes inside {addressing.ALLOWED_TEXT}")
    if bad:
        c.add(f"{action}: {key} must be {bad}, not {v!r}", line, f"e.g. {key}: ...")
    return v


def _check_refs(c, step, names):
    a = step.args
    if step.action in ("http", "udp_flows", "iperf3", "nc", "tcp_hold", "service", "generate", "block_file"):
        if a["name"] in names["traffic"]:
            c.add(f"traffic name '{a['name']}' is used twice", step.line, "give each traffic step its own name")
        names["traffic"].add(a["name"])
    elif step.action == "snapshot":
        names["snapshot"].add(a["name"])
    elif step.action in ("capture", "drop_capture"):
        names["capture"].add(a["name"])
    for key, kind in (("traffic", "traffic"), ("since", "snapshot"), ("capture", "capture")):
        if key in a and a[key] is not None and a[key] not in names[kind]:
            c.add(f"{step.action}: {key} '{a[key]}' is not defined by an earlier step", step.line,
                  f"add a {kind} step named {a[key]} before it")
    if step.action == "expect_log":
        for n in a["names"]:
            if n not in names["traffic"]:
                c.add(f"expect_log: no service or traffic '{n}' before it", step.line, "name a service step above")
    if step.action in ("wait_traffic", "wait_sending", "expect_running") and a["name"] not in names["traffic"]:
        c.add(f"{step.action}: no traffic '{a['name']}' before it", step.line, "name a traffic step above")
    if step.action == "stop_capture" and a["name"] not in names["capture"]:
        c.add(f"stop_capture: no capture '{a['name']}' before it", step.line, "name a capture step above")
    for key, v in [(k, a.get(k)) for k in ("min", "max", "equals")] + \
            [(k, step.qemu.get(k)) for k in ("min", "max", "equals")]:
        for ref in bound_refs(v):
            if ref not in names["traffic"]:
                c.add(f"{step.action}: {key} refers to traffic '{ref}' which no earlier step defines", step.line,
                      "use $NAME.field with NAME a traffic step above")


# Bound expressions: '$traffic.field' references and numbers joined by + - * and parentheses,
# e.g. "$syn4.sent + $syn6.sent" or "$ntp.sent * 0.99". Operators need spaces around them: a
# field name may hold a '-' ($bad.classes.well-formed).
_EXPR_TOKEN = re.compile(r"\s*(?:(\$[A-Za-z0-9_]+(?:\.[A-Za-z0-9_-]+)*)|(\d+(?:\.\d+)?)|([-+*()]))")


def _tokens(text):
    out, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"{text!r}: cannot read '{text[pos:].strip()}' (use $traffic.field, numbers, + - * "
                             "and parentheses, with spaces around operators)")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


def bound_refs(v):
    """Traffic names a bound refers to ($NAME.field)."""
    if not isinstance(v, str) or "$" not in v:
        return []
    try:
        return [t[1:].split(".")[0] for t in _tokens(v) if t.startswith("$")]
    except ValueError:
        return []


def eval_bound(text, lookup):
    """The value of a bound expression; LOOKUP('$name.field') gives a reference's number."""
    toks = _tokens(text)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        pos[0] += 1
        return toks[pos[0] - 1]

    def factor():
        t = take() if peek() is not None else None
        if t is None:
            raise ValueError(f"{text!r}: ends too early")
        if t == "(":
            v = expr()
            if peek() != ")":
                raise ValueError(f"{text!r}: a '(' is not closed")
            take()
            return v
        if t == "-":
            return -factor()
        if t.startswith("$"):
            v = lookup(t)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{t} is not a number: {v!r}")
            return v
        if t[0].isdigit():
            return float(t) if "." in t else int(t)
        raise ValueError(f"{text!r}: unexpected '{t}'")

    def term():
        v = factor()
        while peek() == "*":
            take()
            v = v * factor()
        return v

    def expr():
        v = term()
        while peek() in ("+", "-"):
            v = v + term() if take() == "+" else v - term()
        return v

    v = expr()
    if peek() is not None:
        raise ValueError(f"{text!r}: unexpected '{peek()}'")
    return int(v) if isinstance(v, float) and v.is_integer() else v


def parse_amount(v, fraction):
    """A number, 'N%' (a fraction when FRACTION), or a bound expression with '$traffic.field'
    references (checked for syntax, kept as is: it is evaluated when the check runs)."""
    if isinstance(v, str) and "$" in v:
        if fraction:
            raise ValueError(f"{v!r}: a reference is not allowed here")
        eval_bound(v, lambda ref: 1)  # syntax only
        return v
    if isinstance(v, str) and v.endswith("%"):
        n = float(v[:-1]) / 100.0
        return n if fraction else n
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{v!r} is not a number or a percentage")
    if fraction and not 0 <= v <= 1:
        raise ValueError(f"{v!r} must be between 0 and 1 (or a percentage such as 95%)")
    return v


def resolve_target(topo, v):
    """vip4 / vip6 / vip, a node name (its address), NODE:v6, or a literal lab address."""
    if v in ("vip", "vip4", "vip6"):
        a = topo.vip(6 if v == "vip6" else 4)
        if a is None:
            raise LabError(f"topology {topo.name} has no {v}", fix="declare anycast: {vips: [...]} in the topology")
        return a
    if isinstance(v, str):
        node, _, fam = v.partition(":")
        if node in topo.nodes and fam in ("", "v4", "v6"):
            return topo.nodes[node].addr(6 if fam == "v6" else 4)
    try:
        a = ipaddress.ip_address(str(v))
    except ValueError:
        raise LabError(f"'{v}' is neither vip4/vip6, a node nor an address",
                       fix="use vip4, vip6, a node name (e.g. origin1, origin1:v6) or a lab address") from None
    if not addressing.allowed(a):
        raise LabError(f"{a} is outside the lab ranges", fix=f"use an address from {addressing.ALLOWED_TEXT}")
    return a


# ======================================================================================= runner
class Context:
    """What one scenario run keeps: traffic runs, snapshots, captures, failures and timings."""

    def __init__(self, scen, lab, seq):
        self.scen, self.lab, self.seq = scen, lab, seq
        self.traffic = {}
        self.snapshots = {}
        self.captures = {}
        self.failed_at = {}   # node -> wall time of the fail step
        self.events = []      # (wall time, "fail" or "restore", node), in order
        self.edged_changed = set()
        self.results = []
        self.timings = {}


class Runner:
    def __init__(self, progress, no_edged=False, lab_prefix=None, fresh=False, keep=False, qemu=False):
        self.progress = progress
        self.no_edged = no_edged
        self.qemu = qemu           # run each scenario on its topology's QEMU variant (NAME-qemu)
        self.uplink_rows = []      # (scenario, {edge: "iface driver/xdp mode, ..."}) of labs with guests
        self.guest_logs = {}       # scenario -> where its guests' logs are
        self.lab_prefix = lab_prefix
        self.fresh = fresh
        self.keep = keep
        self.lab = None
        self.owned = False
        self.rows = []
        self.results = []
        self.seq = 0
        self.broken = {}  # topology name -> why its bring-up failed (not retried per scenario)

    # ------------------------------------------------------------ lab lifecycle
    def _get_lab(self, topo):
        if self.lab is not None and self.lab.topo.name == topo.name and self.lab.st.data.get("status") == "up":
            return self.lab
        self._release()
        if not self.fresh:
            st = None
            if self.lab_prefix:
                st = state.select(self.lab_prefix)
            else:
                # Only a lab of this checkout: another checkout's lab runs other binaries (and
                # its own `lab run` may tear it down under us).
                for r in state.live_runs():
                    if os.path.basename(r.data["topology"]) == os.path.basename(topo.path) and \
                            r.data.get("status") == "up" and r.data.get("repo", state.REPO) == state.REPO:
                        st = r
                        break
            if st is not None:
                self.progress.say(f"using the lab that is up: {st.prefix} ({topo.name})")
                self.lab, self.owned = runtime.Lab.attach(st, self.progress), False
                self.no_edged = self.no_edged or self.lab.no_edged
                return self.lab
        if topo.name in self.broken:
            raise LabError(f"lab up of {topo.name} failed earlier in this run: {self.broken[topo.name]}")
        self.lab = runtime.Lab.create(topo, self.progress, no_edged=self.no_edged)
        self.owned = True
        prefix = self.lab.st.prefix
        t0 = time.monotonic()
        try:
            self.lab.up()
        except LabError as e:
            self.rows.append((f"(lab up: {topo.name})", 0, 0, 0, time.monotonic() - t0, f"{prefix} FAILED"))
            self.broken[topo.name] = e.msg.splitlines()[0]
            # Torn down even with --keep (which _release honours): a lab that did not come up
            # is of no use, and its guests must not be left running.
            if self.lab.st.data.get("status") != "down":
                self.lab.down()
            self.lab = None
            raise
        boots = {n: g.get("ready") for n, g in (self.lab.st.data.get("guests") or {}).items()}
        note = prefix + "".join(f", {n} boot-to-ready {s:.1f}s" for n, s in boots.items() if s)
        self.rows.append((f"(lab up: {topo.name})", 0, 0, 0, time.monotonic() - t0, note))
        return self.lab

    def _release(self):
        if self.lab is not None and self.owned and not self.keep and self.lab.st.data.get("status") != "down":
            t0 = time.monotonic()
            self.lab.down()
            self.rows.append((f"(lab down: {self.lab.topo.name})", 0, 0, 0, time.monotonic() - t0, ""))
        self.lab = None

    def teardown_now(self):
        if self.lab is None or not self.owned:
            return False
        self.lab.down()
        return True

    def close(self):
        """Always called (also after Ctrl-C): tears down a lab this runner brought up."""
        if self.lab is not None and self.owned:
            if self.keep and self.lab.st.data.get("status") == "up":
                from .cli import _start_keeper
                try:
                    _start_keeper(self.lab.st)
                    self.progress.say(f"lab {self.lab.st.prefix} kept up (lab/lab down ends it)")
                    self.lab = None
                    return
                except LabError as e:
                    self.progress.warn(str(e))
            if self.lab.st.data.get("status") != "down":
                self.lab.down()
        self.lab = None

    # ------------------------------------------------------------ running
    def run(self, scens):
        t_all = time.monotonic()
        ok = True
        for scen in scens:
            if scen.topo is None:
                scen.topo = topology.load(scen.topology)
            if self.qemu and not scen.topo.guests:
                try:
                    scen.topo = qemu_variant(scen)
                except LabError as e:
                    res = CheckResult(scen.name, "scenario has a QEMU topology", False, str(e))
                    print_check(res)
                    self.results.append(res)
                    self.rows.append((scen.name, 0, 1, 0, 0.0, "no QEMU variant"))
                    ok = False
                    continue
            t0 = time.monotonic()
            self.progress.say(f"== scenario {scen.name} ({scen.topo.name}): {scen.description}")
            if "namespace-edges" in scen.requires and scen.topo.guests:
                res = CheckResult(scen.name, "scenario", True, "it needs namespace edges; these are QEMU guests",
                                  skipped=True)
                print_check(res)
                self.results.append(res)
                self.rows.append((scen.name, 0, 0, 1, 0.0, "skipped: needs namespace edges"))
                continue
            if "edged" in scen.requires and self.no_edged:
                res = CheckResult(scen.name, "scenario", True, "it checks edged, which does not run (--no-edged)",
                                  skipped=True)
                print_check(res)
                self.results.append(res)
                self.rows.append((scen.name, 0, 0, 1, 0.0, "skipped: needs edged"))
                continue
            ctx = None
            try:
                lab = self._get_lab(scen.topo)
                t0 = time.monotonic()  # the scenario's own time, without bringing the lab up
                self.seq += 1
                ctx = Context(scen, lab, self.seq)
                self._run_steps(ctx)
            except LabError as e:
                res = CheckResult(scen.name, "scenario ran to its end", False, str(e))
                print_check(res)
                (ctx.results if ctx else self.results).append(res)
            except Exception as e:  # a lab bug: report it as such, keep the other scenarios going
                import traceback
                where = traceback.extract_tb(e.__traceback__)[-1]
                res = CheckResult(scen.name, "scenario ran to its end", False,
                                  f"lab bug: {type(e).__name__}: {e} ({os.path.basename(where.filename)}:{where.lineno})")
                print_check(res)
                (ctx.results if ctx else self.results).append(res)
            finally:
                if ctx is not None:
                    self._report_uplinks(ctx)
                    self._safe_cleanup(ctx)
            results = ctx.results if ctx else [r for r in self.results if r.scenario == scen.name]
            if ctx:
                self.results += ctx.results
            p = sum(1 for r in results if r.ok and not r.skipped)
            f = sum(1 for r in results if not r.ok)
            s = sum(1 for r in results if r.skipped)
            if f and ctx and ctx.lab.topo.guests:
                # Where to look: the guests' console, edged and BIRD logs of this run, and the
                # edged logs of the edges that are namespaces.
                topo = ctx.lab.topo
                st = ctx.lab.st
                self.guest_logs[scen.name] = [f"guest logs: {qemu.logs_hint(st, n.name)}" for n in topo.guests] + [
                    f"edge logs: {qemu.logs_hint(st, e.name)}" for e in topo.edges if not e.is_guest]
            note = ", ".join(f"{k} {v:.2f}s" for k, v in (ctx.timings.items() if ctx else []))
            self.rows.append((scen.name, p, f, s, time.monotonic() - t0, note))
            ok = ok and f == 0
        self._release()
        self.total_seconds = time.monotonic() - t_all
        return ok

    def _run_steps(self, ctx):
        guests = bool(ctx.lab.topo.guests)
        for step in ctx.scen.steps:
            fn = getattr(self, "do_" + step.action)
            args = step.args
            if guests and step.qemu:
                args = {**args, **step.qemu}
            fn(ctx, step, args)

    def _safe_cleanup(self, ctx):
        """Cleanup that cannot take the run down with it: when the lab cannot be put back
        (say edged will not start again), the failure is a check of its own and the lab is
        replaced by a fresh one for the next scenario."""
        try:
            self._cleanup(ctx)
        except Exception as e:  # noqa: BLE001 -- any failure here means the lab is unusable
            self.check(ctx, "lab restored after the scenario", False, f"{type(e).__name__}: {e}")
            if self.owned:
                self.progress.say("the lab could not be restored: tearing it down; the next scenario gets a new one")
                self._release()
            else:
                self.lab = None

    def _guest_problems(self, ctx):
        """{guest: why} for the guests of the lab that died or hang (a hung one is killed), checked
        once per scenario, at its end."""
        if getattr(ctx, "guest_problems", None) is None:
            ctx.guest_problems = {}
            for g in ctx.lab.topo.guests:
                why = qemu.check_alive(ctx.lab.st, g.name)
                if why:
                    ctx.guest_problems[g.name] = why
        return ctx.guest_problems

    def _report_uplinks(self, ctx):
        """Driver and XDP mode of every edge uplink, at the end of a scenario on a lab with
        guests (edged's own status, `ethtool -i`, `ip -d link` in the node)."""
        lab = ctx.lab
        if not lab.topo.guests or lab.st.data.get("status") != "up":
            return
        row = {}
        down = self._guest_problems(ctx)
        for e in lab.topo.edges:
            if e.name in down:
                row[e.name] = "guest not answering (see the failed checks)"
                continue
            try:
                ups = qemu.uplinks(lab.st, e.name, [end.ifname for end in e.ends])
            except LabError as err:
                row[e.name] = f"? ({err.msg.splitlines()[0]})"
                continue
            row[e.name] = qemu.uplinks_text(ups)
            ctx.uplinks = getattr(ctx, "uplinks", {})
            ctx.uplinks[e.name] = ups
        self.uplink_rows.append((ctx.scen.name, row))

    def _cleanup(self, ctx):
        """Leave the lab as the scenario found it: traffic and captures stopped, nodes restored,
        edged back on its topology config. A guest that died or hangs fails here (it is killed
        and reported), and the next scenario gets a fresh lab."""
        lab = ctx.lab
        if lab.st.data.get("status") != "up":
            return
        down = self._guest_problems(ctx)
        if down:
            raise LabError("\n".join(down.values()),
                           fix="see " + "; ".join(qemu.logs_hint(lab.st, n) for n in down))
        for run in ctx.traffic.values():
            if not run.done():
                run.stop()
        for cap in ctx.captures.values():
            cap.stop()
        restored = False
        for node in list(lab.st.data.get("failed", {})):
            self.progress.say(f"  cleanup: restoring {node}")
            lab.restore(node)
            restored = True
        for node in ctx.edged_changed:
            if lab.edge_runs_edged(node):
                self.progress.say(f"  cleanup: edged on {node} back on its topology config")
                lab.stop_edged(node)
                lab.start_edged(node, lab.topo.nodes[node].template)
                restored = True
        if restored:
            lab.wait_converged(timeout=60)

    def check(self, ctx, what, ok, detail="", skipped=False):
        res = CheckResult(ctx.scen.name, what, ok, detail, skipped)
        ctx.results.append(res)
        print_check(res)
        return ok

    def skip(self, ctx, what, why):
        return self.check(ctx, what, True, why, skipped=True)

    def say(self, msg):
        self.progress.say("  " + msg)

    def out_file(self, ctx, name):
        return ctx.lab.st.file(f"s{ctx.seq:02d}-{name}.out")

    def target(self, ctx, v):
        return resolve_target(ctx.lab.topo, v)

    # ------------------------------------------------------------ actions
    def do_snapshot(self, ctx, step, a):
        lab = ctx.lab
        snap = {"t": time.time(), "edged": {}, "origin": {}}
        if not self.no_edged:
            for n in lab.st.data.get("edges", {}):
                if lab.edge_runs_edged(n) and any(procs.alive(r["pid"], r["start"])
                                                  for r in lab.st.procs(node=n, role="edged")):
                    snap["edged"][n] = lab.edge_stats(n)
        for o in lab.topo.by_role("origin"):
            snap["origin"][o.name] = _origin_hits(lab, o.name)
        ctx.snapshots[a["name"]] = snap
        self.say(f"snapshot '{a['name']}': counters of {len(snap['edged'])} edge(s), {len(snap['origin'])} origin(s)")

    def _traffic(self, ctx, step, a, kind):
        lab = ctx.lab
        dst = self.target(ctx, a["to"])
        out = self.out_file(ctx, a["name"])
        if kind == "http":
            run = traffic.http(lab, a["name"], a["from"], dst, out, a["requests"], a["parallel"], a["path"],
                               a["timeout"], a.get("rate"))
            what = f"{a['requests']} HTTP requests, " + (f"{a['rate']:g} a second" if a.get("rate") else
                                                          f"{a['parallel']} at a time")
        elif kind == "udp_flows":
            run = traffic.udp_flows(lab, a["name"], a["from"], dst, out, a["flows"], a["interval"], a["duration"],
                                    a["port"])
            what = f"{a['flows']} UDP flows for {a['duration']}s"
        elif kind == "iperf3":
            run = traffic.iperf3(lab, a["name"], a["from"], dst, out, a["seconds"], a["parallel"])
            what = f"iperf3 {a['seconds']}s x{a['parallel']}"
        elif kind == "tcp_hold":
            run = traffic.tcp_hold(lab, a["name"], a["from"], dst, out, a["conns"], a["interval"], a["duration"],
                                   a["port"], a["replace"], a["silent"])
            what = f"{a['conns']} long-lived TCP connections for {a['duration']}s" + \
                (", broken ones replaced" if a["replace"] else "")
        else:
            run = traffic.nc(lab, a["name"], a["from"], dst, out, a["count"], a["port"])
            what = f"{a['count']} nc connections"
        ctx.traffic[a["name"]] = run
        self.say(f"traffic '{a['name']}': {a['from']} -> {dst}: {what}" + (" (background)" if a["background"] else ""))
        if not a["background"]:
            self._report_traffic(run)

    def _report_traffic(self, run):
        r = run.result()
        if run.kind == "gen":
            if "error" in r:
                raise LabError(f"generator '{run.name}' failed: {r['error']}")
            self.say(f"generate '{run.name}' done: {r.get('sent')} packets in {r.get('seconds', 0):.1f}s"
                     + (f" {r['classes']}" if r.get("classes") else ""))
            return
        spread = ", ".join(f"{k} {v}" for k, v in sorted(r.get("by_edge", {}).items()))
        self.say(f"traffic '{run.name}' done: {r.get('delivered', 0)}/{r.get('sent', 0)} delivered"
                 + (f" ({spread})" if spread else "")
                 + (f", {r['bps'] / 1e6:.0f} Mbit/s" if r.get("bps") else "")
                 + (f", error: {r['error']}" if r.get("error") else ""))

    def do_http(self, ctx, step, a):
        self._traffic(ctx, step, a, "http")

    def do_udp_flows(self, ctx, step, a):
        self._traffic(ctx, step, a, "udp_flows")

    def do_iperf3(self, ctx, step, a):
        self._traffic(ctx, step, a, "iperf3")

    def do_nc(self, ctx, step, a):
        self._traffic(ctx, step, a, "nc")

    def do_tcp_hold(self, ctx, step, a):
        self._traffic(ctx, step, a, "tcp_hold")

    def do_edgectl(self, ctx, step, a):
        """`edgectl ARGS` on every node (default: every edge running edged); a check that each
        exits 0 (an operator's command: lb drain, weight, ...)."""
        lab = ctx.lab
        nodes = a.get("nodes") or [e.name for e in lab.topo.edges if lab.edge_runs_edged(e.name)]
        what = f"edgectl {a['args']} on {', '.join(nodes)}"
        if self.no_edged:
            self.skip(ctx, what, "edged does not run (--no-edged)")
            return
        if a.get("expect"):
            what += f": output has {a['expect']}" + (f" within {a['within']:g}s" if a["within"] else "")
        deadline = time.monotonic() + a["within"]
        while True:
            bad = []
            for n in nodes:
                info = lab.st.data["edges"].get(n)
                if not info:
                    bad.append(f"{n}: edged does not run")
                    continue
                p = edge.edgectl(info["ns"], info["socket"], *a["args"].split())
                if p.returncode != 0:
                    bad.append(f"{n}: exit {p.returncode}: {(p.stderr or p.stdout).strip()[-120:]}")
                elif a.get("expect") and a["expect"] not in p.stdout:
                    bad.append(f"{n}: not in its output: {p.stdout.strip()[-160:]}")
            ok = len(bad) < len(nodes) if a["any"] else not bad
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if a["any"]:
            what += " (on one of them at least)"
        self.check(ctx, what, ok, "; ".join(bad) or "every edge: yes")

    def do_generate(self, ctx, step, a):
        lab = ctx.lab
        args = {k: a[k] for k in ("count", "pps", "duration", "spoof", "size", "port", "variants", "repeat",
                                  "sources") if a.get(k) is not None}
        if a.get("to6"):
            args["dst6"] = self.target(ctx, a["to6"])
        if a.get("inner_dst"):
            args["inner_dst"] = self.target(ctx, a["inner_dst"])
        dst = self.target(ctx, a["to"])
        out = self.out_file(ctx, a["name"])
        if a.get("from"):
            run = traffic.gen(lab, a["name"], a["from"], a["kind"], dst, out, args)
            ctx.traffic[a["name"]] = run
            self.say(f"generate '{a['name']}': {a['kind']} from {a['from']} to {dst} ({a['count']} packets max, "
                     f"{a['pps']:g} pps)" + (" (background)" if a["background"] else ""))
            if not a["background"]:
                self._report_traffic(run)
            return
        # at: NODE:IFACE -> write a pcap in the host (no sending there), then replay it into the link.
        pcap = out + ".pcap"
        args["write"] = pcap
        import subprocess
        argv = [traffic.PY, traffic.GEN, a["kind"], "--dst", str(dst)] + \
            [x for k, v in args.items() for x in (f"--{k.replace('_', '-')}", str(v))]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise LabError(f"generator '{a['name']}' failed: {p.stderr.strip()[-300:]}")
        r = traffic._parse_gen(p.stdout)
        node, iface = a["at"].split(":", 1)
        if a["background"]:
            bg = capture.BackgroundReplay(a["name"], a["at"], st=lab.st, topo=lab.topo, pcap=pcap, node=node,
                                          iface=iface, pps=a["pps"], progress=self.progress)
            ctx.traffic[a["name"]] = _BackgroundGen(a["name"], a["at"], r, bg)
            self.say(f"generate '{a['name']}': {a['kind']} x{r.get('written')} replaying into {a['at']} at "
                     f"{a['pps']:g} pps (background)")
            return
        res = capture.replay(lab.st, lab.topo, pcap, node, iface, pps=a["pps"], progress=self.progress)
        r["sent"] = res["sent"]
        if r.get("classes") and res["sent"] != r.get("written"):
            raise LabError(f"replay of '{a['name']}' sent {res['sent']} of {r.get('written')} packets")
        ctx.traffic[a["name"]] = _Done(a["name"], r)
        self.say(f"generate '{a['name']}': {a['kind']} x{r['sent']} replayed into {a['at']}"
                 + (f" {r['classes']}" if r.get("classes") else ""))

    def do_drop_capture(self, ctx, step, a):
        if self.no_edged:
            raise LabError("drop_capture needs edged (this run has --no-edged): add requires: [edged]")
        ctx.captures[a["name"]] = capture.DropCapture(ctx.lab, f"s{ctx.seq:02d}-{a['name']}", a["node"], a["verdict"],
                                                      a["count"], a["timeout"], a.get("rule"), a.get("stage"))
        self.say(f"edged capture '{a['name']}' on {a['node']}: verdict {a['verdict']}"
                 + (f", rule {a['rule']}" if a.get("rule") else "")
                 + (f", stage {a['stage']}" if a.get("stage") else "")
                 + f", up to {a['count']} packets")

    def do_replay(self, ctx, step, a):
        node, iface = a["at"].split(":", 1)
        if a.get("capture"):
            cap = ctx.captures[a["capture"]]
            cap.stop()
            pcap = cap.path
        else:
            pcap = a["pcap"] if os.path.isabs(a["pcap"]) else os.path.join(REPO, a["pcap"])
        res = capture.replay(ctx.lab.st, ctx.lab.topo, pcap, node, iface, pps=a["pps"], loops=a["loop"],
                             progress=self.progress)
        self.say(f"replayed {res['sent']} packets in {res['seconds']:.2f}s")

    def do_capture(self, ctx, step, a):
        node, iface = a["at"].split(":", 1)
        ctx.captures[a["name"]] = capture.Capture(ctx.lab, f"s{ctx.seq:02d}-{a['name']}", node, iface, a["filter"])
        self.say(f"capture '{a['name']}' on {a['at']}" + (f" ({a['filter']})" if a["filter"] else ""))

    def do_stop_capture(self, ctx, step, a):
        ctx.captures[a["name"]].stop()

    def do_fail(self, ctx, step, a):
        if self.no_edged and a["how"] == "edged-stop":
            self.say(f"fail {a['node']} ({a['how']}): skipped, edged does not run (--no-edged)")
            return
        self.say(f"failing {a['node']}: {a['how']}")
        ctx.failed_at[a["node"]] = time.time()
        ctx.events.append((ctx.failed_at[a["node"]], "fail", a["node"]))
        ctx.lab.fail(a["node"], a["how"])

    def do_restore(self, ctx, step, a):
        self.say(f"restoring {a['node']}")
        ctx.events.append((time.time(), "restore", a["node"]))
        ctx.lab.restore(a["node"])

    def do_start_edged(self, ctx, step, a):
        if self.no_edged:
            self.say(f"start_edged on {a['node']}: skipped (--no-edged)")
            return
        ctx.edged_changed.add(a["node"])  # first: a failed start still gets restored
        ctx.lab.stop_edged(a["node"])
        ctx.lab.start_edged(a["node"], a.get("config"))

    def do_stop_edged(self, ctx, step, a):
        if not self.no_edged:
            ctx.lab.stop_edged(a["node"])
            ctx.edged_changed.add(a["node"])

    def do_wait(self, ctx, step, a):
        self.say(f"waiting {a['seconds']}s")
        end = time.monotonic() + a["seconds"]
        while time.monotonic() < end:
            time.sleep(min(5.0, end - time.monotonic()))
            if time.monotonic() < end:
                self.say(f"  ... {end - time.monotonic():.0f}s to go")

    def do_wait_traffic(self, ctx, step, a):
        run = ctx.traffic[a["name"]]
        w = Waiter(self.progress, f"traffic '{run.name}'", interval=5.0)
        while not run.done():
            w.tick(f"{run.kind} in {run.node} still running")
            time.sleep(0.1)
        self._report_traffic(run)

    def do_wait_sending(self, ctx, step, a):
        """Until generator NAME sends its first packet: a background flood may take seconds to
        start (scapy, the pool of frames, a replay's checks), and what is measured while it
        runs must not start before it."""
        run = ctx.traffic[a["name"]]
        if getattr(run, "kind", "") != "gen" or not hasattr(run, "sending"):
            raise LabError(f"wait_sending: '{a['name']}' is not a background generate step")
        t0 = time.monotonic()
        while not run.sending():
            if time.monotonic() - t0 > a["timeout"]:
                raise LabError(f"generator '{a['name']}' sent nothing within {a['timeout']:g}s",
                               fix=f"see {getattr(run, 'out', 'its output')}")
            time.sleep(0.02)
        self.say(f"generate '{a['name']}' is sending ({time.monotonic() - t0:.1f}s)")

    def do_wait_converged(self, ctx, step, a):
        secs = ctx.lab.wait_converged(timeout=a["timeout"])
        ctx.timings["converged"] = secs

    def _subst(self, ctx, node, text):
        """${sock} and ${config} (NODE's edged control socket and config file), ${run_dir},
        ${repo}, ${build} (where the edged binaries are) in a command line."""
        lab = ctx.lab
        info = lab.st.data.get("edges", {}).get(node, {})
        sock = info.get("socket", "")
        if info.get("guest"):
            # A command in a guest talks to edged's own socket there (the run directory's is
            # the host end of the bridge, which the guest cannot reach).
            sock = qemu.guest_edged_socket(info["instance"])
        v = {"run_dir": lab.st.dir, "repo": state.REPO, "build": os.path.dirname(os.path.abspath(edge.binaries()[0])),
             "sock": sock, "config": info.get("config", "")}
        for m in re.finditer(r"\$\{([^}]*)\}", text):
            if m.group(1) not in v or not v[m.group(1)]:
                raise LabError(f"{node}: unknown or empty ${{{m.group(1)}}} in a command",
                               fix="use " + ", ".join("${%s}" % k for k in v) + " (sock and config on edges)")
        return re.sub(r"\$\{([^}]*)\}", lambda m: v[m.group(1)], text)

    def do_service(self, ctx, step, a):
        """A process the scenario needs running (a service registering with edged, an origin):
        started in NODE, its output in the run directory, stopped when the scenario ends."""
        out = self.out_file(ctx, a["name"])
        cmd = self._subst(ctx, a["node"], a["cmd"])
        run = traffic.Run(ctx.lab, "service", a["name"], a["node"], ["bash", "-c", "exec " + cmd], out,
                          lambda text: {"sent": 0, "delivered": 0}, 3600)
        ctx.traffic[a["name"]] = run
        self.say(f"service '{a['name']}' on {a['node']}: {cmd}")

    def do_expect_log(self, ctx, step, a):
        """The output of services or traffic NAMES holds TEXT (each of them) within the time; with
        absent: none of them holds it."""
        deadline = time.monotonic() + (0 if a["absent"] else a["within"])
        while True:
            have = {}
            for n in a["names"]:
                try:
                    with open(ctx.traffic[n].out, encoding="utf-8", errors="replace") as f:
                        have[n] = a["text"] in f.read()
                except OSError:
                    have[n] = False
            ok = not any(have.values()) if a["absent"] else all(have.values())
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        what = f"{', '.join(a['names'])}: output " + ("never holds" if a["absent"] else "holds") + f" '{a['text']}'"
        self.check(ctx, what, ok, ", ".join(f"{n} {'yes' if v else 'no'}" for n, v in have.items()))

    def do_exec(self, ctx, step, a):
        if not isinstance(a["cmd"], list):
            a = dict(a, cmd=self._subst(ctx, a["node"], a["cmd"]))
        cmd = a["cmd"] if isinstance(a["cmd"], list) else ["bash", "-c", a["cmd"]]
        p = ctx.lab.node_sh(a["node"], cmd, check=False, timeout=120, bpffs=True)
        if a.get("expect_rc") is None:
            self.say(f"exec on {a['node']}: {' '.join(cmd)} -> {p.returncode}")
            return
        self.check(ctx, f"{a['node']}: `{' '.join(cmd) if isinstance(a['cmd'], list) else a['cmd']}` exits "
                   f"{a['expect_rc']}", p.returncode == a["expect_rc"],
                   f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-200:]}")

    def do_reload_edged(self, ctx, step, a):
        """Renders the template for each node into the file its edged reads, then `edgectl
        reload` on all of them at once (one thread each): the time of each reload, as edgectl
        saw it (request sent until edged answered that the new config is applied), goes into
        the report; with within: it is a check."""
        lab = ctx.lab
        nodes = a.get("nodes") or [e.name for e in lab.topo.edges if lab.edge_runs_edged(e.name)]
        what = f"edged on {', '.join(nodes)} reloaded with {a['config']}" + \
            (f" within {a['within']:g}s" if a.get("within") is not None else "")
        if self.no_edged:
            if a.get("within") is not None:
                self.skip(ctx, what, "edged does not run (--no-edged)")
            return
        import threading
        out, errs = {}, {}

        def each(fn):  # FN(node) on every node at once, one thread each
            def one(n):
                try:
                    out[n] = fn(n)
                except LabError as e:
                    errs[n] = e
            threads = [threading.Thread(target=one, args=(n,)) for n in nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errs:
                raise next(iter(errs.values()))
        for n in nodes:
            ctx.edged_changed.add(n)  # the cleanup puts edged back on its topology config
        t0 = time.monotonic()
        each(lambda n: lab.write_edged_config(n, a["config"]))  # rendered and `edged --check`ed
        self.say(f"configs of {', '.join(nodes)} from {a['config']} written and checked ({time.monotonic() - t0:.1f}s)")
        each(lambda n: lab.reload_edged(n)[0])
        stem = os.path.splitext(os.path.basename(a["config"]))[0]
        for n in nodes:
            ctx.timings[f"{n} reload {stem}"] = out[n]
        detail = ", ".join(f"{n} {out[n]:.2f}s" for n in nodes)
        if a.get("within") is None:
            self.say(f"{what}: {detail}")
            return
        # A reload is CPU-bound work in the node (the verifier): a QEMU guest gets time_scale x.
        scaled = {n: a["within"] * lab.time_scale(n) for n in nodes}
        if any(v != a["within"] for v in scaled.values()):
            detail += f" (QEMU guests under TCG: within {max(scaled.values()):g}s)"
        self.check(ctx, what, all(out[n] <= scaled[n] for n in nodes), detail)

    def do_block_file(self, ctx, step, a):
        path = ctx.lab.st.file(a["name"] + ".txt")
        t0 = time.monotonic()
        info = blocklist.generate(path, a["count"], a.get("pool") or blocklist.DEFAULT_POOL, a.get("first") or (),
                                  a.get("last") or (), a["seed"])
        ctx.traffic[a["name"]] = _Done(a["name"], info)
        self.say(f"block file '{a['name']}': {info['lines']} prefixes ({info['v4']} IPv4, {info['v6']} IPv6) in "
                 f"{os.path.relpath(path, REPO)} ({time.monotonic() - t0:.1f}s)"
                 + (f"; first {', '.join(info['first'])}" if info["first"] else "")
                 + (f"; last {', '.join(info['last'])}" if info["last"] else ""))

    def do_teardown(self, ctx, step, a):
        lab = ctx.lab
        ctx.recorded = list(lab.st.data.get("procs", []))
        ctx.instances = {n: i["instance"] for n, i in lab.st.data.get("edges", {}).items()}
        if not self.teardown_now():
            self.say("teardown: the lab is not this run's (it was up before): left up")
            ctx.teardown_skipped = True

    # ------------------------------------------------------------ checks
    def do_expect_delivered(self, ctx, step, a):
        r = ctx.traffic[a["traffic"]].result()
        sent, got = r.get("sent", 0), r.get("delivered", 0)
        frac = got / sent if sent else 0.0
        lo, hi = a.get("min"), a.get("max")
        lo = parse_amount(lo, True) if lo is not None else None
        hi = parse_amount(hi, True) if hi is not None else None
        ok = sent > 0 and (lo is None or frac >= lo) and (hi is None or frac <= hi)
        bound = " and ".join(x for x in ((f">= {lo:.0%}" if lo is not None else ""),
                                         (f"<= {hi:.0%}" if hi is not None else "")) if x)
        self.check(ctx, f"traffic '{a['traffic']}' delivered {bound}", ok,
                   f"{got}/{sent} = {frac:.1%}" + ("" if sent else ": nothing was sent"))

    def do_expect_spread(self, ctx, step, a):
        r = ctx.traffic[a["traffic"]].result()
        if a.get("weights") is not None:
            return self._expect_weighted(ctx, a, r)
        if a.get("min_share") is None:
            raise LabError("expect_spread: give min_share (each edge at least) or weights (shares by weight)")
        over = a.get("over") or [e.name for e in ctx.lab.topo.edges if e.name not in ctx.lab.st.data.get("failed", {})]
        by = r.get("by_edge", {})
        total = sum(by.values())
        share = parse_amount(a["min_share"], True)
        shares = {n: (by.get(n, 0) / total if total else 0.0) for n in over}
        ok = total > 0 and all(v >= share for v in shares.values())
        self.check(ctx, f"traffic '{a['traffic']}' spread over {', '.join(over)}: each >= {share:.0%}", ok,
                   ", ".join(f"{n} {by.get(n, 0)} ({v:.0%})" for n, v in shares.items()))

    def _expect_weighted(self, ctx, a, r):
        """Each node's share of the flows within TOLERANCE (points) of its weight's share; a node
        of weight 0 gets none."""
        w = a["weights"]
        if not isinstance(w, dict) or not w or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in w.values()):
            raise LabError("expect_spread: weights must map nodes to numbers, e.g. {edge1: 1, edge2: 1, edge3: 2}")
        by = r.get("by_edge", {})
        total, wsum = sum(by.values()), sum(w.values())
        tol = parse_amount(a["tolerance"], True)
        detail, ok = [], total > 0 and wsum > 0 and set(by) <= set(w)
        for n, weight in w.items():
            want, got = weight / wsum if wsum else 0.0, (by.get(n, 0) / total if total else 0.0)
            ok &= (by.get(n, 0) == 0) if weight == 0 else abs(got - want) <= tol
            detail.append(f"{n} {by.get(n, 0)} ({got:.0%}, weight {want:.0%})")
        detail += [f"{n} {c} (not weighted)" for n, c in by.items() if n not in w]
        self.check(ctx, f"traffic '{a['traffic']}' spread by weight within {tol:.0%}", ok, ", ".join(detail))

    def do_expect_held(self, ctx, step, a):
        """The long-lived connections of traffic (tcp_hold) served by SERVERS (default: any): none
        was reset, closed or answered by another server so far, and every live one answered
        within the last FRESH seconds of the client's last round (two rounds after this step
        began)."""
        run = ctx.traffic[a["traffic"]]
        if run.kind != "tcp-hold":
            raise LabError(f"expect_held: traffic '{a['traffic']}' is {run.kind}, not tcp_hold")
        # Two more rounds of the client (or its end): every connection was asked after what
        # the steps before did.
        r0, deadline = traffic.hold_state(run).get("rounds", 0), time.monotonic() + 20
        while traffic.hold_state(run).get("rounds", 0) < r0 + 2 and not run.done() and time.monotonic() < deadline:
            time.sleep(0.1)
        doc = traffic.hold_state(run)
        servers = a.get("servers")
        mine = [c for c in doc.get("conns", []) if c["server"] and (not servers or c["server"] in servers)]
        broken = [c for c in mine if c["broken"] is not None]
        moved = [c for c in mine if c["moved"]]
        stale = [c for c in mine if c["broken"] is None and doc["t"] - c["last_ok"] > a["fresh"]]
        ok = len(mine) >= a["min"] and not broken and not moved and not stale
        by = {}
        for c in mine:
            by[c["server"]] = by.get(c["server"], 0) + 1
        detail = (f"{len(mine)} connections ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))}) "
                  f"at round {doc.get('rounds', 0)}: {len(broken)} broken, {len(moved)} moved, "
                  f"{len(stale)} silent > {a['fresh']:g}s")
        if broken:
            detail += "; first: " + ", ".join(f"{c['server']} {c['why']} at {c['broken']:.1f}s" for c in broken[:3])
        self.check(ctx, f"long-lived connections of '{a['traffic']}'"
                   + (f" on {', '.join(servers)}" if servers else "") + " continue, none reset or moved",
                   ok, detail)

    def _delta(self, ctx, node, counter, since):
        if since is None:  # no snapshot: the value now (a gauge such as lists.block.entries_v4)
            return edge.counter(ctx.lab.edge_stats(node), counter)
        snap = ctx.snapshots[since]["edged"]
        if node not in snap:
            raise LabError(f"snapshot '{since}' has no counters of {node} (edged was not running)")
        now = ctx.lab.edge_stats(node)
        return edge.counter(now, counter) - edge.counter(snap[node], counter)

    def _edged_skip(self, ctx, what):
        if self.no_edged:
            self.skip(ctx, what, "edged counters: edged does not run (--no-edged)")
            return True
        return False

    def _resolve_bound(self, ctx, v):
        if isinstance(v, str) and "$" in v:
            try:
                return eval_bound(v, lambda ref: self._ref(ctx, ref))
            except ValueError as e:
                raise LabError(f"bound {v!r}: {e}") from None
        return parse_amount(v, False) if v is not None else None

    def _ref(self, ctx, ref):
        name, _, path = ref[1:].partition(".")
        cur = ctx.traffic[name].result()
        for p in path.split(".") if path else []:
            if not isinstance(cur, dict) or p not in cur:
                raise LabError(f"{ref}: traffic '{name}' has no field '{path}' (it has: {', '.join(cur)})")
            cur = cur[p]
        return cur

    def do_expect_counter(self, ctx, step, a):
        nodes = a.get("nodes") or [a["node"]]
        lo, hi, eq = (self._resolve_bound(ctx, a.get(k)) for k in ("min", "max", "equals"))
        bound = " and ".join(x for x in ((f">= {lo}" if lo is not None else ""), (f"<= {hi}" if hi is not None else ""),
                                         (f"== {eq}" if eq is not None else "")) if x)
        what_nodes = "+".join(nodes) if a["sum"] else ", ".join(nodes)
        since = f" since '{a['since']}'" if a.get("since") else ""
        what = f"edged {a['counter']} on {what_nodes}{since} {bound}"
        if self._edged_skip(ctx, what):
            return
        deltas = {n: self._delta(ctx, n, a["counter"], a["since"]) for n in nodes}
        vals = {"+".join(nodes): sum(deltas.values())} if a["sum"] else deltas
        ok = all((lo is None or v >= lo) and (hi is None or v <= hi) and (eq is None or v == eq) for v in vals.values())
        self.check(ctx, what, ok, ", ".join(f"{n} {'+' if a.get('since') else ''}{v}" for n, v in vals.items()))

    def do_expect_share(self, ctx, step, a):
        nodes = a.get("nodes") or [e.name for e in ctx.lab.topo.edges]
        share = parse_amount(a["min_share"], True)
        what = f"edged {a['counter']} shared by {', '.join(nodes)}: each >= {share:.0%} of the total"
        if self._edged_skip(ctx, what):
            return
        deltas = {n: self._delta(ctx, n, a["counter"], a["since"]) for n in nodes}
        total = sum(deltas.values())
        ok = total > 0 and all(v / total >= share for v in deltas.values())
        self.check(ctx, what, ok, ", ".join(f"{n} +{v} ({v / total if total else 0:.0%})" for n, v in deltas.items()))

    def do_expect_origin(self, ctx, step, a):
        before = ctx.snapshots[a["since"]]["origin"].get(a["node"], 0)
        now = _origin_hits(ctx.lab, a["node"])
        n = now - before
        if a.get("client"):  # only the requests that came from this address (what SNAT made)
            n = _origin_edges(ctx.lab, a["node"], ctx.snapshots[a["since"]]["t"], key="client").get(a["client"], 0)
        lo, hi = self._resolve_bound(ctx, a.get("min")), self._resolve_bound(ctx, a.get("max"))
        ok = (lo is None or n >= lo) and (hi is None or n <= hi)
        bound = " and ".join(x for x in ((f">= {lo}" if lo is not None else ""), (f"<= {hi}" if hi is not None else ""))
                             if x)
        by = _origin_edges(ctx.lab, a["node"], ctx.snapshots[a["since"]]["t"])
        self.check(ctx, f"origin {a['node']} served {bound} requests"
                   + (f" from {a['client']}" if a.get("client") else "") + f" since '{a['since']}'", ok,
                   f"{n} requests" + (f", via {', '.join(f'{k} {v}' for k, v in sorted(by.items()))}" if by else ""))

    def do_expect_route(self, ctx, step, a):
        ns = ctx.lab.st.ns(a["node"])
        last = ctx.events[-1] if ctx.events else None  # (wall time, "fail"/"restore", node)
        t0 = time.monotonic()
        deadline = t0 + a["within"]
        while True:
            have = netns.route_nexthops(ns, a["prefix"])
            if len(have) == a["nexthops"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        ok = len(have) == a["nexthops"]
        detail = f"{len(have)} nexthop(s) after {time.monotonic() - t0:.2f}s"
        if last:
            since = time.time() - last[0]
            detail += f", {since:.2f}s after the {last[1]} of {last[2]}"
            if ok:
                kind = "withdrawal" if last[1] == "fail" else "recovery"
                ctx.timings.setdefault(f"{a['node']} {kind}", since)
        self.check(ctx, f"{a['node']} routes {a['prefix']} over {a['nexthops']} nexthop(s) within {a['within']}s",
                   ok, detail)

    def do_expect_failover(self, ctx, step, a):
        node = a["node"]
        run = ctx.traffic[a["traffic"]]
        if node not in ctx.failed_at:
            raise LabError(f"expect_failover: {node} was not failed by an earlier step")
        r = run.result()
        doc = r.get("timeline")
        if not doc:
            return self.check(ctx, f"flows of {node} moved within {a['within']}s", False, "no flow timeline")
        moved, stuck, worst, lost = failover_stats(doc, ctx.failed_at[node] - doc["start"], node)
        ok = moved > 0 and stuck == 0 and worst <= a["within"]
        if moved:
            ctx.timings[f"{node} failover"] = worst
        self.check(ctx, f"flows on {node} moved to other edges within {a['within']}s", ok,
                   f"{moved} flow(s) moved, {stuck} never answered again, slowest after {worst:.2f}s, "
                   f"{lost} probe(s) lost meanwhile")

    def do_expect_capture(self, ctx, step, a):
        cap = ctx.captures[a["capture"]]
        cap.stop()
        n = cap.count(a["filter"])
        lo, hi = self._resolve_bound(ctx, a.get("min")), self._resolve_bound(ctx, a.get("max"))
        ok = (lo is None or n >= lo) and (hi is None or n <= hi)
        bound = " and ".join(x for x in ((f">= {lo}" if lo is not None else ""), (f"<= {hi}" if hi is not None else ""))
                             if x)
        self.check(ctx, f"capture '{a['capture']}'" + (f" [{a['filter']}]" if a["filter"] else "")
                   + f" saw {bound} packets", ok, f"{n} packets")

    def do_expect_running(self, ctx, step, a):
        run = ctx.traffic[a["name"]]
        self.check(ctx, f"traffic '{a['name']}' still running (what was measured before overlapped it)",
                   not run.done(), f"{run.kind} in {run.node} " + ("finished already" if run.done() else "running"))

    def do_expect_same(self, ctx, step, a):
        cap = ctx.captures[a["capture"]]
        cap.stop()
        counts = [cap.count(f) for f in a["filters"]]
        ok = max(counts) - min(counts) <= a["tolerance"]
        self.check(ctx, f"capture '{a['capture']}' saw as many packets for each of {len(counts)} filters "
                   f"(within {a['tolerance']})", ok, ", ".join(f"[{f}] {n}" for f, n in zip(a["filters"], counts)))

    def do_expect_map(self, ctx, step, a):
        nodes = a.get("nodes") or [a["node"]]
        lo, hi = self._resolve_bound(ctx, a.get("min")), self._resolve_bound(ctx, a.get("max"))
        bound = "".join(x for x in ((f", >= {lo}" if lo is not None else ""), (f", <= {hi}" if hi is not None else "")))
        what = f"edged map {a['map']} on {', '.join(nodes)}: entries within its max_entries{bound}"
        if self._edged_skip(ctx, what):
            return
        ok, details = True, []
        for n in nodes:
            info = ctx.lab.st.data["edges"].get(n) or {}
            path = os.path.join(runtime.PIN_ROOT, info.get("instance", "?"), a["map"])
            # A guest's pins are in the guest's bpffs: the same reader runs there.
            m = qemu.map_summary(ctx.lab.st, n, path) if info.get("guest") else bpfmap.map_summary(path)
            k = m["entries"]
            ok = ok and k <= m["max_entries"] and (lo is None or k >= lo) and (hi is None or k <= hi)
            details.append(f"{n} {k} of {m['max_entries']} ({m['type']}, {m['key_size']}+{m['value_size']} B an entry)")
        self.check(ctx, what, ok, ", ".join(details))

    def do_expect_clean(self, ctx, step, a):
        lab = ctx.lab
        st = lab.st
        if getattr(ctx, "teardown_skipped", False) or st.data.get("status") != "down":
            return self.skip(ctx, "the lab leaves nothing behind", "no teardown step ran on a lab of this run")
        st.load()
        left_ns = [n for n in netns.list_namespaces() if n.startswith(st.prefix + "-")]
        self.check(ctx, f"no namespace {st.prefix}-* left", not left_ns, ", ".join(left_ns) or "none")
        recs = getattr(ctx, "recorded", [])
        alive = [f"{r['role']}@{r['node']} (PID {r['pid']})" for r in recs if procs.alive(r["pid"], r["start"])]
        self.check(ctx, f"no process of the run left ({len(recs)} recorded)", not alive, ", ".join(alive) or "none")
        pins = [f"/sys/fs/bpf/edged/{i}" for i in getattr(ctx, "instances", {}).values()
                if os.path.exists(f"/sys/fs/bpf/edged/{i}")]
        self.check(ctx, f"no pinned BPF object left under /sys/fs/bpf/edged/ "
                   f"({len(getattr(ctx, 'instances', {}))} instance(s))", not pins, ", ".join(pins) or "none")
        mounts = _mounts_of(st)
        self.check(ctx, "no mount left by the run", not mounts, ", ".join(mounts) or "none")
        issues = st.data.get("issues", [])
        self.check(ctx, "teardown reported no problem (edged --teardown, stray processes)", not issues,
                   "; ".join(issues) or "none")
        self.check(ctx, "run unregistered", not os.path.lexists(os.path.join(state.REGISTRY, st.prefix)),
                   os.path.join(state.REGISTRY, st.prefix))

    # ------------------------------------------------------------ report
    def print_report(self):
        if self.rows:
            table(self.rows)
        passed = sum(1 for r in self.results if r.ok and not r.skipped)
        failed = sum(1 for r in self.results if not r.ok)
        skipped = sum(1 for r in self.results if r.skipped)
        total = getattr(self, "total_seconds", self.progress.elapsed())
        if self.uplink_rows:
            emit("edge uplinks at the end of each scenario (driver/XDP mode; QEMU guests and namespaces):")
            for name, row in self.uplink_rows:
                emit(f"  {name}:")
                for node, text in row.items():
                    emit(f"    {node:<8} {text}")
        if failed:
            emit("failed checks:")
            for r in self.results:
                if not r.ok:
                    emit(f"  {r.scenario}: {r.what}: {r.detail}")
            for name, hints in self.guest_logs.items():
                for h in hints:
                    emit(f"  {name}: {h}")
        emit(f"total {total:.1f}s" + (f"; {skipped} check(s) skipped" if skipped else ""))
        emit(f"{passed} passed, {failed} failed")


def qemu_variant(scen):
    """The QEMU variant of a scenario's topology: topologies/NAME-qemu.yaml, with every node
    (same role) and interface of NAME, some nodes guests, so the scenario's steps mean the
    same; it may add links (a guest with a virtio-net and an e1000 uplink)."""
    base = scen.topo
    path = topology.resolve_path(base.name + "-qemu")
    if not os.path.exists(path):
        raise LabError(f"scenario '{scen.name}' runs on topology '{base.name}', which has no QEMU variant",
                       scen.path, fix=f"write topologies/{base.name}-qemu.yaml (the same nodes and links, qemu: on "
                                      "some of them), or run the scenario without --qemu")
    var = topology.load(path)
    if [str(p) for p in var.transit] != [str(p) for p in base.transit]:
        raise LabError(f"topology {var.name} announces other transit prefixes than {base.name}", var.path,
                       fix="a QEMU variant keeps anycast.transit of its topology")
    for n in base.nodes.values():
        v = var.nodes.get(n.name)
        if v is None or v.role != n.role or not {e.ifname for e in n.ends} <= {e.ifname for e in v.ends}:
            raise LabError(f"topology {var.name} differs from {base.name} at node '{n.name}'", var.path,
                           fix="a QEMU variant keeps every node, role and link of its topology")
    return var


def failover_stats(doc, t_fail, node):
    """How the flows that NODE served before T_FAIL (seconds from the timeline's start) fared:
    (moved, stuck, slowest seconds until another edge answered, probes lost after T_FAIL)."""
    moved, stuck, worst, lost = 0, 0, 0.0, 0
    for fl in doc["flows"]:
        before = [e for e in fl if e[1] is not None and e[0] < t_fail]
        if not before or before[-1][2] != node:
            continue
        lost += sum(1 for e in fl if e[0] >= t_fail and e[1] is None)
        after = [e for e in fl if e[1] is not None and e[0] >= t_fail and e[2] != node]
        if not after:
            stuck += 1
            continue
        moved += 1
        worst = max(worst, after[0][1] - t_fail)
    return moved, stuck, worst, lost


class _BackgroundGen:
    """generate at: NODE:IFACE in the background: the pcap is written, its replay runs on."""

    kind = "gen"

    def __init__(self, name, at, written, bg):
        self.name, self.node, self._w, self._bg = name, at, written, bg

    def done(self):
        return self._bg.done()

    def sending(self):
        return self._bg.sending()

    def stop(self):
        self._bg.stop()

    def result(self):
        r = dict(self._w)
        res = self._bg.result() or {}
        r["sent"] = res.get("sent", 0)
        r["seconds"] = res.get("seconds", 0)
        if res.get("error"):
            r["error"] = res["error"]
        return r


class _Done:
    """A traffic entry that already finished (replayed generators)."""

    kind = "gen"
    node = "-"

    def __init__(self, name, result):
        self.name, self._r = name, result

    def result(self):
        return self._r

    def done(self):
        return True


def _origin_hits(lab, node):
    try:
        with open(lab.hits_file(node), encoding="utf-8") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _origin_edges(lab, node, since, key="edge"):
    """Requests since SINCE by the edge that forwarded them (KEY "client": by source address)."""
    import json
    by = {}
    try:
        with open(lab.hits_file(node), encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec["t"] >= since:
                    by[rec.get(key) or "-"] = by.get(rec.get(key) or "-", 0) + 1
    except (OSError, ValueError):
        pass
    return by


def _mounts_of(st):
    """Mounts whose mount point mentions the run (netns bind mounts, nsexec's bpffs aside)."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                mp = line.split()[4]
                if st.prefix in mp or st.dir in mp or "nsexec-bpffs" in mp:
                    out.append(mp)
    except OSError:
        pass
    return out

