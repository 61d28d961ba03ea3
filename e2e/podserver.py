#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The e2e pods' application: on every --port, TCP and UDP, IPv4 and IPv6.

HTTP  GET /         -> "Hello MyApp | Version: v2 | Pod Name: <name>"
      GET /clientip -> the source address this pod sees
      GET /hold?s=N -> answers after N seconds (long-lived connections)
UDP   any datagram  -> "<name> <source address> <datagram>"
      "serverport"  -> "<name> <source address> serverport:<the port it came to>"
"""
import argparse
import http.server
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

NAME = "unknown"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/clientip":
            body = self.client_address[0]
        elif u.path == "/hold":
            q = urllib.parse.parse_qs(u.query)
            time.sleep(min(float(q.get("s", ["1"])[0]), 600))
            body = "held %s" % NAME
        elif u.path == "/hostname":
            body = NAME
        else:
            body = "Hello MyApp | Version: v2 | Pod Name: %s" % NAME
        data = (body + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


class TCP4(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TCP6(TCP4):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


def udp_echo(family, port):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    while True:
        data, src = s.recvfrom(65535)
        if data.strip() == b"serverport":       # which target port a flow reached
            data = b"serverport:%d" % port
        s.sendto(("%s %s " % (NAME, src[0])).encode() + data, src)


def main():
    global NAME
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, action="append", default=[])
    a = ap.parse_args()
    NAME = a.name
    servers = []
    for port in a.port or [80]:
        servers.append(TCP4(("0.0.0.0", port), Handler))
        try:
            servers.append(TCP6(("::", port), Handler))
        except OSError:
            pass  # no IPv6 in this pod
        threading.Thread(target=udp_echo, args=(socket.AF_INET, port), daemon=True).start()
        try:
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
            threading.Thread(target=udp_echo, args=(socket.AF_INET6, port), daemon=True).start()
        except OSError:
            pass
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("podserver %s listening on %s" % (NAME, a.port or [80]), flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    sys.exit(main())
