#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Long-lived UDP flows through real sockets, to see which edge serves each flow over time.

Opens FLOWS connected UDP sockets to DST:PORT (each with its own source port, so ECMP hashes
each one on its own) and sends one datagram per flow every INTERVAL seconds for DURATION
seconds. The edges' echo service answers "<edge name> <payload>", so every reply says which
edge it came from. Writes a JSON document:

  {"start": wall-clock start, "interval": s, "flows": [[[t_send, t_reply or null, "edge2"], ...], ...]}

with times relative to "start". The lab reads it to check delivery, the spread over edges and
how long the flows of a failed edge took to reach another one.
"""
import argparse
import json
import os
import select
import socket
import sys
import time

MAX_FLOWS = 1000
MAX_DURATION = 300.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--flows", type=int, default=30)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not 1 <= a.flows <= MAX_FLOWS or not 0 < a.duration <= MAX_DURATION or a.interval < 0.005:
        print(f"udp_flows: flows 1..{MAX_FLOWS}, duration up to {MAX_DURATION:.0f}s, interval >= 5 ms", file=sys.stderr)
        return 2
    fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    socks = []
    for _ in range(a.flows):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((a.dst, a.port))
        s.setblocking(False)
        socks.append(s)
    index = {s.fileno(): i for i, s in enumerate(socks)}
    events = [[] for _ in socks]      # per flow: [t_send, t_reply, edge]
    pending = [{} for _ in socks]     # per flow: seq -> event
    wall0, t0 = time.time(), time.monotonic()
    seq = 0
    next_send = t0
    end = t0 + a.duration
    while True:
        now = time.monotonic()
        if now >= next_send and now < end:
            for i, s in enumerate(socks):
                ev = [round(now - t0, 4), None, None]
                events[i].append(ev)
                pending[i][seq] = ev
                try:
                    s.send(f"{seq}".encode())
                except OSError:  # no route (being withdrawn) or unreachable: counted as lost
                    pass
            seq += 1
            next_send += a.interval
        if now >= end + 1.0:  # one second for the last replies
            break
        timeout = max(0.0, min(next_send, end + 1.0) - time.monotonic())
        r, _, _ = select.select(socks, [], [], timeout)
        for s in r:
            try:
                data = s.recv(2048)
            except OSError:
                continue
            t = round(time.monotonic() - t0, 4)
            parts = data.decode(errors="replace").split()
            if len(parts) != 2 or not parts[1].isdigit():
                continue
            ev = pending[index[s.fileno()]].pop(int(parts[1]), None)
            if ev is not None:
                ev[1], ev[2] = t, parts[0]
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"start": wall0, "interval": a.interval, "dst": a.dst, "flows": events}, f)
    os.replace(tmp, a.out)
    sent = sum(len(e) for e in events)
    got = sum(1 for e in events for x in e if x[1] is not None)
    print(json.dumps({"flows": a.flows, "sent": sent, "replies": got}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
