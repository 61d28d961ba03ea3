#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Ruleset tests of ferry's nft/ in a throw-away network namespace.

ctest runs it as `python3 netns_test.py FERRY [SEED]`; it re-runs itself
under `unshare -n` (root; skipped otherwise), so every table it makes dies
with the namespace, and never touches the namespace it was started in.
Tests: expected elements, `nft list ruleset` re-loads with `nft -c -f`, an
operator's table survives sync and cleanup, a hand `nft flush table` is
repaired at the next sync, a refused change keeps the previous ruleset, and a
seeded property test: random change sequences applied incrementally end in
exactly the ruleset a cold sync of the final state gives, and the stored
dumps: each state in tests/dumps/NAME.json, applied cold, lists exactly as
tests/dumps/NAME.nft (after canonical_dump). After an intended ruleset
change, regenerate them with `FERRY_REGEN_DUMPS=1 ctest -R nft_netns`.
"""
import difflib, glob, json, os, random, re, socket, subprocess, sys, tempfile

import fresh_netns  # noqa: E402  (nft/tests/fresh_netns.py)

FERRY = sys.argv[1]
DUMPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dumps')
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 6
TMP = tempfile.mkdtemp(prefix='ferry-nft-')
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print('FAIL:', what, file=sys.stderr)
    return cond


def nft(*args, input=None):
    return subprocess.run(['nft', *args], input=input, capture_output=True, text=True)


def write_state(name, state):
    path = os.path.join(TMP, name)
    with open(path, 'w') as f:
        json.dump(state, f)
    return path


def apply(*states, via_update=False):
    """Applies states in one ferry process (first cold, then incremental,
    as whole states or, via_update, as change lists)."""
    paths = [write_state(f's{i}.json', s) for i, s in enumerate(states)]
    p = subprocess.run([FERRY, 'apply-state', *(['--via-update'] if via_update else []), *paths],
                       capture_output=True, text=True)
    return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')], p.stderr


class Stepper:
    """One ferry process applying states one at a time (--step)."""
    def __init__(self, states):
        self.paths = [write_state(f'step{i}.json', s) for i, s in enumerate(states)]
        self.p = subprocess.Popen([FERRY, 'apply-state', '--step', *self.paths],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.first = True

    def next(self):
        if not self.first:
            self.p.stdin.write('\n')
            self.p.stdin.flush()
        self.first = False
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        return self.p.stderr.read()


# ---- canonical form of the ferry tables ----------------------------------

def canonical():
    out = nft('-j', 'list', 'ruleset')
    assert out.returncode == 0, out.stderr
    objs = [o for o in json.loads(out.stdout)['nftables'] if 'metainfo' not in o]
    # chain numbers (kinds / pick-chains keys) are allocation order: name them
    names = {}
    for o in objs:
        s = o.get('map')
        if s and s['table'] == 'ferry' and s['name'] in ('kinds', 'pick-chains'):
            for k, v in s.get('elem', []):
                names[(s['family'], k)] = json.dumps(v, sort_keys=True)
    canon, rules = [], {}
    for o in objs:
        kind, body = next(iter(o.items()))
        body = {k: v for k, v in body.items() if k != 'handle'}
        if kind == 'rule':
            rules.setdefault((body['family'], body['table'], body['chain']), []).append(
                json.dumps(body['expr'], sort_keys=True))
            continue
        if kind == 'map' and body['table'] == 'ferry':
            fam = body['family']
            el = []
            for k, v in body.get('elem', []):
                if body['name'] in ('kinds', 'pick-chains'):
                    k = 'chain'
                elif isinstance(v, int):
                    v = names.get((fam, v), v)
                el.append(json.dumps([k, v], sort_keys=True))
            body['elem'] = sorted(el)
        elif 'elem' in body:
            body['elem'] = sorted(json.dumps(e, sort_keys=True) for e in body['elem'])
        canon.append(json.dumps({kind: body}, sort_keys=True))
    return sorted(canon) + [json.dumps([list(k), v]) for k, v in sorted(rules.items())]


def cleanup():
    subprocess.run([FERRY, 'cleanup'], check=True)


# ---- states --------------------------------------------------------------

NODE = {'nodeIPs': ['203.0.113.1', '2001:db8::1'], 'podCIDRs': ['198.18.0.0/16', '2001:db8:1::/64'],
        'nodePortAddresses': [], 'masqueradeAll': False}


def web(eps=2, policy='Cluster'):
    return {'key': 'default/web:http/tcp', 'protocol': 'tcp', 'port': 80, 'nodePort': 30080,
            'clusterIPs': ['198.19.0.10', '2001:db8:2::10'], 'loadBalancerIPs': ['203.0.113.100'],
            'sourceRanges': ['192.0.2.0/24'], 'externalTrafficPolicy': policy,
            'endpoints': [{'ip': f'198.18.1.{i + 2}', 'port': 8080, 'local': i == 0} for i in range(eps)]}


def test_expectations():
    cleanup()
    dns = {'key': 'kube-system/dns:dns/udp', 'protocol': 'udp', 'port': 53,
           'clusterIPs': ['198.19.0.53'], 'affinityTimeout': 600,
           'endpoints': [{'ip': '198.18.1.9', 'port': 5353}]}
    empty = {'key': 'default/empty:http/tcp', 'port': 80, 'nodePort': 30081, 'clusterIPs': ['198.19.0.11']}
    rc, stats, err = apply({'node': NODE, 'services': [web(), dns, empty]})
    check(rc == 0 and stats[0]['ok'] and stats[0]['full'], f'cold sync: {stats} {err}')

    def elems(fam, name, comments=None):
        """The elements' keys (maps: [key, value]); comments, if a list, gets
        each element's comment (None without one)."""
        def val(e):
            if isinstance(e, dict) and 'elem' in e:
                if comments is not None:
                    comments.append(e['elem'].get('comment'))
                return e['elem']['val']
            if comments is not None:
                comments.append(None)
            return e
        out = nft('-j', 'list', 'map' if name not in ('hairpin', 'no-endpoint-ips', 'no-endpoint-nodeports',
                                                       'firewall-ips', 'firewall-allow', 'cluster-ips') else 'set',
                  fam, 'ferry', name)
        check(out.returncode == 0, f'list {name}: {out.stderr}')
        for o in json.loads(out.stdout or '{"nftables":[]}')['nftables']:
            body = o.get('map') or o.get('set')
            if body:
                return [[val(e[0]), e[1]] if isinstance(e, list) else val(e)
                        for e in body.get('elem', [])]
        return []

    text = nft('list', 'table', 'ip', 'ferry').stdout
    check('198.19.0.10 . tcp . 80 comment "default/web:http/tcp"' in text, 'cluster IP element with comment')
    check(len(elems('ip', 'dnat-ips')) == 2 + 2 + 1 + 0, f'dnat-ips: cluster IP 2, LB IP 2, dns 1')
    # every per-Service element names its Service port (issue 12); shared
    # ones: cluster-ips the Service, hairpin none
    for name in ('service-ips', 'service-nodeports', 'pick-ips-internal', 'pick-nodeports-internal',
                 'dnat-ips', 'dnat-nodeports', 'no-endpoint-ips', 'no-endpoint-nodeports',
                 'firewall-ips', 'firewall-allow'):
        cs = []
        elems('ip', name, cs)
        check(cs and all(c and re.fullmatch(r'[a-z-]+/[a-z]+:[a-z]+/(tcp|udp)', c) for c in cs),
              f'{name}: every element has its Service port as comment: {cs}')
    cs = []
    elems('ip', 'cluster-ips', cs)
    check(sorted(cs) == ['default/empty', 'default/web', 'kube-system/dns'], f'cluster-ips name the Service: {cs}')
    cs = []
    elems('ip', 'hairpin', cs)
    check(cs == [None], f'hairpin elements (shared by Services) carry no comment: {cs}')
    check('comment "kind ClusterIP' in text and 'comment "pick: 1 of 1 endpoints' in text,
          'chains say their role')
    check(len(elems('ip', 'dnat-nodeports')) == 2, 'dnat-nodeports: 2 endpoints')
    check(len(elems('ip6', 'dnat-ips')) == 0, 'no IPv6 endpoints: no IPv6 DNAT')
    check(len(elems('ip', 'no-endpoint-ips')) == 1, 'service without endpoints: reject entry')
    check(len(elems('ip', 'no-endpoint-nodeports')) == 1, 'its NodePort too')
    check(len(elems('ip', 'firewall-allow')) == 1, 'source range')
    check('chain pick-ip-1-aff600' in text, 'affinity pick chain')
    check(len(elems('ip', 'hairpin')) == 1, 'one local endpoint: one hairpin element')
    # every ClusterIP once, for the reject of its unknown ports
    check(sorted(elems('ip', 'cluster-ips')) == ['198.19.0.10', '198.19.0.11', '198.19.0.53'],
          f"cluster-ips: {elems('ip', 'cluster-ips')}")
    check(elems('ip6', 'cluster-ips') == ['2001:db8:2::10'], 'IPv6 ClusterIPs in the ip6 table')
    # shared by the ports of a Service: removing one port keeps it
    admin = dict(web(), key='default/web:admin/tcp', port=81, nodePort=30082)
    st = Stepper([{'node': NODE, 'services': [web(), admin]}, {'node': NODE, 'services': [admin]},
                  {'node': NODE, 'services': []}])
    got = []
    for _ in range(3):
        got.append((st.next()['ok'], sorted(elems('ip', 'cluster-ips'))))
    err = st.close()
    check(got == [(True, ['198.19.0.10']), (True, ['198.19.0.10']), (True, [])],
          f'a ClusterIP shared by two ports, one removed, then both: {got} {err[-300:]}')
    # Local policy, no local endpoint: external pick is a drop (chain number 0)
    w = web(policy='Local')
    for e in w['endpoints']:
        e['local'] = False
    rc, stats, err = apply({'node': NODE, 'services': [w]})
    ext = elems('ip', 'pick-ips-external')
    check(rc == 0 and len(ext) == 1 and ext[0][1] == 0, f'Local without local endpoints drops: {ext}')
    check(len(elems('ip', 'pick-ips-internal')) == 2, 'in-cluster traffic still reaches all endpoints')


