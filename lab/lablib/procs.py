# SPDX-License-Identifier: GPL-2.0
"""Processes the lab starts: recorded by PID and start time, stopped by that record only.

A PID alone can be reused by an unrelated process after ours exits; the start time (field 22
of /proc/PID/stat, in clock ticks since boot) tells them apart. Nothing is ever killed by name.
"""
import os
import signal
import subprocess
import time


def start_time(pid):
    """Start time of PID in clock ticks since boot, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[19])


def alive(pid, start):
    """True when PID runs and is the process that was recorded (same start time)."""
    st = start_time(pid)
    if st is None or st != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def spawn(argv, log_path, env=None):
    """Start ARGV in the background, output to LOG_PATH; returns (Popen, record).

    start_new_session: a Ctrl-C on the terminal reaches the lab, which then stops the
    processes in order (edged before its namespace goes), instead of all at once.
    """
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=env)
    finally:
        log.close()
    rec = {"pid": p.pid, "start": start_time(p.pid), "argv": argv, "log": log_path}
    return p, rec


def reap():
    """Collect exited children so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(rec, timeout=5.0, sig=signal.SIGTERM):
    """Stop the recorded process: SIG, then SIGKILL after TIMEOUT. True if it had been running."""
    pid, start = rec["pid"], rec.get("start")
    if not alive(pid, start):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not alive(pid, start):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(100):
        reap()
        if not alive(pid, start):
            break
        time.sleep(0.02)
    return True


def signal_rec(rec, sig):
    if alive(rec["pid"], rec.get("start")):
        os.kill(rec["pid"], sig)
        return True
    return False


def pids_in_netns(ns_path):
    """PIDs of processes whose network namespace is the one bound at NS_PATH (for reports)."""
    try:
        target = os.stat(ns_path).st_ino
    except OSError:
        return []
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}/ns/net").st_ino == target:
                pids.append(int(d))
        except OSError:
            continue
    return pids


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "?"
