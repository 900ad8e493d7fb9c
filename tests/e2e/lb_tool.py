#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for tests/e2e/lb.sh: a server that names itself, and clients that count.

    lb_tool.py serve NAME PORT          every line received is answered with NAME; a request
                                        starting "GET " (a health check) gets HTTP 200, NAME
    lb_tool.py spread VIP PORT N        N short connections; prints {"s1": 12, ...}
    lb_tool.py hold VIP PORT N STATE    N long-lived connections; every 0.3 s each says
                                        "ping" and must hear its server's name back, the
                                        same one every time; STATE (JSON) is rewritten
                                        after every round, until killed
    lb_tool.py upload VIP PORT N BYTES  N connections that each send BYTES in full-sized
                                        segments, then a newline, and wait for the answer;
                                        prints {"done": n, "servers": {...}}

A connection is "broken" when it is reset, closed, or silent for 3 s, and "moved" when
another server answers on it (that would be a second server accepting a stray segment,
which TCP would not do: it never happens without a bug in the balancer's tables).
"""
import json
import os
import select
import socket
import sys
import time


def serve(name, port):
    # One dual-stack socket: IPv4 clients arrive as ::ffff:a.b.c.d.
    lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    lsock.bind(("::", port))
    lsock.listen(512)
    lsock.setblocking(False)
    conns = {}
    poll = select.poll()
    poll.register(lsock, select.POLLIN)
    reply = (name + "\n").encode()
    while True:
        for fd, ev in poll.poll():
            if fd == lsock.fileno():
                try:
                    c, _ = lsock.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                conns[c.fileno()] = c
                poll.register(c, select.POLLIN)
                continue
            c = conns[fd]
            try:
                data = c.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if data.startswith(b"GET "):  # an HTTP health check: one answer, then close
                try:
                    c.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply))
                except (BlockingIOError, ConnectionError):
                    pass
                data = b""
            if not data:
                poll.unregister(fd)
                del conns[fd]
                c.close()
                continue
            try:
                c.send(reply * data.count(b"\n"))
            except (BlockingIOError, ConnectionError):
                pass


def ask(sock, timeout=3.0):
    """Sends a ping and reads the answering server's name; None when broken."""
    try:
        sock.settimeout(timeout)
        sock.sendall(b"ping\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                return None
            buf += chunk
        return buf.decode().split()[-1]
    except OSError:
        return None


def spread(vip, port, n):
    counts = {}
    for _ in range(n):
        s = socket.create_connection((vip, port), timeout=3)
        name = ask(s) or "broken"
        counts[name] = counts.get(name, 0) + 1
        s.close()
    print(json.dumps(counts, sort_keys=True))


def upload(vip, port, n, size):
    """Packets as large as the client's MTU allows: through the tunnel they only fit once the
    client has learned the smaller MTU from the balancer's ICMP error."""
    done, servers = 0, {}
    for _ in range(n):
        s = socket.create_connection((vip, port), timeout=3)
        try:
            s.settimeout(10)
            s.sendall(b"x" * size)
            name = ask(s, timeout=10)
        except OSError:
            name = None
        s.close()
        if name:
            done += 1
            servers[name] = servers.get(name, 0) + 1
    print(json.dumps({"done": done, "servers": servers}, sort_keys=True))


def hold(vip, port, n, state):
    conns = []
    for _ in range(n):
        s = socket.create_connection((vip, port), timeout=3)
        conns.append({"sock": s, "server": ask(s), "port": s.getsockname()[1],
                      "alive": True, "moved": False, "rounds": 0})
    rounds = 0
    while True:
        rounds += 1
        ready = {}
        for c in conns:
            if not c["alive"]:
                continue
            try:
                c["sock"].sendall(b"ping\n")
                ready[c["sock"].fileno()] = c
            except OSError:
                c["alive"] = False
        deadline = time.time() + 3
        pending = dict(ready)
        bufs = {fd: b"" for fd in pending}
        while pending and time.time() < deadline:
            r, _, _ = select.select([c["sock"] for c in pending.values()], [], [],
                                    max(0, deadline - time.time()))
            for s in r:
                c = pending[s.fileno()]
                try:
                    chunk = s.recv(64)
                except OSError:
                    chunk = b""
                if not chunk:
                    c["alive"] = False
                    del pending[s.fileno()]
                    continue
                bufs[s.fileno()] += chunk
                if bufs[s.fileno()].endswith(b"\n"):
                    name = bufs[s.fileno()].decode().split()[-1]
                    c["moved"] |= name != c["server"]
                    c["rounds"] += 1
                    del pending[s.fileno()]
        for c in pending.values():
            c["alive"] = False  # silent for 3 s
        out = {"rounds": rounds,
               "conns": [{k: c[k] for k in ("server", "port", "alive", "moved", "rounds")}
                         for c in conns]}
        with open(state + ".tmp", "w") as fh:
            json.dump(out, fh)
        os.rename(state + ".tmp", state)
        time.sleep(0.3)


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif cmd == "spread":
        spread(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "upload":
        upload(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
