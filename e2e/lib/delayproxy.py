#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Adds latency to TCP streams: what netem would do, for a kernel built
without sch_netem. `e2e/cluster api latency NODE MS` redirects that node's
apiserver connections here (nft redirect in the control plane's namespace);
every chunk from the apiserver to the node is held MS milliseconds, order kept.

  delayproxy.py LISTEN_PORT TARGET_HOST:PORT DELAY_MS
"""
import collections
import socket
import sys
import threading
import time


def forward(src, dst, delay):
    q = collections.deque()
    cv = threading.Condition()
    done = [False]

    def reader():
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with cv:
                    q.append((time.monotonic() + delay, data))
                    cv.notify()
        except OSError:
            pass
        with cv:
            done[0] = True
            cv.notify()

    threading.Thread(target=reader, daemon=True).start()
    try:
        while True:
            with cv:
                while not q and not done[0]:
                    cv.wait()
                if not q:
                    break
                due, data = q.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    port, target, ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    host, tport = target.rsplit(":", 1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection((host, int(tport)), timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            continue
        threading.Thread(target=forward, args=(u, c, ms / 1000.0), daemon=True).start()
        threading.Thread(target=forward, args=(c, u, 0.0), daemon=True).start()


if __name__ == "__main__":
    main()
