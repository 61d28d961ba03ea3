# SPDX-License-Identifier: GPL-2.0-or-later
"""Packets through ferry's nft/ rules: real TCP and UDP between network
namespaces, checking which endpoint answered and what source address it saw.

    client (203.0.113.2, 2001:db8:c::2)
       |  c0 -- n0
    node (203.0.113.1, 2001:db8:c::1): ferry's tables, forwarding
       |  p1 -- e0            |  p2 -- e0
    pod1 198.18.1.2          pod2 198.18.2.2      (pod CIDR 198.18.0.0/16,
         2001:db8:1:1::2          2001:db8:1:2::2  2001:db8:1::/48)

Both pods hang off the node; a state marks pod2 `local: false` when a test
needs a remote endpoint (the rules only look at that flag). Cluster IPs come
from 198.19.0.0/16 and 2001:db8:2::/64, LoadBalancer IPs from 198.51.100.0/24.
Each test applies its own state with `ferry apply-state` in the node namespace.

Run as root: FERRY=build-nft/src/ferry pytest e2e/test_nft_dataplane.py
Every namespace and process is removed at the end, also on failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def find_ferry():
    for p in (os.environ.get('FERRY'), f'{ROOT}/build-nft/src/ferry', f'{ROOT}/build/src/ferry'):
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    return None


FERRY = find_ferry()
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason='needs root (network namespaces)'),
    pytest.mark.skipif(FERRY is None or not shutil.which('ip'), reason='needs ferry (FERRY=...) and ip'),
]

TAG = f'fnd{os.getpid() % 100000}'
NS = {r: f'{TAG}-{r}' for r in ('node', 'client', 'pod1', 'pod2')}
POD4 = {'pod1': '198.18.1.2', 'pod2': '198.18.2.2'}
POD6 = {'pod1': '2001:db8:1:1::2', 'pod2': '2001:db8:1:2::2'}
NODE_TO4 = {'pod1': '198.18.1.1', 'pod2': '198.18.2.1'}   # what a masqueraded source looks like
NODE_TO6 = {'pod1': '2001:db8:1:1::1', 'pod2': '2001:db8:1:2::1'}
CLIENT4, CLIENT6, NODE4 = '203.0.113.2', '2001:db8:c::2', '203.0.113.1'
NODE = {'nodeIPs': [NODE4, '2001:db8:c::1'], 'podCIDRs': ['198.18.0.0/16', '2001:db8:1::/48'],
        'nodePortAddresses': [], 'masqueradeAll': False}


def sh(*cmd, check=True, timeout=30):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise AssertionError(f'{" ".join(cmd)}: {p.stderr.strip()}')
    return p


def nsx(role, *cmd, **kw):
    return sh('ip', 'netns', 'exec', NS[role], *cmd, **kw)


@pytest.fixture(scope='module')
def net():
    procs, made = [], []
    tmp = tempfile.mkdtemp(prefix='ferry-dp-')
    try:
        for r in NS.values():
            sh('ip', 'netns', 'add', r)
            made.append(r)
        n = NS['node']
        sh('ip', '-n', n, 'link', 'add', 'n0', 'type', 'veth', 'peer', 'name', 'c0', 'netns', NS['client'])
        for i, pod in ((1, 'pod1'), (2, 'pod2')):
            sh('ip', '-n', n, 'link', 'add', f'p{i}', 'type', 'veth', 'peer', 'name', 'e0', 'netns', NS[pod])
            sh('ip', '-n', n, 'addr', 'add', f'{NODE_TO4[pod]}/24', 'dev', f'p{i}')
            sh('ip', '-n', n, 'addr', 'add', f'{NODE_TO6[pod]}/64', 'dev', f'p{i}', 'nodad')
            sh('ip', '-n', n, 'link', 'set', f'p{i}', 'up')
            sh('ip', '-n', NS[pod], 'addr', 'add', f'{POD4[pod]}/24', 'dev', 'e0')
            sh('ip', '-n', NS[pod], 'addr', 'add', f'{POD6[pod]}/64', 'dev', 'e0', 'nodad')
            sh('ip', '-n', NS[pod], 'link', 'set', 'e0', 'up')
            sh('ip', '-n', NS[pod], 'route', 'add', 'default', 'via', NODE_TO4[pod])
            sh('ip', '-n', NS[pod], '-6', 'route', 'add', 'default', 'via', NODE_TO6[pod])
        sh('ip', '-n', n, 'addr', 'add', f'{NODE4}/24', 'dev', 'n0')
        sh('ip', '-n', n, 'addr', 'add', '2001:db8:c::1/64', 'dev', 'n0', 'nodad')
        sh('ip', '-n', n, 'link', 'set', 'n0', 'up')
        # the node's own default route points out of n0, as a node's would
        sh('ip', '-n', n, 'route', 'add', 'default', 'via', CLIENT4)
        sh('ip', '-n', n, '-6', 'route', 'add', 'default', 'via', CLIENT6)
        c = NS['client']
        sh('ip', '-n', c, 'addr', 'add', f'{CLIENT4}/24', 'dev', 'c0')
        sh('ip', '-n', c, 'addr', 'add', f'{CLIENT6}/64', 'dev', 'c0', 'nodad')
        sh('ip', '-n', c, 'link', 'set', 'c0', 'up')
        sh('ip', '-n', c, 'route', 'add', 'default', 'via', NODE4)
        sh('ip', '-n', c, '-6', 'route', 'add', 'default', 'via', '2001:db8:c::1')
        for r in NS.values():
            sh('ip', '-n', r, 'link', 'set', 'lo', 'up')
        nsx('node', 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        # a client's packet to a rejected VIP goes back out n0: an ICMP
        # redirect would eat the rate-limit token the port-unreachable needs
        nsx('node', 'sysctl', '-qw', 'net.ipv4.conf.all.send_redirects=0')
        nsx('node', 'sysctl', '-qw', 'net.ipv4.conf.n0.send_redirects=0')
        nsx('node', 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1')
        for pod in ('pod1', 'pod2'):
            p = subprocess.Popen(['ip', 'netns', 'exec', NS[pod], sys.executable,
                                  os.path.join(HERE, 'nft_podserver.py'), pod, '8080'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == 'ready'
        yield tmp
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for r in made:
            subprocess.run(['ip', 'netns', 'del', r], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def apply(net, *services, node=None):
    path = os.path.join(net, 'state.json')
    with open(path, 'w') as f:
        json.dump({'node': node or NODE, 'services': list(services)}, f)
    out = nsx('node', FERRY, 'apply-state', path).stdout
    assert json.loads(out.splitlines()[-1])['ok'], out


def ep(pod, fam=4, local=True, ready=True, serving=None, terminating=False):
    return {'ip': (POD4 if fam == 4 else POD6)[pod], 'port': 8080, 'local': local, 'ready': ready,
            'serving': ready if serving is None else serving, 'terminating': terminating}


def svc(name, eps, vip='198.19.0.10', proto='tcp', port=80, **kw):
    s = {'key': f'test/{name}:p/{proto}', 'protocol': proto, 'port': port,
         'clusterIPs': [vip] if isinstance(vip, str) else vip, 'endpoints': list(eps)}
    s.update(kw)
    return s


def call(where, host, port, proto='tcp', n=1, timeout=2.0):
    out = nsx(where, sys.executable, os.path.join(HERE, 'nft_client.py'), proto, host, str(port),
              str(n), str(timeout), timeout=n * timeout + 30).stdout
    return [json.loads(l) for l in out.splitlines()]


def answers(res):
    assert all(r['ok'] for r in res), res
    return {(r['name'], r['peer']) for r in res}


# ---- Cluster IPs ---------------------------------------------------------

@pytest.mark.parametrize('proto', ['tcp', 'udp'])
def test_cluster_ip_from_outside_spreads_and_masquerades(net, proto):
    apply(net, svc('web', [ep('pod1'), ep('pod2')], proto=proto))
    got = answers(call('client', '198.19.0.10', 80, proto, n=24))
    # both endpoints answer; traffic from outside the pod network is masqueraded
    assert got == {('pod1', NODE_TO4['pod1']), ('pod2', NODE_TO4['pod2'])}


def test_cluster_ip_from_pod_keeps_source(net):
    apply(net, svc('web', [ep('pod2')]))
    assert answers(call('pod1', '198.19.0.10', 80, n=3)) == {('pod2', POD4['pod1'])}


def test_hairpin_is_masqueraded(net):
    apply(net, svc('web', [ep('pod1')]))
    assert answers(call('pod1', '198.19.0.10', 80, n=3)) == {('pod1', NODE_TO4['pod1'])}


def test_cluster_ip_from_node_itself(net):
    apply(net, svc('web', [ep('pod2')]))
    got = answers(call('node', '198.19.0.10', 80, n=3))
    assert {n for n, _ in got} == {'pod2'}


def test_no_endpoints_rejects_tcp_and_udp(net):
    apply(net, svc('empty', [], nodePort=30090), svc('udpempty', [], vip='198.19.0.11', proto='udp'))
    assert call('client', '198.19.0.10', 80, 'tcp', timeout=3) == [{'ok': False, 'error': 'refused'}]
    assert call('client', '198.19.0.11', 80, 'udp', timeout=3) == [{'ok': False, 'error': 'refused'}]
    assert call('client', NODE4, 30090, 'tcp', timeout=3) == [{'ok': False, 'error': 'refused'}]
    assert call('node', '198.19.0.10', 80, 'tcp', timeout=3) == [{'ok': False, 'error': 'refused'}]


def test_terminating_endpoints_are_the_fallback(net):
    eps = [ep('pod1', ready=False, serving=True, terminating=True),
           ep('pod2', ready=False, serving=False, terminating=True)]
    apply(net, svc('web', eps))
    assert {n for n, _ in answers(call('client', '198.19.0.10', 80, n=8))} == {'pod1'}
    # a ready endpoint wins over terminating ones
    eps[1] = ep('pod2')
    apply(net, svc('web', eps))
    assert {n for n, _ in answers(call('client', '198.19.0.10', 80, n=8))} == {'pod2'}


def test_client_ip_affinity(net):
    apply(net, svc('web', [ep('pod1'), ep('pod2')], affinityTimeout=60))
    names = [r['name'] for r in call('client', '198.19.0.10', 80, n=12)]
    assert len(set(names)) == 1, names
    # another client (a pod) may land elsewhere, but sticks too
    names = [r['name'] for r in call('pod1', '198.19.0.10', 80, n=8)]
    assert len(set(names)) == 1, names


def test_client_ip_affinity_times_out(net):
    apply(net, svc('web', [ep('pod1'), ep('pod2')], affinityTimeout=2))
    first = call('client', '198.19.0.10', 80)[0]
    assert first['ok']
    listed = nsx('node', 'nft', 'list', 'map', 'ip', 'ferry', 'affinity').stdout
    # keyed by client and Service port (docs/nft.md, "Affinity")
    assert f'{CLIENT4} . 0x' in listed and 'expires' in listed, listed
    # within the timeout: the same endpoint every time
    assert {r['name'] for r in call('client', '198.19.0.10', 80, n=6)} == {first['name']}
    import time
    time.sleep(3.5)
    listed = nsx('node', 'nft', 'list', 'map', 'ip', 'ferry', 'affinity').stdout
    assert f'{CLIENT4} . ' not in listed, f'expired entry still there: {listed}'


def test_internal_traffic_policy_local(net):
    apply(net, svc('web', [ep('pod1'), ep('pod2', local=False)], internalTrafficPolicy='Local'))
    assert {n for n, _ in answers(call('pod2', '198.19.0.10', 80, n=8))} == {'pod1'}


# ---- NodePorts and LoadBalancer IPs ---------------------------------------

def test_nodeport_cluster_policy_masquerades(net):
    apply(net, svc('web', [ep('pod1'), ep('pod2', local=False)], nodePort=30080))
    got = answers(call('client', NODE4, 30080, n=16))
    assert got == {('pod1', NODE_TO4['pod1']), ('pod2', NODE_TO4['pod2'])}


def test_nodeport_local_policy_keeps_client_address(net):
    apply(net, svc('web', [ep('pod1'), ep('pod2', local=False)], nodePort=30080,
                   externalTrafficPolicy='Local'))
    assert answers(call('client', NODE4, 30080, n=10)) == {('pod1', CLIENT4)}


def test_local_policy_without_local_endpoints(net):
    apply(net, svc('web', [ep('pod2', local=False)], loadBalancerIPs=['198.51.100.10'],
                   nodePort=30080, externalTrafficPolicy='Local'))
    # outside clients: dropped (not rejected, not sent to another node)
    assert call('client', '198.51.100.10', 80, timeout=1) == [{'ok': False, 'error': 'timeout'}]
    assert call('client', NODE4, 30080, timeout=1) == [{'ok': False, 'error': 'timeout'}]
    # in-cluster traffic to the same LB IP still reaches every endpoint:
    # from a pod (source kept) and from the node itself (masqueraded)
    assert answers(call('pod1', '198.51.100.10', 80, n=3)) == {('pod2', POD4['pod1'])}
    assert answers(call('node', '198.51.100.10', 80, n=3)) == {('pod2', NODE_TO4['pod2'])}


def test_load_balancer_ip_cluster_policy(net):
    apply(net, svc('web', [ep('pod1')], loadBalancerIPs=['198.51.100.10']))
    assert answers(call('client', '198.51.100.10', 80, n=3)) == {('pod1', NODE_TO4['pod1'])}


def test_load_balancer_source_ranges(net):
    base = dict(loadBalancerIPs=['198.51.100.10'], externalTrafficPolicy='Local')
    apply(net, svc('web', [ep('pod1')], sourceRanges=['203.0.113.0/24'], **base))
    assert answers(call('client', '198.51.100.10', 80)) == {('pod1', CLIENT4)}
    apply(net, svc('web', [ep('pod1')], sourceRanges=['192.0.2.0/24'], **base))
    assert call('client', '198.51.100.10', 80, timeout=1) == [{'ok': False, 'error': 'timeout'}]
    # the cluster IP is not guarded by the LB ranges
    assert answers(call('client', '198.19.0.10', 80)) == {('pod1', NODE_TO4['pod1'])}


def test_external_ip(net):
    apply(net, svc('web', [ep('pod2')], externalIPs=['198.51.100.20']))
    assert answers(call('client', '198.51.100.20', 80, 'tcp', n=2)) == {('pod2', NODE_TO4['pod2'])}


def test_nodeport_addresses_filter(net):
    s = svc('web', [ep('pod1')], nodePort=30080)
    apply(net, s, node=dict(NODE, nodePortAddresses=['198.51.100.0/24']))
    # not a NodePort address: the node's own stack answers (nothing listens)
    assert call('client', NODE4, 30080, timeout=2) == [{'ok': False, 'error': 'refused'}]
    apply(net, s, node=dict(NODE, nodePortAddresses=['203.0.113.0/24']))
    assert answers(call('client', NODE4, 30080)) == {('pod1', NODE_TO4['pod1'])}


def test_masquerade_all(net):
    apply(net, svc('web', [ep('pod2')]), node=dict(NODE, masqueradeAll=True))
    assert answers(call('pod1', '198.19.0.10', 80)) == {('pod2', NODE_TO4['pod2'])}


# ---- IPv6 ------------------------------------------------------------------

@pytest.mark.parametrize('proto', ['tcp', 'udp'])
def test_ipv6_cluster_ip(net, proto):
    apply(net, svc('web6', [ep('pod1', 6), ep('pod2', 6)], vip='2001:db8:2::10', proto=proto))
    got = answers(call('client', '2001:db8:2::10', 80, proto, n=24))
    assert got == {('pod1', NODE_TO6['pod1']), ('pod2', NODE_TO6['pod2'])}
    assert answers(call('pod1', '2001:db8:2::10', 80, proto, n=12)) <= {
        ('pod2', POD6['pod1']), ('pod1', NODE_TO6['pod1'])}


def test_ipv6_nodeport_local_and_reject(net):
    apply(net, svc('web6', [ep('pod1', 6), ep('pod2', 6, local=False)], vip='2001:db8:2::10',
                   nodePort=30080, externalTrafficPolicy='Local'),
          svc('empty6', [], vip='2001:db8:2::11'))
    assert answers(call('client', '2001:db8:c::1', 30080, n=6)) == {('pod1', CLIENT6)}
    assert call('client', '2001:db8:2::11', 80, timeout=3) == [{'ok': False, 'error': 'refused'}]


def test_dual_stack_service(net):
    apply(net, svc('ds', [ep('pod1'), ep('pod2', 6)], vip=['198.19.0.10', '2001:db8:2::10']))
    assert {n for n, _ in answers(call('client', '198.19.0.10', 80, n=4))} == {'pod1'}
    assert {n for n, _ in answers(call('client', '2001:db8:2::10', 80, n=4))} == {'pod2'}
