#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Prints the part of Debian's Python standard library a lab guest needs, as image manifest
lines (tests/qemu/mkinitramfs.sh -m).

The guest runs the lab's own Python programs: the agent (lab/qemu/agent.py), the edge service
(lab/roles/edge_service.py) and the traffic clients (traffic/clients/). Their imports are
loaded here, in this interpreter (the one the guest gets), and every standard-library package
one of them touched goes in whole: a module a package imports lazily later is then there too.
The whole library is 54 MB; this is about 8.

Modules go in as the byte code Debian compiled at install (__pycache__/X.cpython-311.pyc,
copied to X.pyc beside where X.py would be): the interpreter loads such "sourceless" modules
without comparing times with a source file -- the image's files all carry time 0, so every
source would otherwise be compiled again at every boot, slowly under TCG. A module without
Debian byte code goes in as source.

    pylibs.py SCRIPT...     (the scripts whose imports count, besides the interpreter's own)
"""
import importlib.util
import os
import pkgutil
import runpy
import sys
import sysconfig

# What the agent imports (it runs in the guest, so it is imported here without running), and
# lablib.bpfmap, which the lab runs in a guest to read edged's pinned maps there (ctypes).
AGENT_MODULES = ("json", "os", "signal", "socket", "struct", "subprocess", "threading", "time", "ctypes",
                 "platform")
# Packages imported lazily by what the guest runs, which loading alone does not reach.
LAZY = ("encodings", "email", "http", "urllib", "html", "json", "collections", "importlib", "logging")
SKIP_DIRS = ("test", "tests", "idle_test", "__pycache__")


def load_packages(names):
    """Import every module of the LAZY packages, so that what they import goes in as well
    (encodings.idna, which socket.getfqdn needs, imports stringprep and unicodedata)."""
    for name in names:
        pkg = importlib.import_module(name)
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), name + "."):
            if any(part in SKIP_DIRS for part in info.name.split(".")):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 -- platform modules (encodings.mbcs) do not import here
                pass


def load_scripts(paths):
    """Import each script's imports: run the file as a module that is not __main__."""
    for p in paths:
        runpy.run_path(p, run_name="pylibs_probe")


def touched_tops(stdlib):
    tops = set(LAZY)
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        f = os.path.realpath(f)
        if f.startswith(stdlib + os.sep):
            tops.add(os.path.relpath(f, stdlib).split(os.sep)[0])
    return sorted(tops)


def files_of(stdlib, top):
    path = os.path.join(stdlib, top)
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for f in sorted(files):
                yield os.path.join(root, f)
    elif os.path.exists(path):
        yield path
    elif os.path.exists(path + ".py"):
        yield path + ".py"


def main(argv):
    stdlib = sysconfig.get_paths()["stdlib"]
    dynload = os.path.join(stdlib, "lib-dynload")
    for m in AGENT_MODULES:
        importlib.import_module(m)
    load_packages(LAZY)
    load_scripts(argv)
    out = [f"dir {dynload}"]  # the interpreter looks for it to find its prefix
    for top in touched_tops(stdlib):
        if top.endswith(".so") or top == "lib-dynload":
            continue
        for f in files_of(stdlib, top if not top.endswith(".py") else top[:-3]):
            if not f.endswith(".py"):
                continue
            pyc = importlib.util.cache_from_source(f)
            if os.path.exists(pyc):
                out.append(f"file {pyc} {f[:-3]}.pyc")
            else:
                out.append(f"file {f} {f}")
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and os.path.realpath(f).startswith(dynload + os.sep):
            out.append(f"bin {os.path.realpath(f)}")
    for line in dict.fromkeys(out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
