#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A TCP forwarder from a root-namespace loopback port into a network
namespace: the e2e control plane lives in its own namespace on the test LAN,
and this lets kubectl and the tests reach it from the root namespace without
giving the root namespace any address on the test LAN.

  fwd.py LISTEN_HOST:PORT NETNS TARGET_HOST:PORT
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    lhost, lport = sys.argv[1].rsplit(":", 1)
    netns = sys.argv[2]
    thost, tport = sys.argv[3].rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, int(lport)))
    ls.listen(128)
    # Sockets keep the namespace they were made in: the listener stays in the
    # root namespace, every socket made after setns() is in NETNS.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open("/run/netns/" + netns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit("fwd: setns %s: %s" % (netns, os.strerror(ctypes.get_errno())))
    os.close(fd)
    print("fwd: %s -> %s in %s" % (sys.argv[1], sys.argv[3], netns), flush=True)
    while True:
        c, _ = ls.accept()
        try:
            t = socket.create_connection((thost, int(tport)), timeout=10)
            t.settimeout(None)
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
