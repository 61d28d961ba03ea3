#!/usr/bin/env python3
"""Generate a ferry state JSON (ferry apply-state) with N Services x E endpoints.
Usage: nft_gen_state.py N E [--extra K] [--move-endpoint]
  --extra K          add K more Services after the N (one-change benchmarks)
  --move-endpoint    change the first endpoint of Service 0 (one-change benchmark)
Addresses: VIPs from 198.19.0.0/16, endpoints from 198.18.0.0/16 (RFC 2544)."""
import ipaddress, json, sys

def main():
    n, e = int(sys.argv[1]), int(sys.argv[2])
    extra = int(sys.argv[sys.argv.index('--extra') + 1]) if '--extra' in sys.argv else 0
    move = '--move-endpoint' in sys.argv
    vip0 = int(ipaddress.IPv4Address('198.19.0.0'))
    ep0 = int(ipaddress.IPv4Address('198.18.0.0'))
    svcs = []
    for s in range(n + extra):
        eps = []
        for k in range(e):
            ip = str(ipaddress.IPv4Address(ep0 + (s * e + k) % 60000 + 1))
            port = 8080 + (1 if move and s == 0 and k == 0 else 0)
            eps.append({'ip': ip, 'port': port})
        svcs.append({'key': f'ns{s % 50}/svc{s}:http/tcp', 'protocol': 'tcp', 'port': 80,
                     'clusterIPs': [str(ipaddress.IPv4Address(vip0 + s + 1))], 'endpoints': eps})
    json.dump({'node': {'nodeIPs': ['203.0.113.1'], 'podCIDRs': ['198.18.0.0/16']},
               'services': svcs}, sys.stdout)

main()
