#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Client for e2e/test_nft_dataplane.py: N tries of one TCP connection or one
UDP request to HOST PORT, each on a new socket (a new source port, so a new
connection for conntrack). Prints one JSON line per try:
{"ok": true, "name": "pod1", "peer": "198.18.1.1"} or {"ok": false, "error": "refused"}.
Usage: nft_client.py tcp|udp HOST PORT [N] [TIMEOUT]"""
import json, socket, sys

proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
for _ in range(n):
    s = socket.socket(fam, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        if proto == 'udp':
            s.send(b'hello')
        data = s.recv(2048).decode().split()
        print(json.dumps({'ok': True, 'name': data[0], 'peer': data[1]}))
    except ConnectionRefusedError:
        print(json.dumps({'ok': False, 'error': 'refused'}))
    except socket.timeout:
        print(json.dumps({'ok': False, 'error': 'timeout'}))
    except OSError as e:
        print(json.dumps({'ok': False, 'error': e.strerror or str(e)}))
    finally:
        s.close()
    sys.stdout.flush()
