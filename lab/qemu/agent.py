#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The lab's way into a QEMU guest: an agent in the guest and its two host-side clients.

The guest's management NIC is a point-to-point link to the guest node's own lab namespace
(nothing else is on it, and nothing routes beyond it). The agent listens there on TCP; the
host side runs inside that namespace.

  agent.py serve ADDR:PORT                   in the guest (started by lab/qemu/init)
  agent.py ping ADDR:PORT [--wait S]         host: exits 0 once the agent answers
  agent.py exec ADDR:PORT [--cwd D] -- ARGV  host: runs ARGV in the guest; its stdout, stderr
                                             and exit status become this process's own
  agent.py bridge ADDR:PORT HOST=GUEST...    host: each unix socket HOST on the host is
                                             forwarded to the unix socket GUEST in the guest
                                             (edged's control socket, BIRD's)

A connection starts with one JSON line from the client: {"op": "ping"}, {"op": "exec",
"argv": [...], "cwd": ..., "env": {...}} or {"op": "connect", "path": ...}. `connect` is
answered with one JSON line, then bytes flow both ways untouched (half-closes passed on).
`exec` then carries frames, a type byte and a 4-byte big-endian length before the payload:

  client -> agent   i: stdin bytes (empty: end of stdin)   s: deliver signal N (ASCII); the
                    client forwards SIGTERM, SIGINT and SIGHUP, and SIGUSR2 as SIGKILL
  agent -> client   o: stdout bytes   e: stderr bytes   x: exit status (ASCII; -N: signal N)
                    E: the command could not start (message)

A client that goes away takes its command with it: the agent sends the process group SIGTERM,
then SIGKILL after KILL_GRACE seconds. That is how `lab down`, a timeout or a Ctrl-C on the
host stops what runs in the guest, and why every guest process the lab starts has a host
process (this client) in the run's process records.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

FRAME = struct.Struct(">cI")
KILL_GRACE = 3.0        # SIGTERM -> SIGKILL for a command whose client went away
CONNECT_TIMEOUT = 5.0   # an agent that does not accept within this is hung (or not up yet)
SIGNAL_GRACE = 10.0     # host: after forwarding a signal, how long the guest command may take


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_line(sock, limit=65536):
    buf = b""
    while not buf.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            return None
        buf += c
        if len(buf) > limit:
            return None
    return buf


