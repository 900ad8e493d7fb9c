#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The service an edge node offers on its anycast addresses (the lab's stand-in for the proxy
that runs on every server of the fleet).

  HTTP :80   reverse proxy to the origin; adds "X-Edge: <node>" to the request it forwards
             and to the response, so both the client and the origin see which edge served
  TCP  :7    echo, each line answered as "<node> <line>"
  UDP  :7    echo, each datagram answered as "<node> <payload>"

It binds to the service addresses (VIPs) inside the anycast prefixes, which are local on the
edge through `ip route add local PREFIX dev lo` (AnyIP). IP_FREEBIND lets it bind to an IPv6
VIP that is covered by such a route but not configured on an interface.

Without --origin it is echo only, on --echo-port (repeat; default 7): the transit scenario
runs it as a customer's host behind a customer site.
"""
import argparse
import http.client
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IP_FREEBIND = 15  # <linux/in.h>; honoured by IPv6 sockets too
ORIGIN_TIMEOUT = 5.0


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def freebind(sock):
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)


def make_proxy(name, origins):
    class Proxy(BaseHTTPRequestHandler):
        server_version = f"lab-edge/{name}"

        def log_message(self, fmt, *args):
            print(f"{self.client_address[0]} {self.command} {self.path}", flush=True)

        def do_GET(self):
            client = self.client_address[0]
            origin = origins.get(6 if ":" in client else 4) or next(iter(origins.values()))
            try:
                conn = http.client.HTTPConnection(origin[0], origin[1], timeout=ORIGIN_TIMEOUT)
                conn.request(self.command, self.path, headers={
                    "Host": self.headers.get("Host", "origin"), "X-Edge": name, "X-Forwarded-For": client,
                    "Connection": "close"})
                resp = conn.getresponse()
                body = resp.read()
                status, origin_name = resp.status, resp.getheader("X-Origin", "?")
                conn.close()
            except OSError as e:
                body, status, origin_name = f"{name}: origin {origin[0]} unreachable: {e}\n".encode(), 502, "-"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Edge", name)
            self.send_header("X-Origin", origin_name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

    return Proxy


def http_server(vip, name, origins):
    class Server(ThreadingHTTPServer):
        address_family = family(vip)
        daemon_threads = True
        request_queue_size = 128

        def server_bind(self):
            freebind(self.socket)
            super().server_bind()

    return Server((vip, 80), make_proxy(name, origins))


def tcp_echo(vip, name, port=7):
    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(f"{name} ".encode() + line)

    class Server(socketserver.ThreadingTCPServer):
        address_family = family(vip)
        daemon_threads = True
        allow_reuse_address = True

        def server_bind(self):
            freebind(self.socket)
            super().server_bind()

    return Server((vip, port), Echo)


def udp_echo(vip, name, port=7):
    s = socket.socket(family(vip), socket.SOCK_DGRAM)
    freebind(s)
    s.bind((vip, port))
    prefix = f"{name} ".encode()
    while True:
        try:
            data, peer = s.recvfrom(2048)
            s.sendto(prefix + data, peer)
        except OSError:  # e.g. EPERM while a failure test drops our output: keep serving
            continue


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--vip", action="append", required=True, help="service address (repeat)")
    ap.add_argument("--origin", action="append", default=[], help="origin ADDR (repeat: one per family)")
    ap.add_argument("--origin-port", type=int, default=80)
    ap.add_argument("--echo-port", type=int, action="append", help="echo port (repeat; default 7)")
    a = ap.parse_args()
    ports = a.echo_port or [7]
    origins = {6 if ":" in o else 4: (o, a.origin_port) for o in a.origin}
    threads = []
    for vip in a.vip:
        if origins:
            threads.append(threading.Thread(target=http_server(vip, a.name, origins).serve_forever, daemon=True))
        for port in ports:
            threads.append(threading.Thread(target=tcp_echo(vip, a.name, port).serve_forever, daemon=True))
            threads.append(threading.Thread(target=udp_echo, args=(vip, a.name, port), daemon=True))
    for t in threads:
        t.start()
    print(f"edge service {a.name} on {', '.join(a.vip)} (http:80 -> {origins}, echo tcp/udp:{','.join(map(str, ports))})", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