def test_big_service():
    """2,000 endpoints per family: element messages are split (one netlink
    attribute holds at most 64 KiB), both cold and incremental."""
    cleanup()
    eps = [{'ip': f'198.18.{k // 250}.{k % 250 + 1}', 'port': 8080, 'local': k % 2 == 0} for k in range(2000)]
    eps += [{'ip': f'2001:db8:1::{k + 1:x}', 'port': 8080} for k in range(2000)]
    big = {'key': 'default/big:http/tcp', 'port': 80, 'nodePort': 30099, 'externalTrafficPolicy': 'Local',
           'clusterIPs': ['198.19.0.99', '2001:db8:2::99'], 'endpoints': eps}
    small = dict(big, endpoints=eps[:10] + eps[2000:2010])
    rc, stats, err = apply({'node': NODE, 'services': [big]}, {'node': NODE, 'services': [small]},
                           {'node': NODE, 'services': [big]})
    check(rc == 0 and all(s['ok'] for s in stats), f'big service syncs: {stats} {err[-300:]}')
    inc = canonical()
    cleanup()
    apply({'node': NODE, 'services': [big]})
    check(inc == canonical(), 'big service: incremental == cold')
    out = nft('-j', 'list', 'map', 'ip6', 'ferry', 'dnat-ips')
    n = sum(len(o['map'].get('elem', [])) for o in json.loads(out.stdout)['nftables'] if 'map' in o)
    check(n == 2000, f'2000 IPv6 DNAT elements, got {n}')


