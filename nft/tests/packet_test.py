#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Packets through ferry's ruleset in throw-away network namespaces.

ctest runs it as `python3 packet_test.py FERRY`; it re-runs itself under
`unshare -n` (root; skipped with 77 otherwise). That namespace is the node;
two children made with `unshare -n sleep` are a client (192.0.2.2, veth to
the node's 192.0.2.1) and a pod (198.51.100.10, veth to 198.51.100.1).
The Service 203.0.113.10:80/tcp (Service CIDR 203.0.113.0/24) leads to the
pod's port 8080. An observer table `ip obs` plays a CNI that marks packets
before ferry (bit 0x100) and counts what leaves after ferry.

Tests:
- marks: a new Service connection, forwarded and from the node itself,
  leaves with the packet mark it arrived with (ferry's scratch is put back);
  the masquerade bit is the ct mark bit masqueradeBit says;
- service CIDR: a new connection to an address of the Service CIDR that no
  Service holds is dropped (forwarded and from the node), a ClusterIP on a
  port it lacks is refused;
- invalid: a stray TCP ACK for no connection (nf_conntrack_tcp_loose=0) is
  INVALID to conntrack and dropped in filter-forward;
- affinity (ClientIP, the pod's port 8081 answers with the address it was
  reached on, the pod holds 198.51.100.5-7 and .10-.11 too): every new
  connection refreshes the remembered client's timeout; the Service port's
  external IP keeps the client on the endpoint its ClusterIP gave (one
  element per client and Service port); a remembered
  endpoint no longer listed is replaced by the next pick, which is then
  remembered; endpoints added before the remembered one (its index moves)
  keep the client on it; a full rebuild (a new process: ferry's restart)
  keeps the remembered clients.
"""
import json, os, re, socket, struct, subprocess, sys, tempfile, time

import fresh_netns  # noqa: E402  (nft/tests/fresh_netns.py)

FERRY = sys.argv[1] if len(sys.argv) > 1 else 'ferry'
TMP = tempfile.mkdtemp(prefix='ferry-pkt-')
failures = 0
children = {}


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print('FAIL:', what, file=sys.stderr)
    return cond


def sh(cmd, ns=None, check_rc=True, **kw):
    if ns:
        cmd = ['nsenter', '-t', str(children[ns].pid), '-n', *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check_rc and p.returncode:
        raise RuntimeError(f'{cmd}: {p.stderr}')
    return p


def child(name):
    children[name] = subprocess.Popen(['unshare', '-n', 'sleep', '600'])
    time.sleep(0.2)


def setup():
    sh(['ip', 'link', 'set', 'lo', 'up'])
    for name, node_if, node_ip, ip in (('client', 'vc', '192.0.2.1', '192.0.2.2'),
                                       ('pod', 'vp', '198.51.100.1', '198.51.100.10')):
        child(name)
        sh(['ip', 'link', 'add', node_if, 'type', 'veth', 'peer', 'name', 'eth0'])
        sh(['ip', 'link', 'set', 'eth0', 'netns', str(children[name].pid)])
        sh(['ip', 'addr', 'add', node_ip + '/24', 'dev', node_if])
        sh(['ip', 'link', 'set', node_if, 'up'])
        sh(['ip', 'link', 'set', 'lo', 'up'], ns=name)
        sh(['ip', 'addr', 'add', ip + '/24', 'dev', 'eth0'], ns=name)
        sh(['ip', 'link', 'set', 'eth0', 'up'], ns=name)
        sh(['ip', 'route', 'add', 'default', 'via', node_ip], ns=name)
    sh(['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    # Without ferry's drop, unallocated Service addresses would go this way.
    sh(['ip', 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.10'])
    # The pod answers on 8080.
    children['server'] = subprocess.Popen(
        ['nsenter', '-t', str(children['pod'].pid), '-n', sys.executable, '-c',
         'import socket\n'
         's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
         's.bind(("0.0.0.0", 8080)); s.listen(64)\n'
         'while True:\n'
         '    c, a = s.accept(); c.sendall(b"hi"); c.close()\n'])
    # 8081 tells which of the pod's addresses (endpoints) was reached.
    for last in (5, 6, 7, 11):
        sh(['ip', 'addr', 'add', f'198.51.100.{last}/24', 'dev', 'eth0'], ns='pod')
    children['who'] = subprocess.Popen(
        ['nsenter', '-t', str(children['pod'].pid), '-n', sys.executable, '-c',
         'import socket\n'
         's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
         's.bind(("0.0.0.0", 8081)); s.listen(64)\n'
         'while True:\n'
         '    c, a = s.accept(); c.sendall(c.getsockname()[0].encode()); c.close()\n'])
    time.sleep(0.3)


def state(masq_bit=14):
    return {
        'node': {'nodeIPs': ['192.0.2.1'], 'podCIDRs': ['198.51.100.0/24'],
                 'nodePortAddresses': [], 'masqueradeAll': False,
                 'serviceCIDRs': ['203.0.113.0/24'], 'masqueradeBit': masq_bit},
        'services': [{
            'key': 'default/web:http/tcp', 'protocol': 'tcp', 'port': 80,
            'clusterIPs': ['203.0.113.10'],
            'endpoints': [{'ip': '198.51.100.10', 'port': 8080, 'local': True}]}]}


def apply(st):
    path = os.path.join(TMP, 'state.json')
    with open(path, 'w') as f:
        json.dump(st, f)
    p = sh([FERRY, 'apply-state', path], check_rc=False)
    return check(p.returncode == 0, f'apply-state: {p.stderr}')


OBS = '''
table ip obs {
	chain pre {
		type filter hook prerouting priority -150;
		ip daddr 203.0.113.0/24 meta mark set meta mark | 0x100
		ip daddr 203.0.113.0/24 ct mark set ct mark | 0x200
	}
	chain out {
		type route hook output priority -150;
		ip daddr 203.0.113.0/24 meta mark set meta mark | 0x100
		ip daddr 203.0.113.0/24 ct mark set ct mark | 0x200
	}
	chain forward {
		type filter hook forward priority 200;
		ip daddr 203.0.113.99 counter comment "fwd-unallocated"
		tcp dport 9999 counter comment "fwd-stray-ack"
	}
	chain postrouting {
		type filter hook postrouting priority 200;
		ip daddr 198.51.100.10 tcp dport 8080 ct state new meta mark 0x100 counter comment "mark-kept"
		ip daddr 198.51.100.10 tcp dport 8080 ct state new meta mark != 0x100 counter comment "mark-lost"
		ip daddr 198.51.100.10 tcp dport 8080 ct state new ct mark & 0x4200 == 0x200 counter comment "ctmark-kept"
		ip daddr 203.0.113.99 counter comment "out-unallocated"
	}
}
'''


def counters():
    out = sh(['nft', 'list', 'table', 'ip', 'obs']).stdout
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r'counter packets (\d+) bytes \d+ comment "([^"]+)"', out)}


def reset_obs():
    sh(['nft', 'delete', 'table', 'ip', 'obs'], check_rc=False)
    sh(['nft', '-f', '-'], input=OBS)


def connect(ip, port, ns=None, timeout=1.0):
    """'ok', 'refused' or 'timeout' for one TCP connect."""
    code = ('import socket, sys\n'
            f's = socket.socket(); s.settimeout({timeout})\n'
            'try:\n'
            f'    s.connect(("{ip}", {port})); s.recv(2); print("ok")\n'
            'except ConnectionRefusedError: print("refused")\n'
            'except OSError as e: print("timeout" if isinstance(e, socket.timeout) else repr(e))\n')
    return sh([sys.executable, '-c', code], ns=ns).stdout.strip()


def test_marks():
    if not apply(state()):
        return
    reset_obs()
    check(connect('203.0.113.10', 80, ns='client') == 'ok', 'client reaches the Service')
    check(connect('203.0.113.10', 80) == 'ok', 'the node reaches the Service')
    c = counters()
    check(c.get('mark-kept') == 2 and c.get('mark-lost') == 0,
          f'a Service connection keeps the packet mark it came with: {c}')
    check(c.get('ctmark-kept') == 2, f'the ct mark keeps the bits of others: {c}')
    rules = sh(['nft', 'list', 'table', 'ip', 'ferry']).stdout
    check('ct mark | 0x00004000' in rules, 'masqueradeBit 14 is ct mark 0x4000')
    if apply(state(masq_bit=5)):
        rules = sh(['nft', 'list', 'table', 'ip', 'ferry']).stdout
        check('ct mark | 0x00000020' in rules and '0x00004000' not in rules and
              'ct mark & 0xffffffdf' in rules, f'masqueradeBit 5 is ct mark 0x20 only:\n{rules}')
        check(connect('203.0.113.10', 80, ns='client') == 'ok', 'masqueradeBit 5 still serves')
    apply(state())


def test_service_cidr():
    reset_obs()
    got = connect('203.0.113.99', 80, ns='client')
    check(got == 'timeout', f'an unallocated Service address is dropped (client): {got}')
    got = connect('203.0.113.99', 80)
    check(got == 'timeout', f'an unallocated Service address is dropped (node): {got}')
    got = connect('203.0.113.10', 81, ns='client')
    check(got == 'refused', f'a ClusterIP on a port it lacks is refused: {got}')
    c = counters()
    check(c.get('fwd-unallocated') == 0 and c.get('out-unallocated') == 0,
          f'nothing for an unallocated Service address leaves the node: {c}')


def tcp_ack(src, dst, sport, dport):
    """A TCP ACK segment (no options) with its checksum."""
    hdr = struct.pack('!HHIIBBHHH', sport, dport, 1000, 2000, 5 << 4, 0x10, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr))
    data = pseudo + hdr
    s = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return hdr[:16] + struct.pack('!H', ~s & 0xffff) + hdr[18:]


def test_invalid_dropped():
    sh(['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0'])
    reset_obs()
    code = ('import socket, sys\n'
            's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\n'
            f's.sendto(bytes.fromhex("{tcp_ack("192.0.2.2", "198.51.100.10", 40000, 9999).hex()}"),'
            ' ("198.51.100.10", 0))\n')
    for _ in range(3):
        sh([sys.executable, '-c', code], ns='client')
    time.sleep(0.2)
    c = counters()
    check(c.get('fwd-stray-ack') == 0, f'a stray ACK (ct state invalid) is not forwarded: {c}')
    # the observer itself sees such ACKs without ferry: the test can fail
    sh(['nft', 'delete', 'table', 'ip', 'ferry'])
    sh([sys.executable, '-c', code], ns='client')
    time.sleep(0.2)
    check(counters().get('fwd-stray-ack') == 1, 'without ferry the stray ACK is forwarded')
    sh(['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=1'])
    apply(state())


def aff_state(eps, timeout=60):
    st = state()
    st['services'].append({
        'key': 'default/sticky:http/tcp', 'protocol': 'tcp', 'port': 80,
        'clusterIPs': ['203.0.113.20'], 'externalIPs': ['203.0.113.21'], 'affinityTimeout': timeout,
        'endpoints': [{'ip': f'198.51.100.{e}', 'port': 8081, 'local': True} for e in eps]})
    return st


def who(ip='203.0.113.20'):
    code = ('import socket\n'
            's = socket.socket(); s.settimeout(1)\n'
            f's.connect(("{ip}", 80)); print(s.recv(64).decode())\n')
    p = sh([sys.executable, '-c', code], ns='client', check_rc=False)
    return p.stdout.strip() or 'failed'


def remembered():
    """The client's affinity element: (data, seconds to expiry) or None."""
    out = sh(['nft', 'list', 'map', 'ip', 'ferry', 'affinity']).stdout
    m = re.findall(r'192\.0\.2\.2 \. (0x[0-9a-f]+) timeout \S+ expires (?:(\d+)m)?(?:(\d+)s)?\S* : (0x[0-9a-f]+)', out)
    if len(m) != 1:
        return None if not m else f'{len(m)} elements for the client'
    return m[0][3], int(m[0][1] or 0) * 60 + int(m[0][2] or 0), m[0][0]


def write_state(name, st):
    path = os.path.join(TMP, name)
    with open(path, 'w') as f:
        json.dump(st, f)
    return path


def test_affinity():
    # one process for the incremental steps: its first sync is the only full one
    files = [write_state(f'aff{i}.json', aff_state([10, 11])) for i in range(3)]
    proc = subprocess.Popen([FERRY, 'apply-state', '--step', *files], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def step(st=None, i=0):
        if st:
            write_state(f'aff{i}.json', st)
            proc.stdin.write('\n')
            proc.stdin.flush()
        line = proc.stdout.readline()
        return check('"ok":true' in line, f'apply-state step: {line}')

    try:
        if not step():
            return
        first = who()
        check(first in ('198.51.100.10', '198.51.100.11'), f'the sticky Service answers: {first}')
        got = [who() for _ in range(6)]
        check(set(got) == {first}, f'a client stays on its endpoint: {first} then {got}')
        # keyed per Service port: its external IP leads to the same endpoint
        got = [who('203.0.113.21') for _ in range(4)]
        check(set(got) == {first}, f'the external IP keeps the client on {first}: {got}')
        r = remembered()
        check(isinstance(r, tuple), f'one element per client and Service port: {r}')
        # timeout refreshed by every new connection, not only by a pick
        time.sleep(2.5)
        who()
        r = remembered()
        check(isinstance(r, tuple) and r[1] >= 58, f'a new connection refreshes the timeout (60s): {r}')
        # endpoints added before it: its index moves, the endpoint stays
        if not step(aff_state([5, 6, 7, 10, 11]), 1):
            return
        got = [who() for _ in range(8)]
        check(set(got) == {first}, f'endpoints added: the client keeps {first}: {got}')
        # its endpoint removed: a new one, then remembered
        rest = [e for e in (5, 6, 7, 10, 11) if f'198.51.100.{e}' != first]
        if not step(aff_state(rest), 2):
            return
        got = [who() for _ in range(8)]
        check(first not in got and len(set(got)) == 1,
              f'its endpoint removed: the next pick is remembered: {got}')
    finally:
        proc.stdin.close()
        proc.wait()


def test_affinity_rebuild():
    # a new process rebuilds the tables in full, as ferry's restart does
    st = aff_state([5, 6, 7, 10])
    if not apply(st):
        return
    now = who()
    before = remembered()
    check(apply(st), 'apply-state again (a full rebuild)')
    after = remembered()
    check(isinstance(before, tuple) and isinstance(after, tuple) and after[0] == before[0],
          f'a full rebuild keeps the remembered client: {before} -> {after}')
    got = [who() for _ in range(6)]
    check(set(got) == {now}, f'after the rebuild the client keeps {now}: {got}')
    apply(state())


def test_affinity_stale():
    if not apply(aff_state([5, 6, 7, 10])):
        return
    # a stale element the kernel holds (an id no longer listed) is replaced
    who()
    r = remembered()
    if not check(isinstance(r, tuple), f'the client is remembered: {r}'):
        return
    sh(['nft', 'flush', 'map', 'ip', 'ferry', 'affinity'])
    sh(['nft', 'add', 'element', 'ip', 'ferry', 'affinity',
        f'{{ 192.0.2.2 . {r[2]} timeout 1m : {hex(int(r[2], 16) | 0x7ffe)} }}'])  # a slot no one has
    who()
    r = remembered()
    check(isinstance(r, tuple) and int(r[0], 16) & 0x7ffe != 0x7ffe,
          f'a stale remembered endpoint is replaced: {r}')
    apply(state())


def main():
    fresh_netns.enter('FERRY_PACKET_TEST_INNER')
    try:
        setup()
        for t in (test_marks, test_service_cidr, test_invalid_dropped, test_affinity, test_affinity_rebuild,
                  test_affinity_stale):
            n = failures
            t()
            print(f'{t.__name__}: {"ok" if failures == n else "FAILED"}')
    finally:
        for p in children.values():
            p.kill()
            p.wait()
    print(f'packet_test: {failures} failed')
    sys.exit(1 if failures else 0)


main()
