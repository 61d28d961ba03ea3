#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A pod for e2e/test_nft_dataplane.py: answers every TCP connection and UDP
datagram on PORT (both families) with "NAME PEER_ADDRESS", so a test sees
which endpoint answered and what source address reached it.
Usage: nft_podserver.py NAME PORT"""
import socket, sys, threading

NAME, PORT = sys.argv[1], int(sys.argv[2])


def peer(addr):
    a = addr[0]
    return a[7:] if a.startswith('::ffff:') else a


def sock(kind):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', PORT))
    return s


def tcp():
    s = sock(socket.SOCK_STREAM)
    s.listen(128)
    while True:
        c, addr = s.accept()
        try:
            c.sendall(f'{NAME} {peer(addr)}\n'.encode())
        finally:
            c.close()


def udp():
    s = sock(socket.SOCK_DGRAM)
    while True:
        _, addr = s.recvfrom(2048)
        s.sendto(f'{NAME} {peer(addr)}\n'.encode(), addr)


threading.Thread(target=udp, daemon=True).start()
print('ready', flush=True)
tcp()