def test_reload():
    cleanup()
    apply({'node': dict(NODE, nodePortAddresses=['203.0.113.0/24']), 'services': [web(3, 'Local')]})
    text = nft('list', 'ruleset').stdout
    p = nft('-c', '-f', '-', input=text)
    check(p.returncode == 0, f'nft -c -f of the listing: {p.stderr[:500]}')
    # and for real, after deleting ours
    cleanup()
    p = nft('-f', '-', input=text)
    check(p.returncode == 0, f'nft -f of the listing: {p.stderr[:500]}')


def test_operator_table():
    cleanup()
    op = ('table inet operator {\n chain input {\n  type filter hook input priority 0; policy accept;\n'
          '  tcp dport 22 accept\n }\n}\n')
    check(nft('-f', '-', input=op).returncode == 0, 'operator table loads')
    before = nft('list', 'table', 'inet', 'operator').stdout
    apply({'node': NODE, 'services': [web()]}, {'node': NODE, 'services': []})
    check(nft('list', 'table', 'inet', 'operator').stdout == before, 'operator table unchanged by syncs')
    cleanup()
    check(nft('list', 'table', 'inet', 'operator').stdout == before, 'operator table unchanged by cleanup')
    check(nft('list', 'table', 'ip', 'ferry').returncode != 0, 'cleanup removed ip ferry')
    check(nft('list', 'table', 'ip6', 'ferry').returncode != 0, 'cleanup removed ip6 ferry')
    nft('delete', 'table', 'inet', 'operator')


