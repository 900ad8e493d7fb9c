#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""TCP and UDP echo for the transit e2e test.

  transit_tool.py serve ADDR PORT...      echo TCP and UDP on each PORT of ADDR, forever
  transit_tool.py tcp ADDR PORT [SIZE]    exit 0 when SIZE bytes (default 5) come back in 3 s
  transit_tool.py udp ADDR PORT           exit 0 when a datagram comes back in 2 s
"""
import socket
import sys
import threading


def bound(addr, port, kind):
    """A socket of KIND on ADDR:PORT; an IPv6 one leaves IPv4 to the IPv4 socket."""
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ":" in addr:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    return s


def serve_tcp(addr, port):
    s = bound(addr, port, socket.SOCK_STREAM)
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def echo(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)


def serve_udp(addr, port):
    s = bound(addr, port, socket.SOCK_DGRAM)
    while True:
        d, peer = s.recvfrom(65536)
        s.sendto(d, peer)


def tcp(addr, port, size):
    data = bytes(i % 251 for i in range(size))
    s = socket.create_connection((addr, port), timeout=3)
    s.sendall(data)
    got = b""
    while len(got) < size:
        d = s.recv(65536)
        if not d:
            break
        got += d
    return got == data


def udp(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"ping", (addr, port))
    return s.recvfrom(100)[0] == b"ping"


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "serve":
        for p in sys.argv[3:]:
            threading.Thread(target=serve_tcp, args=(addr, int(p)), daemon=True).start()
            threading.Thread(target=serve_udp, args=(addr, int(p)), daemon=True).start()
        print("ready", flush=True)
        threading.Event().wait()
    try:
        if cmd == "tcp":
            ok = tcp(addr, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 5)
        else:
            ok = udp(addr, int(sys.argv[3]))
    except OSError as e:
        print(f"{cmd} {addr}: {e}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
