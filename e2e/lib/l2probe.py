# SPDX-License-Identifier: GPL-2.0-or-later
"""Watching who answers ARP/NDP for an address from the `client` namespace:
shared by e2e/test_l2.py and bench/l2_failover.py. `c` is conftest's
Cluster (exec, macs: {LAN MAC: node name})."""
import json
import re
import subprocess
import sys
import time

CLIENT_IP = "192.0.2.100"

ARPING_LINE = re.compile(r"bytes from ([0-9a-fA-F:]{17}) \(([^)]*)\): index=(\d+)")


def node_macs(c, nodes):
    """{LAN MAC: node} of node1..nodeN."""
    out = {}
    for k in range(1, nodes + 1):
        mac = c.exec("node%d" % k, "cat", "/sys/class/net/eth0/address").stdout.strip()
        out[mac.lower()] = "node%d" % k
    return out


def arping(c, ip, count=3, interval=0.2):
    """[(index, mac)] of every reply arping saw from client."""
    p = c.exec("client", "arping", "-I", "eth0", "-c", str(count), "-W", str(interval), ip,
               check=False, timeout=count * interval + 20)
    return [(int(m.group(3)), m.group(1).lower()) for m in ARPING_LINE.finditer(p.stdout)]


def ndisc_macs(c, ip):
    p = c.exec("client", "ndisc6", "-n", "-m", "-r", "3", "-w", "500", ip, "eth0", check=False)
    return [m.lower() for m in re.findall(r"Target link-layer address: ([0-9A-Fa-f:]{17})", p.stdout)]


def owner_by_arp(c, ip):
    macs = {m for _, m in arping(c, ip)}
    assert len(macs) == 1, "replies for %s from %s (want exactly one MAC)" % (ip, macs)
    mac = macs.pop()
    assert mac in c.macs, "%s answered by %s, no node's LAN MAC (%s)" % (ip, mac, c.macs)
    return c.macs[mac]


# One ARP request every `interval` from client's eth0 (raw socket), and every
# reply to it attributed to the request whose window it arrives in: one JSON
# line per request, [index, seconds since start, [MACs that answered]]. Two
# MACs for one request: two nodes owned the address when it arrived. The
# fourth field is the machine's monotonic clock at that moment (namespaces
# share it), to line rows up with other probes.
PROBE = r"""
import json, socket, struct, sys, time
ip, src, n, iv = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0))
mac = s.getsockname()[4]
tip = socket.inet_aton(ip)
req = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac
       + socket.inet_aton(src) + b"\x00" * 6 + tip)
s.settimeout(0.005)
t0 = time.monotonic()
for i in range(n):
    s.send(req)
    macs = set()
    while time.monotonic() < t0 + (i + 1) * iv:
        try:
            d = s.recv(128)
        except socket.timeout:
            continue
        # answers to our requests only (to us): a new owner's gratuitous
        # ARP is not a second answer
        if (len(d) >= 42 and d[20:22] == b"\x00\x02" and d[28:32] == tip and d[0:6] == mac
                and d[32:38] == mac):
            macs.add(d[22:28].hex(":"))
    now = time.monotonic()
    print(json.dumps([i, round(now - t0, 3), sorted(macs), round(now, 4)]), flush=True)
"""


class ArpWatch:
    """The probe above in the background, from client."""

    def __init__(self, ip, seconds, interval=0.05):
        self.interval = interval
        self.rows = []
        self.p = subprocess.Popen(["ip", "netns", "exec", "client", sys.executable, "-c", PROBE, ip,
                                   CLIENT_IP, str(int(seconds / interval)), str(interval)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_answered(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            line = self.p.stdout.readline()
            if not line:
                break
            self.rows.append(json.loads(line))
            if self.rows[-1][2]:
                return
        raise AssertionError("no ARP answer at all: %s %s" % (self.rows, self.p.stderr.read()))

    def stop(self):
        """End early (the probe itself ends with its count)."""
        self.p.terminate()
        return self.finish()

    def finish(self, timeout=60):
        out, err = self.p.communicate(timeout=timeout)
        self.rows += [json.loads(x) for x in out.splitlines() if x.strip()]
        assert self.rows, err
        return self.rows


def double_answers(rows):
    """Requests answered by two MACs."""
    return [r for r in rows if len(r[2]) > 1]


# Every ARP request/reply and Neighbor Solicitation/solicited Advertisement
# crossing the LAN bridge, seen once each (on the port it enters by), as
# JSON lines: ["q", time, ip, asker MAC] and ["a", time, ip, asker MAC,
# answering MAC]; gratuitous ARP and unsolicited NAs, which announce and
# answer nobody, as ["g", time, ip, sender MAC].
LAN_CAPTURE = r"""
import json, socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
def out(*x):
    print(json.dumps(x), flush=True)
while True:
    d, a = s.recvfrom(256)
    if a[2] == socket.PACKET_OUTGOING or a[0] == "br0":
        continue
    t = round(time.monotonic(), 4)
    if d[12:14] == b"\x08\x06" and len(d) >= 42:
        op, sha, spa, tha, tpa = d[20:22], d[22:28], d[28:32], d[32:38], d[38:42]
        if op == b"\x00\x01" and spa != tpa:
            out("q", t, socket.inet_ntoa(tpa), sha.hex(":"))
        elif op == b"\x00\x02" and d[0] & 1 == 0 and tha != sha:
            out("a", t, socket.inet_ntoa(spa), tha.hex(":"), sha.hex(":"))
        elif spa == tpa:
            out("g", t, socket.inet_ntoa(spa), sha.hex(":"))
    elif d[12:14] == b"\x86\xdd" and len(d) >= 78 and d[20] == 58:
        tgt = socket.inet_ntop(socket.AF_INET6, d[62:78])
        if d[54] == 135:
            out("q", t, tgt, d[6:12].hex(":"))
        elif d[54] == 136:
            mac = d[6:12]
            i = 78
            while i + 8 <= len(d) and d[i + 1]:
                if d[i] == 2:
                    mac = d[i + 2:i + 8]
                i += d[i + 1] * 8
            if d[58] & 0x40:
                out("a", t, tgt, d[0:6].hex(":"), mac.hex(":"))
            else:
                out("g", t, tgt, mac.hex(":"))
"""


class LanWatch:
    """LAN_CAPTURE in namespace `lan` for as long as it runs; doubles() is
    every request (asker, address) that two MACs answered."""

    def __init__(self):
        self.p = subprocess.Popen(["ip", "netns", "exec", "lan", sys.executable, "-c", LAN_CAPTURE],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.rows = []

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        out, err = self.p.communicate(timeout=60)
        self.rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        self.err = err
        return self.rows

    def doubles(self):
        """[(ip, asker, time of the request, {MACs})] of requests with two
        answering MACs: a reply belongs to the asker's last request for
        that address."""
        seq, macs, out = {}, {}, []
        for r in self.rows:
            key = (r[2], r[3])
            if r[0] == "q":
                seq[key] = r[1]
            elif r[0] == "a" and key in seq:
                m = macs.setdefault((key, seq[key]), set())
                m.add(r[4])
                if len(m) == 2:
                    out.append((r[2], r[3], seq[key], m))
        return out

    def answers(self):
        return sum(1 for r in self.rows if r[0] == "a")

    def gratuitous(self, since=0):
        """{MAC: [times]} of gratuitous frames after `since`."""
        out = {}
        for r in self.rows:
            if r[0] == "g" and r[1] >= since:
                out.setdefault(r[3], []).append(r[1])
        return out