def test_cleanup_spares_a_running_agent():
    """`ferry cleanup` will not cut a running agent's Services; the
    kube-proxy-only form and --force say what they do. The agent's mark is
    its abstract socket "ferry-agent" in this network namespace: held here
    as the agent holds it."""
    apply({'node': NODE, 'services': [web()]})
    mark = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    mark.bind('\0ferry-agent')
    try:
        r = subprocess.run([FERRY, 'cleanup'], capture_output=True, text=True)
        check(r.returncode == 1 and 'an agent runs' in r.stderr, 'cleanup refused while an agent runs')
        check(nft('list', 'table', 'ip', 'ferry').returncode == 0, 'the agent\'s table survived')
        r = subprocess.run([FERRY, 'cleanup', '--kube-proxy-only'], capture_output=True, text=True)
        check(r.returncode == 0, 'kube-proxy-only cleanup runs beside an agent')
        check(nft('list', 'table', 'ip', 'ferry').returncode == 0, 'kube-proxy-only cleanup kept ferry')
        r = subprocess.run([FERRY, 'cleanup', '--force'], capture_output=True, text=True)
        check(r.returncode == 0 and nft('list', 'table', 'ip', 'ferry').returncode != 0,
              '--force removes ferry\'s tables')
    finally:
        mark.close()


def test_flush_repaired():
    cleanup()
    st = {'node': NODE, 'services': [web()]}
    st2 = {'node': NODE, 'services': [web(3)]}
    sp = Stepper([st, st, st2, st2])
    r = sp.next()
    check(r['ok'] and r['full'], 'first sync is full')
    want = canonical()
    check(nft('flush', 'table', 'ip', 'ferry').returncode == 0, 'hand flush')
    r = sp.next()
    check(r['ok'] and r['full'], f'flushed table detected and rebuilt: {r}')
    check(canonical() == want, 'rebuilt ruleset equals the original')
    r = sp.next()
    check(r['ok'] and not r['full'], f'then incremental again: {r}')
    # an unrelated change elsewhere moves the generation but is no reason to rebuild
    nft('add', 'table', 'ip', 'other')
    r = sp.next()
    check(r['ok'] and not r['full'], f'unrelated table change: no rebuild: {r}')
    nft('delete', 'table', 'ip', 'other')
    sp.close()