class Framed:
    """Frames over a socket; sends from several threads are serialized."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, kind, data=b""):
        with self.lock:
            self.sock.sendall(FRAME.pack(kind, len(data)) + data)

    def recv(self):
        """(kind, payload), or (None, None) when the connection ended (or was closed under us
        once the command's answer had gone out)."""
        try:
            return self._recv()
        except OSError:
            return None, None

    def _recv(self):
        head = recv_exact(self.sock, FRAME.size)
        if head is None:
            return None, None
        kind, n = FRAME.unpack(head)
        data = recv_exact(self.sock, n) if n else b""
        if data is None:
            return None, None
        return kind, data


# ============================================================================ guest: the agent
def serve(addr):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(parse_addr(addr))
    srv.listen(64)
    print(f"lab-agent: listening on {addr}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def handle(conn):
    try:
        line = recv_line(conn)
        if line is None:
            return
        req = json.loads(line)
        op = req.get("op")
        if op == "ping":
            with open("/proc/uptime", encoding="ascii") as f:
                up = float(f.read().split()[0])
            conn.sendall((json.dumps({"ok": True, "uptime": up, "release": os.uname().release}) + "\n").encode())
        elif op == "exec":
            run_exec(conn, req)
        elif op == "connect":
            run_connect(conn, req)
        else:
            conn.sendall(b'{"ok": false, "error": "unknown op"}\n')
    except (OSError, ValueError) as e:
        print(f"lab-agent: connection failed: {e}", file=sys.stderr, flush=True)
    finally:
        conn.close()


def _pump_out(pipe, framed, kind):
    try:
        while True:
            data = os.read(pipe.fileno(), 65536)
            if not data:
                break
            framed.send(kind, data)
    except OSError:
        pass


def run_exec(conn, req):
    framed = Framed(conn)
    env = dict(os.environ)
    env.update(req.get("env") or {})
    try:
        p = subprocess.Popen(req["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=req.get("cwd") or "/", env=env, start_new_session=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        framed.send(b"E", f"cannot run {req.get('argv')}: {e}".encode())
        return
    gone = threading.Event()  # the client went away: its command goes too

    def from_client():
        stdin_open = True
        while True:
            kind, data = framed.recv()
            if kind is None:
                gone.set()
                break
            if kind == b"i" and stdin_open:
                try:
                    if data:
                        p.stdin.write(data)
                        p.stdin.flush()
                    else:
                        p.stdin.close()
                        stdin_open = False
                except OSError:
                    stdin_open = False
            elif kind == b"s":
                try:
                    os.kill(p.pid, int(data))
                except (OSError, ValueError):
                    pass
        if gone.is_set() and p.poll() is None:
            _kill_group(p)

    outs = [threading.Thread(target=_pump_out, args=(p.stdout, framed, b"o"), daemon=True),
            threading.Thread(target=_pump_out, args=(p.stderr, framed, b"e"), daemon=True)]
    for t in outs:
        t.start()
    threading.Thread(target=from_client, daemon=True).start()
    rc = p.wait()
    # A command that left a background child holding its stdout must not hold the answer.
    for t in outs:
        t.join(timeout=1.0)
    if not gone.is_set():
        try:
            framed.send(b"x", str(rc).encode())
        except OSError:
            pass


def _kill_group(p):
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 1.0)):
        try:
            os.killpg(p.pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is not None:
            return


def _splice(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def splice_both(a, b):
    t = threading.Thread(target=_splice, args=(b, a), daemon=True)
    t.start()
    _splice(a, b)
    t.join()


def run_connect(conn, req):
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        u.connect(req["path"])
    except (OSError, KeyError, TypeError) as e:
        conn.sendall((json.dumps({"ok": False, "error": f"{req.get('path')}: {e}"}) + "\n").encode())
        u.close()
        return
    conn.sendall(b'{"ok": true}\n')
    try:
        splice_both(conn, u)
    finally:
        u.close()


# ============================================================================ host: the clients
def connect(addr, req, timeout=CONNECT_TIMEOUT):
    s = socket.create_connection(parse_addr(addr), timeout=timeout)
    # A guest that is killed sends no FIN: keepalives end the connection within about 11 s
    # instead of never.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    s.sendall((json.dumps(req) + "\n").encode())
    s.settimeout(None)
    return s


def cmd_ping(addr, wait):
    deadline = time.monotonic() + wait
    while True:
        try:
            s = connect(addr, {"op": "ping"}, timeout=2.0)
            s.settimeout(5.0)
            line = recv_line(s)
            s.close()
            if line:
                print(line.decode().strip())
                return 0
        except OSError as e:
            err = e
        else:
            err = "no answer"
        if time.monotonic() >= deadline:
            print(f"agent.py: no agent answers at {addr}: {err}", file=sys.stderr)
            return 1
        time.sleep(0.2)


def cmd_exec(addr, argv, cwd=None):
    try:
        s = connect(addr, {"op": "exec", "argv": argv, "cwd": cwd})
    except OSError as e:
        print(f"agent.py: no agent answers at {addr}: {e} (is the guest up? see its console log)",
              file=sys.stderr)
        return 255
    framed = Framed(s)
    forwarded = []

    def on_signal(signum, frame):
        if forwarded:  # a second signal: stop waiting for the guest
            os._exit(128 + signum)
        forwarded.append(signum)
        # SIGKILL cannot be caught here: SIGUSR2 stands for it ("kill the guest command hard").
        guest_sig = signal.SIGKILL if signum == signal.SIGUSR2 else signum
        try:
            framed.send(b"s", str(int(guest_sig)).encode())
        except OSError:
            os._exit(128 + signum)
        # The guest command gets SIGNAL_GRACE seconds to end; a hung guest does not hold us.
        timer = threading.Timer(SIGNAL_GRACE, lambda: os._exit(128 + signum))
        timer.daemon = True  # it must not keep the client alive once the command has ended
        timer.start()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
        signal.signal(sig, on_signal)

    def stdin_pump():
        try:
            while True:
                data = os.read(0, 65536)
                if not data:
                    break
                framed.send(b"i", data)
            framed.send(b"i", b"")
        except OSError:
            pass

    threading.Thread(target=stdin_pump, daemon=True).start()
    while True:
        kind, data = framed.recv()
        if kind is None:
            print(f"agent.py: the guest at {addr} closed the connection before the command ended",
                  file=sys.stderr)
            return 255
        if kind == b"o":
            os.write(1, data)
        elif kind == b"e":
            os.write(2, data)
        elif kind == b"E":
            print(f"agent.py: {data.decode(errors='replace')}", file=sys.stderr)
            return 127
        elif kind == b"x":
            rc = int(data)
            return rc if rc >= 0 else 128 - rc


def cmd_bridge(addr, maps):
    servers = []
    for m in maps:
        host_path, _, guest_path = m.partition("=")
        if os.path.exists(host_path):
            os.unlink(host_path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(host_path)
        os.chmod(host_path, 0o600)  # like edged's own socket: root only
        srv.listen(32)
        servers.append((srv, host_path, guest_path))
        print(f"bridge: {host_path} -> guest {guest_path} (agent {addr})", flush=True)

    def serve_one(srv, guest_path):
        while True:
            c, _ = srv.accept()
            threading.Thread(target=forward, args=(c, guest_path), daemon=True).start()

    def forward(c, guest_path):
        try:
            g = connect(addr, {"op": "connect", "path": guest_path})
            g.settimeout(10.0)
            answer = recv_line(g)
            g.settimeout(None)
            if not answer or not json.loads(answer).get("ok"):
                print(f"bridge: guest {guest_path}: {answer!r}", flush=True)
                return
            splice_both(c, g)
            g.close()
        except (OSError, ValueError) as e:
            print(f"bridge: guest {guest_path}: {e}", flush=True)
        finally:
            c.close()

    def stop(signum, frame):
        for _, p, _ in servers:
            try:
                os.unlink(p)
            except OSError:
                pass
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    for srv, _, gp in servers:
        threading.Thread(target=serve_one, args=(srv, gp), daemon=True).start()
    while True:
        signal.pause()


def main(argv):
    usage = "usage: agent.py serve ADDR:PORT | ping ADDR:PORT [--wait S] | exec ADDR:PORT [--cwd D] -- ARGV... " \
            "| bridge ADDR:PORT HOST_SOCKET=GUEST_SOCKET..."
    if len(argv) < 2:
        print(usage, file=sys.stderr)
        return 2
    cmd, addr, rest = argv[0], argv[1], argv[2:]
    if cmd == "serve":
        serve(addr)
    elif cmd == "ping":
        wait = float(rest[1]) if rest[:1] == ["--wait"] else 0.0
        return cmd_ping(addr, wait)
    elif cmd == "exec":
        cwd = None
        if rest[:1] == ["--cwd"]:
            cwd, rest = rest[1], rest[2:]
        if rest[:1] != ["--"] or len(rest) < 2:
            print(usage, file=sys.stderr)
            return 2
        return cmd_exec(addr, rest[1:], cwd)
    elif cmd == "bridge" and rest:
        cmd_bridge(addr, rest)
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
