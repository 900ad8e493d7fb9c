#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for tests/e2e/egress_share.sh.

    egress_share_tool.py serve PORT LOG          TCP and UDP echo on PORT; every flow's
                                                 (proto, source address, source port, tag)
                                                 appended to LOG as it starts
    egress_share_tool.py flows HOST PORT TAG N BASE
                                                 N TCP connections and N UDP exchanges, from
                                                 source ports BASE.., all open at once; prints
                                                 a JSON summary of how many completed

A flow completes when its echo comes back: the reply crossed the edges (whichever edge the
router gave it, and the one it was steered to). TCP connections stay open until every one has
its echo, so that all of them hold their SNAT port at the same time.
"""
import json
import socket
import sys
import threading
import time

TIMEOUT = 5.0  # per flow
BUDGET = 60.0  # per protocol, for all flows: a broken path fails in minutes, not hours


def serve(port, log):
    lock = threading.Lock()
    out = open(log, "a", buffering=1)

    def record(proto, addr, tag):
        with lock:
            out.write(f"{proto} {addr[0]} {addr[1]} {tag}\n")

    def tcp_conn(c, addr):
        try:
            c.settimeout(TIMEOUT * 2)
            data = c.recv(256)
            record("tcp", addr, data.decode(errors="replace").strip())
            c.sendall(data)
            c.recv(1)  # until the client closes
        except OSError:
            pass
        finally:
            c.close()

    def tcp_loop():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(1024)
        while True:
            c, addr = s.accept()
            threading.Thread(target=tcp_conn, args=(c, addr), daemon=True).start()

    def udp_loop():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", port))
        seen = set()
        while True:
            data, addr = u.recvfrom(256)
            key = (addr, data)
            if key not in seen:  # a retry is the same flow
                seen.add(key)
                record("udp", addr, data.decode(errors="replace").strip())
            u.sendto(data, addr)

    threading.Thread(target=tcp_loop, daemon=True).start()
    udp_loop()


def flows(host, port, tag, n, base):
    tcp_ok = udp_ok = 0
    conns = []
    errors = []
    deadline = time.monotonic() + BUDGET
    for i in range(n):
        if time.monotonic() > deadline:
            errors.append(f"tcp {i}..: out of time")
            break
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(TIMEOUT)
        try:
            s.bind(("0.0.0.0", base + i))
            s.connect((host, port))
            msg = f"{tag} tcp {i}\n".encode()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(256)
                if not chunk:
                    break
                got += chunk
            if got == msg:
                tcp_ok += 1
            else:
                errors.append(f"tcp {i}: echo {got!r}")
            conns.append(s)
        except OSError as e:
            errors.append(f"tcp {i}: {e}")
            s.close()
    udps = []
    for i in range(n):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", base + i))
        udps.append(u)
    budget = time.monotonic() + BUDGET
    for i, u in enumerate(udps):
        msg = f"{tag} udp {i}\n".encode()
        deadline = min(time.monotonic() + TIMEOUT, budget)
        done = False
        while not done and time.monotonic() < deadline:
            u.sendto(msg, (host, port))
            u.settimeout(1.0)
            try:
                while True:
                    data, _ = u.recvfrom(256)
                    if data == msg:
                        done = True
                        break
            except OSError:
                pass
        if done:
            udp_ok += 1
        else:
            errors.append(f"udp {i}: no echo")
    for s in conns + udps:
        s.close()
    print(json.dumps({"tag": tag, "tcp_ok": tcp_ok, "udp_ok": udp_ok, "n": n,
                      "errors": errors[:5]}))
    return 0 if tcp_ok == n and udp_ok == n else 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return 0
    if len(sys.argv) == 7 and sys.argv[1] == "flows":
        return flows(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                     int(sys.argv[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