def test_node_change_rebuilds():
    """Node settings shape the rules: a change rebuilds, and the result is
    what a cold sync of the new settings gives."""
    cleanup()
    w2 = web(3, 'Local') | {'key': 'default/w2:http/tcp', 'clusterIPs': ['198.19.0.12'],
                            'nodePort': 30082, 'loadBalancerIPs': ['203.0.113.102']}
    a = {'node': NODE, 'services': [web(), w2]}
    b = dict(a, node=dict(NODE, nodePortAddresses=['203.0.113.0/24'], masqueradeAll=True))
    sp = Stepper([a, b])
    sp.next()
    r = sp.next()
    sp.close()
    check(r['ok'] and r['full'], f'node change: full rebuild: {r}')
    got = canonical()
    cleanup()
    apply(b)
    check(got == canonical(), 'node change: same as a cold sync')


def test_affinity_kept():
    """Remembered affinity clients survive a full rebuild (here a node
    change, as after a restart or a failed sync), with the time they had
    left; a map of another definition is not copied from."""
    cleanup()
    a = {'node': NODE, 'services': [web() | {'affinityTimeout': 600}]}
    b = dict(a, node=dict(NODE, masqueradeAll=True))
    sp = Stepper([a, b])
    sp.next()
    for fam, client in (('ip', '192.0.2.77'), ('ip6', '2001:db8:9::77')):
        p = nft('add', 'element', fam, 'ferry', 'affinity',
                f'{{ {client} . 0x80010000 timeout 5m : 0x80010002 }}')
        check(p.returncode == 0, f'{fam}: element added: {p.stderr}')
    r = sp.next()
    sp.close()
    check(r['ok'] and r['full'], f'node change: full rebuild: {r}')
    for fam, client in (('ip', '192.0.2.77'), ('ip6', '2001:db8:9::77')):
        out = nft('list', 'map', fam, 'ferry', 'affinity').stdout
        m = re.search(re.escape(client) + r' \. 0x80010000 timeout \S+ expires (\d+)m\S* : 0x80010002', out)
        check(m is not None and int(m.group(1)) < 5,
              f'{fam}: the remembered client is kept with the time it had left: {out}')
    # an affinity map of another definition (an older ferry's): not copied
    cleanup()
    nft('-f', '-', input='table ip ferry { map affinity { type ipv4_addr . ipv4_addr . inet_proto . '
        'inet_service : mark; flags dynamic,timeout; elements = { 192.0.2.77 . 198.19.0.10 . tcp . 80 '
        'timeout 5m : 0x1 } } }')
    rc, stats, err = apply(a)
    out = nft('list', 'map', 'ip', 'ferry', 'affinity').stdout
    check(rc == 0 and stats[0]['ok'], f'a rebuild over another definition: {stats} {err}')
    check('192.0.2.77' not in out and 'ipv4_addr . mark : mark' in out,
          f'another definition is not copied: {out}')


