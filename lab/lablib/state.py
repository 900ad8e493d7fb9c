# SPDX-License-Identifier: GPL-2.0
"""Run directories and state files: what one lab run created, and who owns it.

Each run gets a random 6-hex id; its namespaces are lab-<id>-<node>, its files live in
lab/runs/<id>/ (configs, logs, sockets, state.json), and /run/edged-lab/lab-<id> points at that
directory so that `lab down --stale` finds the state of runs from any checkout. state.json is
written before each thing is created (namespace, process), so even a run killed with SIGKILL
leaves enough behind to be cleaned up. The owner is the process responsible for tearing the
run down: the `lab run` process, or the keeper process `lab up` leaves behind.
"""
import contextlib
import fcntl
import json
import os
import secrets
import time

from . import netns, procs
from .errors import LabError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGISTRY = "/run/edged-lab"
# unix socket paths are limited to 107 bytes; the run dir holds edged's control sockets.
MAX_RUN_DIR = 80


def runs_dir():
    return os.environ.get("LAB_RUNS") or os.path.join(REPO, "lab", "runs")


class RunState:
    def __init__(self, run_dir):
        self.dir = run_dir
        self.path = os.path.join(run_dir, "state.json")
        self.data = {}

    # -- identity
    @property
    def id(self):
        return self.data["id"]

    @property
    def prefix(self):
        return self.data["prefix"]

    def ns(self, node):
        return netns.ns_name(self.prefix, node)

    def file(self, name):
        return os.path.join(self.dir, name)

    # -- persistence
    def load(self):
        with open(self.path, encoding="utf-8") as f:
            self.data = json.load(f)
        return self

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def locked(self):
        """Re-read, let the caller change, write back; under a lock (several lab commands may
        record processes in one run)."""
        with open(os.path.join(self.dir, "state.lock"), "w", encoding="utf-8") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            if os.path.exists(self.path):
                self.load()
            yield self.data
            self.save()

    # -- records
    def add_namespace(self, ns):
        with self.locked() as d:
            if ns not in d["namespaces"]:
                d["namespaces"].append(ns)

    def add_proc(self, rec, node, role):
        rec = dict(rec, node=node, role=role)
        with self.locked() as d:
            d["procs"].append(rec)
        return rec

    def drop_proc(self, pid):
        with self.locked() as d:
            d["procs"] = [p for p in d["procs"] if p["pid"] != pid]

    def procs(self, node=None, role=None):
        return [p for p in self.data.get("procs", [])
                if (node is None or p["node"] == node) and (role is None or p["role"] == role)]

    def set_owner(self, pid):
        with self.locked() as d:
            d["owner"] = {"pid": pid, "start": procs.start_time(pid)}

    def owner_alive(self):
        o = self.data.get("owner") or {}
        return bool(o) and procs.alive(o.get("pid"), o.get("start"))

    def set_status(self, status):
        with self.locked() as d:
            d["status"] = status


def new_run(topology_path, options):
    """Create the run directory, registry entry and state of a new run owned by this process."""
    base = runs_dir()
    os.makedirs(base, exist_ok=True)
    existing = set(netns.list_namespaces())
    for _ in range(20):
        rid = secrets.token_hex(3)
        prefix = f"lab-{rid}"
        if not any(n.startswith(prefix + "-") for n in existing) and \
                not os.path.lexists(os.path.join(REGISTRY, prefix)) and \
                not os.path.exists(os.path.join(base, rid)):
            break
    else:
        raise LabError("could not find an unused run id", fix="run lab/lab down --stale")
    run_dir = os.path.join(base, rid)
    if len(run_dir) > MAX_RUN_DIR:
        raise LabError(f"run directory path {run_dir} is too long for unix sockets",
                       fix="set LAB_RUNS to a shorter directory, e.g. LAB_RUNS=/tmp/lab-runs")
    os.makedirs(run_dir)
    os.makedirs(REGISTRY, exist_ok=True)
    os.symlink(run_dir, os.path.join(REGISTRY, prefix))
    st = RunState(run_dir)
    st.data = {
        "id": rid, "prefix": prefix, "topology": topology_path, "created": time.time(),
        "status": "starting", "namespaces": [], "procs": [], "edges": {}, "failed": {},
        "options": options, "owner": {}, "issues": [], "repo": REPO,
    }
    st.save()
    st.set_owner(os.getpid())
    prune_old_runs(base, keep=20)
    return st


def prune_old_runs(base, keep):
    """Old run directories are logs only; keep the last KEEP that are not registered."""
    try:
        entries = [e for e in os.listdir(base) if len(e) == 6 and os.path.isdir(os.path.join(base, e))]
    except OSError:
        return
    registered = {os.path.realpath(p) for p in registered_runs().values()}
    old = sorted((os.path.getmtime(os.path.join(base, e)), e) for e in entries)
    for _, e in old[:-keep] if len(old) > keep else []:
        path = os.path.join(base, e)
        if os.path.realpath(path) in registered:
            continue
        for root, dirs, files in os.walk(path, topdown=False):
            for f in files:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, f))
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, d))
        with contextlib.suppress(OSError):
            os.rmdir(path)


def registered_runs():
    """{prefix: run_dir} for every run in the registry."""
    out = {}
    try:
        names = os.listdir(REGISTRY)
    except FileNotFoundError:
        return out
    for name in names:
        if netns.PREFIX_PATTERN.match(name):
            with contextlib.suppress(OSError):
                out[name] = os.readlink(os.path.join(REGISTRY, name))
    return out


def unregister(prefix):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(REGISTRY, prefix))


def load_run(prefix):
    """RunState of a registered run, or None when it has no readable state."""
    run_dir = registered_runs().get(prefix)
    if not run_dir:
        return None
    try:
        return RunState(run_dir).load()
    except (OSError, ValueError):
        return None


def live_runs():
    """RunStates of registered runs whose owner process is alive."""
    out = []
    for prefix in sorted(registered_runs()):
        st = load_run(prefix)
        if st is not None and st.owner_alive():
            out.append(st)
    return out


def select(prefix=None):
    """The run a command acts on: --lab PREFIX, $LAB, or the only live run."""
    prefix = prefix or os.environ.get("LAB")
    if prefix:
        if not prefix.startswith("lab-"):
            prefix = "lab-" + prefix
        st = load_run(prefix)
        if st is None:
            raise LabError(f"no lab run '{prefix}'", fix="see lab/lab status for the runs that are up")
        return st
    runs = live_runs()
    if not runs:
        raise LabError("no lab is up", fix="start one with lab/lab up TOPOLOGY (e.g. lab/lab up single-edge)")
    if len(runs) > 1:
        names = ", ".join(f"{r.prefix} ({os.path.basename(r.data['topology'])})" for r in runs)
        raise LabError(f"several labs are up: {names}", fix="pick one with --lab PREFIX or LAB=PREFIX")
    return runs[0]


def stale_prefixes():
    """Lab prefixes with namespaces or registry entries but no live owner.

    Returns {prefix: RunState or None}. Namespaces of live runs are never included.
    """
    prefixes = set()
    for ns in netns.list_namespaces():
        m = netns.NS_PATTERN.match(ns)
        if m:
            prefixes.add(f"lab-{m.group(1)}")
    prefixes |= set(registered_runs())
    out = {}
    for prefix in sorted(prefixes):
        st = load_run(prefix)
        if st is not None and st.owner_alive():
            continue
        out[prefix] = st
    return out
