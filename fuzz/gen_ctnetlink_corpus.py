#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeds for fuzz/ctnetlink.c: ctnetlink dump replies as the kernel sends
them (IPCTNL_MSG_CT_NEW entries, NLMSG_DONE), plus the malformed shapes the
parser must skip. Writes fuzz/corpus/ctnetlink/. Byte 0 picks the family."""
import ipaddress
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ctnetlink")
NESTED = 0x8000
CT_NEW = (1 << 8) | 0          # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW
DONE = 3                        # NLMSG_DONE
MULTI = 0x2                     # NLM_F_MULTI


def attr(t, payload, nested=False):
    a = struct.pack("=HH", 4 + len(payload), t | (NESTED if nested else 0)) + payload
    return a + b"\0" * (-len(a) % 4)


def tuple_(src, dst, proto, sport, dport):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    v6 = s.version == 6
    ip = attr(3 if v6 else 1, s.packed) + attr(4 if v6 else 2, d.packed)
    pr = attr(1, bytes([proto])) + attr(2, struct.pack(">H", sport)) + attr(3, struct.pack(">H", dport))
    return attr(1, ip, True) + attr(2, pr, True)


def entry(family, orig, reply, zone=None, extra=b""):
    body = struct.pack("=BBH", family, 0, 0)
    body += attr(1, tuple_(*orig), True) + attr(2, tuple_(*reply), True)
    if zone is not None:
        body += attr(18, struct.pack(">H", zone))
    body += extra
    return struct.pack("=IHHII", 16 + len(body), CT_NEW, MULTI, 0, 0) + body


def done():
    return struct.pack("=IHHIIi", 20, DONE, MULTI, 0, 0, 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    udp = 17
    v4 = entry(2, ("203.0.113.9", "198.19.0.10", udp, 40053, 53),
               ("198.18.1.5", "203.0.113.9", udp, 53, 40053))
    v4np = entry(2, ("203.0.113.9", "192.0.2.11", udp, 40054, 30053),
                 ("198.18.1.6", "203.0.113.9", udp, 53, 40054), zone=7)
    v4tcp = entry(2, ("203.0.113.9", "198.19.0.10", 6, 40055, 53),
                  ("198.18.1.5", "203.0.113.9", 6, 53, 40055), extra=attr(3, struct.pack(">I", 0x18e)))
    v6 = entry(10, ("2001:db8::9", "2001:db8:5e::10", udp, 40053, 53),
               ("2001:db8:1::5", "2001:db8::9", udp, 53, 40053))
    seeds = {
        "v4-service-endpoint-nodeport": b"\0" + v4 + v4np + v4tcp + done(),
        "v6-entry": b"\1" + v6 + done(),
        "v4-entry-in-v6-dump": b"\1" + v4 + done(),
        "truncated-entry": b"\0" + v4[:-7],
        "short-address": b"\0" + v4.replace(bytes([198, 19, 0, 10]), b"", 1),
        "nested-garbage": b"\0" + struct.pack("=IHHII", 32, CT_NEW, MULTI, 0, 0) +
        struct.pack("=BBH", 2, 0, 0) + attr(1, b"\xff" * 8, True),
        "error-message": b"\0" + struct.pack("=IHHIIi", 36, 2, 0, 0, 0, -1) + b"\0" * 16,
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
