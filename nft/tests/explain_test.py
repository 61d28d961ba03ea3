#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`ferry explain` against the kernel, in a throw-away network namespace.

ctest runs it as `python3 explain_test.py FERRY`; it re-runs itself under
`unshare -n` (root; skipped with 77 otherwise). It applies a small state
(a dual-stack Service with two ports, Local policy, affinity, source
ranges, a NodePort, pod traffic by CIDR or by input interface; a Service whose name starts like it; one without
endpoints) and checks that the explanation names every frontend and every
endpoint of the Service asked for and nothing of the others, and that each
rule and element line it prints is text `nft list ruleset` prints too.
"""
import json, os, re, subprocess, sys, tempfile

import fresh_netns  # noqa: E402  (nft/tests/fresh_netns.py)

FERRY = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print('FAIL:', what, file=sys.stderr)
    return cond


NODE = {'nodeIPs': ['203.0.113.1', '2001:db8::1'], 'podCIDRs': ['198.18.0.0/16', '2001:db8:1::/64'],
        'nodePortAddresses': [], 'masqueradeAll': False}
CART_EPS = [{'ip': '198.18.2.2', 'port': 8080, 'local': True}, {'ip': '198.18.2.3', 'port': 8080},
            {'ip': '2001:db8:1::2:2', 'port': 8080, 'local': True}]
STATE = {'node': NODE, 'services': [
    {'key': 'shop/cart:http/tcp', 'protocol': 'tcp', 'port': 80, 'nodePort': 30090,
     'clusterIPs': ['198.19.0.20', '2001:db8:2::20'], 'externalIPs': ['203.0.113.60'],
     'loadBalancerIPs': ['203.0.113.120'], 'sourceRanges': ['198.51.100.0/24'],
     'externalTrafficPolicy': 'Local', 'affinityTimeout': 600, 'endpoints': CART_EPS},
    {'key': 'shop/cart:metrics/tcp', 'protocol': 'tcp', 'port': 9090,
     'clusterIPs': ['198.19.0.20'], 'endpoints': [{'ip': '198.18.2.2', 'port': 9100, 'local': True}]},
    # a name that starts like the one asked for, sharing an endpoint
    {'key': 'shop/carts:http/tcp', 'protocol': 'tcp', 'port': 80, 'clusterIPs': ['198.19.0.21'],
     'endpoints': [{'ip': '198.18.3.2', 'port': 8081}, {'ip': '198.18.2.2', 'port': 8082, 'local': True}]},
    {'key': 'shop/empty:dns/udp', 'protocol': 'udp', 'port': 53, 'nodePort': 30091,
     'clusterIPs': ['198.19.0.22']},
]}


def explain(name):
    p = subprocess.run([FERRY, 'explain', name], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def nft_text(line):
    """The nft part of an explanation line: after the `chain X` / `map X` /
    `set X` label column, or the whole continuation line."""
    m = re.match(r'\s+(?:(?:chain|map|set) \S+\s+)?(.*)$', line)
    return m.group(1) if m else ''


def main():
    fresh_netns.enter('FERRY_EXPLAIN_TEST_INNER')
    with tempfile.NamedTemporaryFile('w', suffix='.json') as f:
        json.dump(STATE, f)
        f.flush()
        p = subprocess.run([FERRY, 'apply-state', f.name], capture_output=True, text=True)
    check(p.returncode == 0, f'apply-state: {p.stderr[-500:]}')

    # a client the kernel would remember (as `update @affinity` does)
    # (keyed by the Service port's base, @affinity-ids' element at 0x7fffffff)
    ids = subprocess.run(['nft', 'list', 'map', 'ip', 'ferry', 'affinity-ids'],
                         capture_output=True, text=True).stdout
    m = re.search(r'198\.19\.0\.20 \. tcp \. 80 \. 0x7fffffff comment "[^"]*" : (0x[0-9a-f]+)', ids)
    base = m.group(1) if m else '0x80000000'
    check(m is not None, f'the Service port has a base in affinity-ids: {ids}')
    p = subprocess.run(['nft', f'add element ip ferry affinity {{ 198.51.100.9 . {base} '
                        'timeout 10m : 0x00000001 }'], capture_output=True, text=True)
    check(p.returncode == 0, f'affinity element added: {p.stderr}')
    rc, out, err = explain('shop/cart')
    check(rc == 0, f'explain shop/cart exits 0: {err}')
    frontends = ['198.19.0.20 . tcp . 80', '2001:db8:2::20 . tcp . 80', '203.0.113.60 . tcp . 80',
                 '203.0.113.120 . tcp . 80', 'tcp . 30090', '198.19.0.20 . tcp . 9090']
    for fe in frontends:
        check(f'  frontend {fe}\n' in out, f'frontend {fe} listed')
    for ep in (': 198.18.2.2 . 8080', ': 198.18.2.3 . 8080', ': 2001:db8:1::2:2 . 8080', ': 198.18.2.2 . 9100'):
        check(ep in out, f'endpoint {ep} listed')
    for what in ('198.51.100.0/24 comment "shop/cart:http/tcp"',	# source range
                 'chain pick-ip-2-aff600', 'chain pick-ip-local-1-aff600',	# affinity, Local
                 'update @affinity', f'map affinity               198.51.100.9 . {base} timeout 10m expires',
                 'map affinity-ids', '198.19.0.20 . tcp . 80 . 0x7fffffff',
                 'set hairpin', '198.18.2.2 . 198.18.2.2',
                 'map pick-ips-external', 'set cluster-ips', '198.19.0.20 comment "shop/cart"',
                 'comment "kind external/LB IP, policy Local'):
        check(what in out, f'explanation shows {what!r}')
    for other in ('shop/carts', '198.19.0.21', '198.18.3.2', '8082', 'shop/empty', '198.19.0.22', '30091'):
        check(other not in out, f'nothing of another Service: {other!r}')

    # every rule and element line is nft's own text
    listing = ' '.join(subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True).stdout.split())
    lines = [l for l in out.splitlines() if l.startswith('      ')]
    check(len(lines) > 30, f'explanation has lines: {len(lines)}')
    for l in lines:
        t = nft_text(l)
        if t and t != '(above)' and ' expires ' not in t:	# nft prints the time left its own way
            check(' '.join(t.split()) in listing, f'as nft lists it: {t!r}')

    # one port of it
    rc, out, err = explain('shop/cart:metrics/tcp')
    check(rc == 0 and '  frontend 198.19.0.20 . tcp . 9090\n' in out and '. tcp . 80\n' not in out
          and 'shop/cart:http/tcp' not in out, f'one port only: {out[-800:]} {err}')

    # no endpoints: the reject path
    rc, out, err = explain('shop/empty')
    check(rc == 0 and 'frontend without endpoints 198.19.0.22 . udp . 53' in out
          and 'frontend without endpoints udp . 30091' in out and 'chain reject-service' in out
          and 'shop/cart' not in out, f'no endpoints: {out[-800:]} {err}')

    # pod traffic told by the input interface: shown as nft shows it
    for iface, prefix, text in (('cni0', False, 'iifname "cni0"'), ('veth', True, 'iifname "veth*"')):
        node = dict(NODE, podInterface=iface, podInterfacePrefix=prefix)
        with tempfile.NamedTemporaryFile('w', suffix='.json') as f:
            json.dump(dict(STATE, node=node), f)
            f.flush()
            p = subprocess.run([FERRY, 'apply-state', f.name], capture_output=True, text=True)
        check(p.returncode == 0, f'apply-state with podInterface {iface}: {p.stderr[-500:]}')
        rc, out, err = explain('shop/cart')
        listing = ' '.join(subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True).stdout.split())
        check(rc == 0 and text in out and text in listing and '@pod-cidrs' not in out,
              f'explanation shows {text}: {err} {out[-800:]}')

    rc, out, err = explain('shop/nothing')
    check(rc == 1 and 'shop/nothing' in err, f'unknown Service: exit 1 ({rc}) {err}')
    rc, out, err = explain('nonsense')
    check(rc == 2, f'bad argument: usage, exit 2 ({rc})')

    print(f'explain_test: {failures} failed')
    sys.exit(1 if failures else 0)


main()
