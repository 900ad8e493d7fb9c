# SPDX-License-Identifier: GPL-2.0
"""What the lab prints: progress with elapsed time, check results, the closing report.

Output is plain lines (CI logs and terminals alike), each long step prefixed with the time
since the command started, so a slow or stuck step is visible as it happens.
"""
import os
import sys
import time


def emit(line, stream=None):
    """print() that survives a closed pipe (`lab/lab run | head`): the output is dropped from
    then on, but the run -- and above all its teardown -- goes on."""
    stream = stream or sys.stdout
    try:
        print(line, file=stream, flush=True)
    except (BrokenPipeError, ValueError):
        devnull = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process
        if stream is sys.stdout:
            sys.stdout = devnull
        elif stream is sys.stderr:
            sys.stderr = devnull


class Progress:
    def __init__(self, stream=None, quiet=False):
        self.t0 = time.monotonic()
        self.stream = stream or sys.stdout
        self.quiet = quiet

    def elapsed(self):
        return time.monotonic() - self.t0

    def say(self, msg):
        if not self.quiet:
            emit(f"[{self.elapsed():6.1f}s] {msg}", self._stream())

    def warn(self, msg):
        emit(f"[{self.elapsed():6.1f}s] warning: {msg}", self._stream())

    def _stream(self):
        # after a broken pipe sys.stdout is replaced: follow it
        return sys.stdout if self.stream in (sys.__stdout__, None) or self.stream.closed else self.stream


class Waiter:
    """Prints a waiting line at most every INTERVAL seconds while a condition is polled."""

    def __init__(self, progress, what, interval=2.0):
        self.progress, self.what, self.interval = progress, what, interval
        self.t0 = time.monotonic()
        self.last = self.t0

    def tick(self, detail):
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.progress.say(f"  waiting for {self.what}: {detail} ({now - self.t0:.1f}s)")


class CheckResult:
    def __init__(self, scenario, what, ok, detail="", skipped=False):
        self.scenario, self.what, self.ok, self.detail, self.skipped = scenario, what, ok, detail, skipped


def print_check(res, stream=None):
    stream = stream or sys.stdout
    tag = "skip" if res.skipped else ("ok  " if res.ok else "FAIL")
    line = f"  {tag} {res.what}"
    if res.detail:
        line += f"  ({res.detail})" if res.ok or res.skipped else f"\n         {res.detail}"
    emit(line, stream)


def table(rows, stream=None):
    """The closing report: one row per scenario. ROWS: (name, passed, failed, skipped, seconds, note)."""
    w = max([len("scenario")] + [len(r[0]) for r in rows])
    out = ["", f"{'scenario':<{w}}  {'checks':>9}  {'failed':>6}  {'time':>7}  result",
           f"{'-' * w}  {'-' * 9}  {'-' * 6}  {'-' * 7}  ------"]
    for name, p, f, s, secs, note in rows:
        result = "FAIL" if f else ("skipped" if not p and s else "ok")
        extra = f"  {note}" if note else ""
        if name.startswith("("):  # lab bring-up / teardown: time only
            out.append(f"{name:<{w}}  {'':>9}  {'':>6}  {secs:>6.1f}s  {extra.strip()}")
            continue
        out.append(f"{name:<{w}}  {p:>4}/{p + f:<4}  {f:>6}  {secs:>6.1f}s  {result}{extra}")
    out.append("")
    for line in out:
        emit(line, stream)