def test_bad_input_keeps_state():
    cleanup()
    good = {'node': NODE, 'services': [web()]}
    rc, stats, err = apply(good, {'node': NODE, 'services': [{'key': 'x', 'port': 'eighty'}]}, good)
    check(stats[1]['ok'] is False and 'bad state' in err + json.dumps(stats[1]), 'bad state refused')
    check(stats[2]['ok'] and not stats[2]['full'] and stats[2]['added'] == 0,
          f'previous state kept, nothing to redo: {stats[2]}')
    # two Services claiming the same VIP: the kernel refuses, ferry names the
    # Service, keeps the old ruleset and leaves the culprit out next time
    clash = dict(web(), key='default/clash:http/tcp')
    sp = Stepper([good, {'node': NODE, 'services': [web(), clash]}, {'node': NODE, 'services': [web(), clash]}])
    sp.next()
    want = canonical()
    r = sp.next()
    check(not r['ok'], f'clash refused: {r}')
    check(canonical() == want, 'previous ruleset intact after a refused batch')
    r = sp.next()
    check(r['ok'], f'next sync leaves the culprit out and succeeds: {r}')
    err = sp.close()
    check('default/clash:http/tcp' in err, 'the log names the refused Service')
    # the same clash in a cold sync: the coalesced batch names a set; the
    # retry goes one message per Service, names the culprit, and the third
    # attempt applies everything else
    cleanup()
    both = {'node': NODE, 'services': [web(), clash]}
    sp = Stepper([both, both, both])
    r1, r2, r3 = sp.next(), sp.next(), sp.next()
    err = sp.close()
    check(not r1['ok'] and not r2['ok'] and r3['ok'], f'cold clash: refused, named, applied: {r1} {r2} {r3}')
    # in key order default/clash comes first and claims the address, so
    # default/web is the one refused
    check('service left out until it changes" service=default/web:http/tcp' in err,
          f'cold clash: the refused Service is named and left out: {err[-600:]}')
    check('default/clash:http/tcp' in nft('list', 'map', 'ip', 'ferry', 'service-ips').stdout,
          'cold clash: the other Service is served')


# ---- property test ------------------------------------------------------

def rand_service(rng, i):
    v6 = rng.random() < 0.3
    eps = []
    for k in range(rng.choice([0, 1, 1, 2, 3, 5])):
        fam6 = v6 and rng.random() < 0.5
        ip = f'2001:db8:1::{(i * 7 + k) % 250 + 1:x}' if fam6 else f'198.18.{(i * 7 + k) // 250 % 250}.{(i * 7 + k) % 250 + 1}'
        ready = rng.random() < 0.8
        eps.append({'ip': ip, 'port': rng.choice([8080, 8443]), 'ready': ready,
                    'serving': ready or rng.random() < 0.5, 'terminating': not ready and rng.random() < 0.7,
                    'local': rng.random() < 0.4})
    svc = {'key': f'ns{i % 3}/svc{i}:p/{rng.choice(["tcp", "udp"])}', 'port': rng.choice([80, 443, 53]),
           'clusterIPs': [f'198.19.{i // 250}.{i % 250 + 1}'] + ([f'2001:db8:2::{i:x}'] if v6 else []),
           'endpoints': eps, 'externalTrafficPolicy': rng.choice(['Cluster', 'Local']),
           'internalTrafficPolicy': rng.choice(['Cluster', 'Cluster', 'Local'])}
    svc['protocol'] = svc['key'].rsplit('/', 1)[1]
    if rng.random() < 0.4:
        svc['nodePort'] = 30000 + i
    if rng.random() < 0.3:
        svc['loadBalancerIPs'] = [f'203.0.113.{i % 250 + 1}']
        if rng.random() < 0.5:
            svc['sourceRanges'] = [rng.choice(['192.0.2.0/24', '198.51.100.0/25', '2001:db8:9::/48'])]
    if rng.random() < 0.2:
        svc['affinityTimeout'] = rng.choice([60, 10800])
    return svc


def test_property(rounds=6, steps=12, via_update=False):
    rng = random.Random(SEED + via_update)
    for rnd in range(rounds):
        svcs = {i: rand_service(rng, i) for i in rng.sample(range(60), 20)}
        states = []
        for _ in range(steps):
            for _ in range(rng.randint(1, 4)):
                op = rng.random()
                if op < 0.3 or not svcs:
                    i = rng.randrange(60)
                    svcs[i] = rand_service(rng, i)          # add or replace
                elif op < 0.5:
                    del svcs[rng.choice(list(svcs))]        # remove
                else:                                        # touch endpoints only
                    i = rng.choice(list(svcs))
                    s = dict(svcs[i])
                    s['endpoints'] = rand_service(rng, i)['endpoints']
                    svcs[i] = s
            states.append({'node': NODE, 'services': [json.loads(json.dumps(s)) for s in svcs.values()]})
        cleanup()
        rc, stats, err = apply(*states, via_update=via_update)
        ok = check(rc == 0 and all(s['ok'] for s in stats) and not any(s['full'] for s in stats[1:]),
                   f'round {rnd}: all incremental syncs succeed: {[s for s in stats if not s["ok"]]} {err[-500:]}')
        inc = canonical()
        cleanup()
        rc, stats, err = apply(states[-1])
        cold = canonical()
        if not check(ok and inc == cold, f'round {rnd} (seed {SEED}, via_update={via_update}): incremental == cold'):
            a, b = set(inc), set(cold)
            for x in sorted(a - b)[:5]:
                print('  only incremental:', x[:400], file=sys.stderr)
            for x in sorted(b - a)[:5]:
                print('  only cold:', x[:400], file=sys.stderr)


