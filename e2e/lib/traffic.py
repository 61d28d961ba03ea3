# SPDX-License-Identifier: GPL-2.0-or-later
"""Client traffic from the `client` namespace, counted: a GET loop whose
every request is reported, and the longest gap between answers. Shared by
bench/l2_failover.py and the e2e tests that must lose no request (the
migrations)."""
import json
import subprocess
import sys
import threading

from conftest import Cluster

# An HTTP GET every `iv` seconds, each on its own non-blocking connection,
# `n` of them (timeout `tmo`, to port argv[5], default 80); one JSON line per
# finished GET: [index, sent, done, ok] on the machine's monotonic clock.
LOOP = r"""
import json, selectors, socket, sys, time
ip, n, iv, tmo = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
port = int(sys.argv[5]) if len(sys.argv) > 5 else 80
sel = selectors.DefaultSelector()
req = b"GET / HTTP/1.0\r\nHost: " + ip.encode() + b"\r\n\r\n"
t0 = time.monotonic()
i, live = 0, {}

def done(s, ok):
    k, sent = live.pop(s)
    sel.unregister(s)
    s.close()
    print(json.dumps([k, round(sent, 4), round(time.monotonic(), 4), ok]), flush=True)

while i < n or live:
    now = time.monotonic()
    if i < n and now >= t0 + i * iv:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((ip, port))
        live[s] = (i, now)
        sel.register(s, selectors.EVENT_WRITE, "connect")
        i += 1
    for key, _ in sel.select(max(0.0, t0 + i * iv - time.monotonic()) if i < n else 0.05):
        s = key.fileobj
        if key.data == "connect":
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                done(s, False)
                continue
            try:
                s.send(req)
            except OSError:
                done(s, False)
                continue
            sel.modify(s, selectors.EVENT_READ, "read")
        else:
            try:
                d = s.recv(64)
            except OSError:
                d = b""
            done(s, d.startswith(b"HTTP/1"))
    now = time.monotonic()
    for s in [s for s, (k, sent) in live.items() if now - sent > tmo]:
        done(s, False)
"""


class Lines(threading.Thread):
    """A probe in client: its JSON lines, read as they come."""

    def __init__(self, argv, where="client"):
        super().__init__(daemon=True)
        self.p = subprocess.Popen(Cluster.exec_argv(where, *argv), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.rows = []
        self.start()

    def run(self):
        for line in self.p.stdout:
            if line.strip():
                self.rows.append(json.loads(line))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait(timeout=30)
        self.join(timeout=10)
        return self.rows


def longest_gap(times, start, end):
    """Longest interval between consecutive times within [start, end],
    counting the edges: silence up to `end` counts as a gap."""
    ts = [start] + sorted(t for t in times if start <= t <= end) + [end]
    return max(b - a for a, b in zip(ts, ts[1:]))


def failures(rows):
    """The GETs that got no HTTP answer."""
    return [r for r in rows if not r[3]]


def get_loop(ip, seconds, interval=0.02, timeout=3, port=80, where="client"):
    """Start the GET loop from namespace `where` against ip:port for
    `seconds`; .stop() returns its rows."""
    n = int(seconds / interval)
    return Lines([sys.executable, "-c", LOOP, ip, str(n), str(interval), str(timeout), str(port)], where)
