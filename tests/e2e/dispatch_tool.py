#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Clients and an origin for tests/e2e/dispatch.sh (socket dispatch and edged-proxy).

  tcp ADDR PORT                 connect, print the first line the service sends
  udp ADDR PORT                 send one datagram from a connected socket (so a reply from
                                any other address or port is not received), print the reply
  refused ADDR PORT             exit 0 when the connection is refused (RST), 1 otherwise
  origin ADDR PORT              the proxy's origin, TCP and UDP on ADDR:PORT: parses the PROXY
                                v2 header, answers "hdr SRC SPORT DST DPORT", echoes, and at
                                the client's EOF writes "bytes N" and closes
  halfclose ADDR PORT N         send N bytes, shut down writing, print everything read
  hold ADDR PORT DIR            one connection kept open: "ping K" each time DIR/goK appears
  many NET PORT_LO PORT_HI N    N concurrent connections to random hosts of NET/25 and ports,
                                all open at once, each echoed; prints "ok N"
Checks (exit 0 when it holds, 1 otherwise; for the lab's exec steps):
  anyport tcp|udp NET N SERVICE N connections (or datagrams) to random hosts of NET and random
                                ports: each answered "SERVICE PROTO ADDR PORT" (the service saw
                                the original destination)
  expect ADDR PORT TEXT...      the first line a TCP connection gets is TEXT
  proxied ADDR PORT N           through edged-proxy: the origin's PROXY v2 header names this
                                client's address and port and ADDR PORT, and N bytes went
                                through both ways with a half-close
  proxied_udp ADDR PORT         the same for a UDP datagram
"""
import asyncio
import ipaddress
import os
import random
import socket
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def parse_pp2(data):
    """(src, sport, dst, dport, header length) of a PROXY v2 header, or None."""
    if len(data) < 16 or data[:12] != SIG or data[12] != 0x21:
        return None
    fam, length = data[13], struct.unpack("!H", data[14:16])[0]
    body = data[16:16 + length]
    if fam >> 4 == 1:
        src, dst = socket.inet_ntop(socket.AF_INET, body[0:4]), socket.inet_ntop(socket.AF_INET, body[4:8])
        sport, dport = struct.unpack("!HH", body[8:12])
    else:
        src, dst = socket.inet_ntop(socket.AF_INET6, body[0:16]), socket.inet_ntop(socket.AF_INET6, body[16:32])
        sport, dport = struct.unpack("!HH", body[32:36])
    return src, sport, dst, dport, 16 + length


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def cmd_tcp(addr, port):
    with socket.create_connection((addr, int(port)), timeout=3) as s:
        print(s.makefile().readline().strip())


def cmd_udp(addr, port):
    with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.connect((addr, int(port)))
        s.send(b"hello\n")
        print(s.recv(4096).decode().strip().splitlines()[0])


def cmd_refused(addr, port):
    try:
        socket.create_connection((addr, int(port)), timeout=3).close()
    except ConnectionRefusedError:
        sys.exit(0)
    sys.exit(1)


class Origin(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf, self.hdr, self.n = transport, b"", None, 0

    def data_received(self, data):
        if self.hdr is None:
            self.buf += data
            h = parse_pp2(self.buf)
            if h is None:
                if len(self.buf) >= 16:
                    self.t.write(b"no proxy header\n")
                    self.t.close()
                return
            self.hdr = h
            self.t.write(("hdr %s %d %s %d\n" % h[:4]).encode())
            data = self.buf[h[4]:]
        self.n += len(data)
        self.t.write(data)

    def eof_received(self):
        self.t.write(b"bytes %d\n" % self.n)
        self.t.close()


class OriginUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        h = parse_pp2(data)
        if h:
            self.t.sendto(("hdr %s %d %s %d\n" % h[:4]).encode() + data[h[4]:], addr)


def cmd_origin(addr, port):
    async def main():
        loop = asyncio.get_running_loop()
        await loop.create_server(Origin, addr, int(port), backlog=4096)
        await loop.create_datagram_endpoint(OriginUdp, local_addr=(addr, int(port)))
        print("origin ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())


def cmd_halfclose(addr, port, n):
    with socket.create_connection((addr, int(port)), timeout=5) as s:
        s.sendall(b"x" * int(n))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    # "hdr ...\n", the echo (no newline in it), then "bytes N\n" once the origin saw EOF.
    print(data.split(b"\n")[0].decode())
    print("echoed %d" % data.count(b"x"))
    print(data.rstrip(b"\n").split(b"\n")[-1].lstrip(b"x").decode())


def cmd_hold(addr, port, d):
    s = socket.create_connection((addr, int(port)), timeout=5)
    f = s.makefile("rb")
    print(f.readline().decode().strip(), flush=True)
    k = 1
    while True:
        go = os.path.join(d, "go%d" % k)
        while not os.path.exists(go):
            if os.path.exists(os.path.join(d, "stop")):
                return
            time.sleep(0.05)
        try:
            s.sendall(b"ping %d\n" % k)
            print(f.readline().decode().strip() or "closed", flush=True)
        except OSError as e:
            print("error %s" % e, flush=True)
        k += 1


def cmd_many(net, lo, hi, n):
    hosts, n = list(ipaddress.ip_network(net).hosts()), int(n)

    async def one(state):
        addr, port = str(random.choice(hosts)), random.randint(int(lo), int(hi))
        r, w = await asyncio.open_connection(addr, port)
        hdr = await r.readline()
        state["open"] += 1
        await state["go"].wait()  # every connection is open before any sends
        w.write(b"x\n")
        echo = await r.readline()
        w.close()
        return hdr.startswith(b"hdr ") and (" %s %d" % (addr, port)).encode() in hdr and echo == b"x\n"

    async def main():
        state = {"open": 0, "go": asyncio.Event()}
        tasks = [asyncio.create_task(one(state)) for _ in range(n)]
        deadline = time.time() + 60
        while state["open"] + sum(t.done() for t in tasks) < n and time.time() < deadline:
            await asyncio.sleep(0.1)
        print("open %d" % state["open"], flush=True)
        state["go"].set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        print("ok %d" % sum(1 for r in results if r is True))
    asyncio.run(main())


def _host(net):
    """A random host of NET, never the first or last (an IPv6 ::0 prints as '::')."""
    n = ipaddress.ip_network(net)
    return str(n.network_address + random.randint(1, min(n.num_addresses - 2, 1 << 30)))


def cmd_anyport(proto, net, n, service):
    bad = 0
    for _ in range(int(n)):
        addr, port = _host(net), random.randint(1, 65535)
        want = "%s %s %s %d" % (service, proto, addr, port)
        try:
            if proto == "tcp":
                with socket.create_connection((addr, port), timeout=3) as s:
                    got = s.makefile().readline().strip()
            else:
                with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
                    s.settimeout(3)
                    s.connect((addr, port))
                    s.send(b"hello\n")
                    got = s.recv(4096).decode().strip().splitlines()[0]
        except OSError as e:
            got = "error: %s" % e
        if got != want:
            bad += 1
            print("%s [%s]:%d: got %r" % (proto, addr, port, got))
    print("%d of %s answered with their original destination" % (int(n) - bad, n))
    sys.exit(1 if bad else 0)


def cmd_expect(addr, port, *text):
    try:
        with socket.create_connection((addr, int(port)), timeout=3) as s:
            got = s.makefile().readline().strip()
    except OSError as e:
        got = "error: %s" % e
    print(got)
    sys.exit(0 if got == " ".join(text) else 1)


def cmd_proxied(addr, port, n):
    with socket.create_connection((addr, int(port)), timeout=5) as s:
        me = s.getsockname()
        s.sendall(b"x" * int(n))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\n")
    hdr, last = lines[0].decode(), data.rstrip(b"\n").split(b"\n")[-1].lstrip(b"x").decode()
    want = "hdr %s %d %s %s" % (me[0], me[1], addr, port)
    print("%s; echoed %d; %s" % (hdr, data.count(b"x"), last))
    sys.exit(0 if hdr == want and data.count(b"x") == int(n) and last == "bytes %s" % n else 1)


def cmd_proxied_udp(addr, port):
    with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.connect((addr, int(port)))
        me = s.getsockname()
        s.send(b"hello\n")
        got = s.recv(4096).decode().splitlines()
    want = "hdr %s %d %s %s" % (me[0], me[1], addr, port)
    print(" | ".join(got))
    sys.exit(0 if got and got[0] == want and got[1:2] == ["hello"] else 1)


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