def test_property_via_update():
    """The same through nft_sync_update (change lists instead of states)."""
    test_property(via_update=True)



# ---- stored dumps ----------------------------------------------------------

def canonical_dump(text):
    """`nft list table` text with what the kernel does not keep stable
    removed: handles, and the order of set elements (hash sets list in
    hash-seed order). Elements go one per line, sorted."""
    text = re.sub(r'\s*# handle \d+', '', text)
    out, i = [], 0
    while True:
        j = text.find('elements = {', i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k, depth, inq = j + len('elements = {'), 1, False
        start = k
        items, cur = [], ''
        while depth:
            c = text[k]
            if c == '"':
                inq = not inq
            elif not inq and c == '{':
                depth += 1
            elif not inq and c == '}':
                depth -= 1
                if not depth:
                    break
            if not inq and depth == 1 and c == ',':
                items.append(cur)
                cur = ''
            else:
                cur += c
            k += 1
        items.append(cur)
        items = sorted(' '.join(x.split()) for x in items if x.strip())
        ind = text[text.rfind('\n', 0, j) + 1:j]
        out.append('elements = {\n' + ''.join(f'{ind}\t{x},\n' for x in items) + ind + '}')
        i = k + 1
    return ''.join(out)


def test_dumps():
    regen = os.environ.get('FERRY_REGEN_DUMPS') == '1'
    states = sorted(glob.glob(os.path.join(DUMPS, '*.json')))
    check(len(states) >= 7, f'stored dump scenarios in {DUMPS}')
    for path in states:
        cleanup()
        p = subprocess.run([FERRY, 'apply-state', path], capture_output=True, text=True)
        if not check(p.returncode == 0, f'{path} applies: {p.stderr[-500:]}'):
            continue
        got = canonical_dump(nft('list', 'table', 'ip', 'ferry').stdout +
                             nft('list', 'table', 'ip6', 'ferry').stdout)
        want_path = path[:-len('.json')] + '.nft'
        if regen:
            with open(want_path, 'w') as f:
                f.write(got)
            print(f'wrote {want_path}')
            continue
        want = open(want_path).read() if os.path.exists(want_path) else ''
        if not check(got == want, f'{os.path.basename(want_path)} matches the ruleset '
                     '(after an intended change: FERRY_REGEN_DUMPS=1 ctest -R nft_netns)'):
            diff = difflib.unified_diff(want.splitlines(), got.splitlines(), 'stored', 'now', lineterm='')
            print('\n'.join(list(diff)[:60]), file=sys.stderr)


def main():
    fresh_netns.enter('FERRY_NETNS_TEST_INNER')
    for t in (test_expectations, test_big_service, test_reload, test_operator_table,
              test_cleanup_spares_a_running_agent, test_flush_repaired,
              test_node_change_rebuilds, test_affinity_kept, test_bad_input_keeps_state, test_property, test_property_via_update, test_dumps):
        n = failures
        t()
        print(f'{t.__name__}: {"ok" if failures == n else "FAILED"}')
    cleanup()
    print(f'netns_test: {failures} failed')
    sys.exit(1 if failures else 0)


main()
