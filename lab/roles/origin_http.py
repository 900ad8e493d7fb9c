#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Origin server of the lab: a small HTTP server that records every request it serves.

Runs inside an origin node. Every request is appended to the hits file as one JSON line
(time, client address, path, the X-Edge header the edge proxy adds), which scenario checks
count: "legit traffic reached the origin" is read here, not inferred from the client.

  GET /bytes/N   N bytes of payload (throughput tests)
  GET /anything  "<origin name> ok <path>"
"""
import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 64 << 20  # /bytes/N cap: bounded responses, like every lab traffic source


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def make_handler(name, hits_path):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = f"lab-origin/{name}"

        def log_message(self, fmt, *args):
            pass  # the hits file is the log

        def do_GET(self):
            body = self._body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Origin", name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            client = self.client_address[0].removeprefix("::ffff:")
            rec = {"t": time.time(), "client": client, "path": self.path,
                   "edge": self.headers.get("X-Edge"), "for": self.headers.get("X-Forwarded-For")}
            with lock, open(hits_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

        do_HEAD = do_GET

        def _body(self):
            if self.path.startswith("/bytes/"):
                try:
                    n = min(int(self.path.split("/")[2]), MAX_BYTES)
                except ValueError:
                    n = 0
                return b"x" * n
            return f"{name} ok {self.path}\n".encode()

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--hits", required=True, help="file that gets one JSON line per request")
    a = ap.parse_args()
    open(a.hits, "a", encoding="utf-8").close()
    srv = DualStackServer(("::", a.port), make_handler(a.name, a.hits))
    print(f"origin {a.name} serving HTTP on [::]:{a.port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
