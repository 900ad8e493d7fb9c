#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Long-lived TCP connections through real sockets, to see whether any is reset or moved.

Opens CONNS connections to DST:PORT (the edges' TCP echo, which answers each line with
"<edge name> <line>") and, every INTERVAL seconds for DURATION seconds, sends one line on each
and reads the answer. A connection is "broken" when it is reset or closed, or silent for
SILENT seconds (longer than the fleet's BGP hold time: a re-route is not a break); "moved"
when another edge answers on it (a stray segment accepted by a second server: TCP would not
do that, so it means a bug). With --replace, every broken connection is replaced by a new one
at the next round, so the run always holds CONNS live connections, some opened during the
events the scenario causes. Rewrites a JSON document after every round (the lab reads it
while the run goes on):

  {"start": wall clock, "rounds": n, "t": seconds since start of the last round,
   "conns": [{"server": "edge2", "opened": t, "broken": t or null, "why": "reset",
              "moved": false, "last_ok": t, "answers": n}, ...]}
"""
import argparse
import json
import os
import select
import socket
import sys
import time

MAX_CONNS = 2000
MAX_DURATION = 300.0


class Conn:
    def __init__(self, dst, port, t):
        self.sock = socket.create_connection((dst, port), timeout=3)
        self.sock.setblocking(False)
        self.server, self.opened, self.broken, self.why = None, t, None, None
        self.moved, self.last_ok, self.answers, self.buf = False, t, 0, b""

    def doc(self):
        return {"server": self.server, "opened": self.opened, "broken": self.broken, "why": self.why,
                "moved": self.moved, "last_ok": self.last_ok, "answers": self.answers}

    def fail(self, t, why):
        self.broken, self.why = t, why
        self.sock.close()


def open_conn(a, t, conns):
    try:
        conns.append(Conn(a.dst, a.port, t))
    except OSError as e:
        print(f"tcp_hold: connect failed: {e}", file=sys.stderr, flush=True)


def read_answers(live, t0, silent, deadline):
    """Reads the answers of LIVE (waiting on) until DEADLINE; breaks the ones that fail."""
    waiting = {c.sock.fileno(): c for c in live}
    while waiting and time.time() < deadline:
        r, _, _ = select.select([c.sock for c in waiting.values()], [], [], max(0.0, deadline - time.time()))
        for s in r:
            c = waiting[s.fileno()]
            t = time.time() - t0
            try:
                chunk = s.recv(256)
            except OSError as e:
                chunk, why = None, f"error: {e.strerror}"
            else:
                why = "closed"
            if not chunk:
                del waiting[s.fileno()]
                c.fail(t, why)
                continue
            c.buf += chunk
            while b"\n" in c.buf:
                line, c.buf = c.buf.split(b"\n", 1)
                name = line.decode(errors="replace").split()[0] if line.strip() else "?"
                if c.server is None:
                    c.server = name
                c.moved |= name != c.server
                c.last_ok, c.answers = t, c.answers + 1
                waiting.pop(s.fileno(), None)
    for c in waiting.values():  # not answered this round: broken only once silent too long
        if time.time() - t0 - c.last_ok > silent:
            c.fail(time.time() - t0, "silent")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--conns", type=int, default=60)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--silent", type=float, default=12.0)
    ap.add_argument("--replace", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not 1 <= a.conns <= MAX_CONNS or not 0 < a.duration <= MAX_DURATION or a.interval < 0.05:
        print(f"tcp_hold: conns 1..{MAX_CONNS}, duration up to {MAX_DURATION:.0f}s, interval >= 50 ms",
              file=sys.stderr)
        return 2
    t0 = time.time()
    conns = []
    for _ in range(a.conns):
        open_conn(a, 0.0, conns)
    rounds = 0
    while time.time() - t0 < a.duration:
        start = time.time()
        live = [c for c in conns if c.broken is None]
        if a.replace:
            for _ in range(a.conns - len(live)):
                open_conn(a, start - t0, conns)
            live = [c for c in conns if c.broken is None]
        for c in live:
            try:
                c.sock.send(b"ping\n")
            except OSError as e:
                c.fail(time.time() - t0, f"error: {e.strerror}")
        read_answers([c for c in live if c.broken is None], t0, a.silent, start + max(a.interval, 0.3))
        rounds += 1
        doc = {"start": t0, "rounds": rounds, "t": start - t0, "conns": [c.doc() for c in conns]}
        with open(a.out + ".tmp", "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(a.out + ".tmp", a.out)
        time.sleep(max(0.0, start + a.interval - time.time()))
    alive = sum(c.broken is None for c in conns)
    print(f"tcp_hold: {len(conns)} connections, {alive} alive after {rounds} rounds", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
