#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for the egress e2e test.

  serve PORT                 TCP server on the internet host: answers every connection with
                             the address it came from ("IP PORT"), then holds it until EOF
  connect HOST PORT [SPORT] [HOLD]
                             connects (from SPORT if given), prints what the server saw,
                             keeps the connection HOLD seconds (default 0)
  refused HOST PORT          exit 0 when a connection cannot be made within 2 s
  rate HOST PORT SECONDS     connections per second (connect, read the answer, close)
  many HOST PORT N HOLD      opens N connections (2 s each to connect), holds those that
                             connected HOLD seconds, prints how many connected
"""
import socket
import sys
import threading
import time


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)

    def one(c, a):
        c.sendall(b"%s %d\n" % (a[0].encode(), a[1]))
        try:
            while c.recv(4096):
                pass
        except OSError:
            pass
        c.close()

    while True:
        c, a = s.accept()
        threading.Thread(target=one, args=(c, a), daemon=True).start()


def connect(host, port, sport=0, hold=0.0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sport:
        s.bind(("0.0.0.0", sport))
    s.settimeout(5)
    s.connect((host, port))
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(100)
        if not chunk:
            break
        line += chunk
    print(line.decode().strip(), flush=True)
    time.sleep(hold)
    s.close()


def refused(host, port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
    except OSError:
        return 0
    print("connected to %s:%d" % (host, port))
    return 1


def many(host, port, n, hold):
    held = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, port))
            held.append(s)
        except OSError:
            s.close()
    print(len(held), flush=True)
    time.sleep(hold)
    for s in held:
        s.close()


def rate(host, port, seconds):
    n = 0
    end = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < end:
        s = socket.socket()
        s.settimeout(5)
        s.connect((host, port))
        s.recv(100)
        s.close()
        n += 1
    print("%.0f" % (n / (time.monotonic() - start)), flush=True)


def main(argv):
    if argv[1] == "serve":
        serve(int(argv[2]))
    elif argv[1] == "connect":
        sport = int(argv[4]) if len(argv) > 4 else 0
        hold = float(argv[5]) if len(argv) > 5 else 0.0
        connect(argv[2], int(argv[3]), sport, hold)
    elif argv[1] == "rate":
        rate(argv[2], int(argv[3]), float(argv[4]))
    elif argv[1] == "many":
        many(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    elif argv[1] == "refused":
        return refused(argv[2], int(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
