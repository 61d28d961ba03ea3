#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ferry's nft/ benchmark, all measurements in one run (root; every
measurement in its own network namespace, removed afterwards).

  python3 bench/nft_bench.py [--build build-nft] [--sizes 1000,10000,30000]
                             [--kp-sizes 1000,10000] [--dp-sizes 1,10000]

Per size N (N Services x 10 endpoints, cluster IPs only):
  * ferry cold sync (nft_bench: the state built in memory, only the sync is
    timed) and the same ruleset loaded by `nft -f` (ferry's tables listed with
    `nft list table`, deleted, then loaded): the ratio is the headline;
  * one change at N: add a Service, change one endpoint (median of REPS),
    through nft_sync_update (a change list) and nft_sync_apply (whole state);
  * peak RSS of the syncing process;
  * kube-proxy's shape (<repo>/../shared/bench/kube_proxy_shaped_ruleset.py,
    or $FERRY_SHARED/bench/...) loaded
    by `nft -f`, and adding one Service to it, for --kp-sizes;
  * data plane (--dp-sizes): new TCP connections per second through a
    Service VIP against straight to the pod IP (bench/nft_load.c, 3 rounds
    of 3 s each way, medians).
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the shared folder sits next to the repository (FERRY_SHARED overrides it,
# e.g. from a worktree elsewhere)
SHARED = os.environ.get('FERRY_SHARED', os.path.join(ROOT, '..', 'shared'))
KP = os.path.join(SHARED, 'bench', 'kube_proxy_shaped_ruleset.py')
TIME = '/usr/bin/time'


def run(cmd, timeout=900, stdout=subprocess.PIPE):
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f'{cmd!r} failed: {p.stderr[-2000:]}')
    return p


def timed_nft_f(path, netns_prep=''):
    """nft -f PATH in a fresh namespace: wall s, sys s, user s, peak RSS MiB."""
    script = f'{netns_prep} {TIME} -f "%e %S %U %M" nft -f {path}'
    p = run(['unshare', '-n', 'sh', '-c', script])
    wall, sys_s, user, rss = p.stderr.strip().splitlines()[-1].split()
    return dict(wall_s=float(wall), sys_s=float(sys_s), user_s=float(user), rss_mib=int(rss) / 1024)


def sync_bench(build, n, reps, tmp):
    rs = os.path.join(tmp, f'ferry-{n}.nft')
    script = (f'{build}/bench/nft_bench {n} 10 {reps} && '
              f'nft list table ip ferry > {rs} && nft list table ip6 ferry >> {rs} && '
              f'nft delete table ip ferry && nft delete table ip6 ferry && '
              f'{TIME} -f "%e %S %U %M" nft -f {rs}')
    p = run(['unshare', '-n', 'sh', '-c', script])
    res = json.loads([l for l in p.stdout.splitlines() if l.startswith('{')][-1])
    wall, sys_s, user, rss = p.stderr.strip().splitlines()[-1].split()
    res.update(nft_f_wall_s=float(wall), nft_f_sys_s=float(sys_s), nft_f_user_s=float(user),
               nft_f_rss_mib=int(rss) / 1024, ruleset_lines=sum(1 for _ in open(rs)))
    res['ratio'] = res['cold_ms'] / 1000 / res['nft_f_wall_s']
    os.unlink(rs)
    return res


def kp_bench(n, tmp):
    base, extra = os.path.join(tmp, f'kp-{n}.nft'), os.path.join(tmp, f'kp-{n}-extra.nft')
    with open(base, 'w') as f:
        run([sys.executable, KP, str(n), '10'], stdout=f)
    with open(extra, 'w') as f:
        run([sys.executable, KP, str(n), '10', '--extra', '1'], stdout=f)
    cold = timed_nft_f(base)
    # one more Service on top of the loaded ruleset
    p = run(['unshare', '-n', 'sh', '-c', f'nft -f {base} && {TIME} -f "%e %S %U %M" nft -f {extra}'],
            timeout=1800)
    add = float(p.stderr.strip().splitlines()[-1].split()[0])
    os.unlink(base)
    os.unlink(extra)
    return dict(cold, add_one_s=add)


def dp_bench(build, n, tmp, rounds=5, secs=3.0):
    tag = f'fnb{os.getpid() % 100000}'
    ns = {r: f'{tag}-{r}' for r in ('client', 'node', 'pod')}
    procs, made = [], []
    ip = lambda *a: run(['ip', *a])
    try:
        for r in ns.values():
            ip('netns', 'add', r)
            made.append(r)
            ip('-n', r, 'link', 'set', 'lo', 'up')
        ip('-n', ns['node'], 'link', 'add', 'n0', 'type', 'veth', 'peer', 'name', 'c0', 'netns', ns['client'])
        ip('-n', ns['node'], 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'e0', 'netns', ns['pod'])
        # the client is a pod too (pod-to-Service traffic, as in a cluster):
        # no masquerading on either path, so the ratio is the rules' cost
        for r, dev, addr in (('node', 'n0', '198.18.254.1/24'), ('client', 'c0', '198.18.254.2/24'),
                             ('node', 'p0', '198.18.255.1/24'), ('pod', 'e0', '198.18.255.2/24')):
            ip('-n', ns[r], 'addr', 'add', addr, 'dev', dev)
            ip('-n', ns[r], 'link', 'set', dev, 'up')
        ip('-n', ns['client'], 'route', 'add', 'default', 'via', '198.18.254.1')
        ip('-n', ns['pod'], 'route', 'add', 'default', 'via', '198.18.255.1')
        run(['ip', 'netns', 'exec', ns['node'], 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
        run(['ip', 'netns', 'exec', ns['client'], 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000'])
        # N Services; number 0 is the one under test, its endpoint the real pod
        svcs = []
        for s in range(n):
            eps = ([{'ip': '198.18.255.2', 'port': 8080, 'local': True}] if s == 0 else
                   [{'ip': f'198.18.{(s * 10 + k) // 250 % 250}.{(s * 10 + k) % 250 + 1}', 'port': 8080}
                    for k in range(10)])
            svcs.append({'key': f'ns{s % 50}/svc{s}:http/tcp', 'port': 80,
                         'clusterIPs': [f'198.19.{(s + 1) // 256}.{(s + 1) % 256}'], 'endpoints': eps})
        state = os.path.join(tmp, 'dp.json')
        with open(state, 'w') as f:
            json.dump({'node': {'podCIDRs': ['198.18.0.0/16']}, 'services': svcs}, f)
        run(['ip', 'netns', 'exec', ns['node'], f'{build}/src/ferry', 'apply-state', state])
        p = subprocess.Popen(['ip', 'netns', 'exec', ns['pod'], f'{build}/bench/nft_load', 'serve', '8080'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == 'ready'
        load = lambda host, port: json.loads(run(['ip', 'netns', 'exec', ns['client'], f'{build}/bench/nft_load',
                                                  'run', host, str(port), str(secs)]).stdout)
        vip, direct = [], []
        for _ in range(rounds):
            direct.append(load('198.18.255.2', 8080))
            vip.append(load('198.19.0.1', 80))
        dm = statistics.median(r['per_s'] for r in direct)
        vm = statistics.median(r['per_s'] for r in vip)
        return dict(services=n, direct_per_s=dm, vip_per_s=vm, ratio=vm / dm,
                    errors=sum(r['errors'] for r in direct + vip))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for r in made:
            subprocess.run(['ip', 'netns', 'del', r], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build-nft'))
    ap.add_argument('--sizes', default='1000,10000,30000')
    ap.add_argument('--kp-sizes', default='1000,10000')
    ap.add_argument('--dp-sizes', default='1,10000')
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--dp-rounds', type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix='ferry-bench-')
    out = {'sync': [], 'kube_proxy_shape': [], 'dataplane': []}
    try:
        for n in [int(x) for x in a.sizes.split(',') if x]:
            r = sync_bench(build, n, a.reps, tmp)
            out['sync'].append(r)
            print(json.dumps(r), flush=True)
        for n in [int(x) for x in a.kp_sizes.split(',') if x]:
            r = dict(services=n, **kp_bench(n, tmp))
            out['kube_proxy_shape'].append(r)
            print(json.dumps(r), flush=True)
        for n in [int(x) for x in a.dp_sizes.split(',') if x]:
            r = dp_bench(build, n, tmp, rounds=a.dp_rounds)
            out['dataplane'].append(r)
            print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print('\n| Services x 10 eps | ferry cold sync (kernel part) | `nft -f` same ruleset (wall / sys) | ratio '
          '| add one Service: update / apply | change one endpoint: update / apply | peak RSS |')
    print('|---|---|---|---|---|---|---|')
    for r in out['sync']:
        print(f"| {r['services']:,} | {r['cold_ms']:.0f} ms ({r['cold_kernel_ms']:.0f} ms) "
              f"| {r['nft_f_wall_s']:.2f} s / {r['nft_f_sys_s']:.2f} s "
              f"| {r['ratio']:.2f}x | {r['add_one_ms']:.3f} / {r['apply_add_one_ms']:.2f} ms "
              f"| {r['change_ep_ms']:.3f} / {r['apply_change_ep_ms']:.2f} ms "
              f"| {r['rss_peak_kib'] / 1024:.1f} MiB |")
    if out['kube_proxy_shape']:
        print('\n| Services x 10 eps | kube-proxy shape `nft -f` (wall / sys) | nft peak RSS | add one Service |')
        print('|---|---|---|---|')
        for r in out['kube_proxy_shape']:
            print(f"| {r['services']:,} | {r['wall_s']:.2f} s / {r['sys_s']:.2f} s | {r['rss_mib']:.0f} MiB "
                  f"| {r['add_one_s'] * 1000:.0f} ms |")
    if out['dataplane']:
        print('\n| Services | direct to pod (new conn/s) | through VIP (new conn/s) | ratio |')
        print('|---|---|---|---|')
        for r in out['dataplane']:
            print(f"| {r['services']:,} | {r['direct_per_s']:.0f} | {r['vip_per_s']:.0f} | {r['ratio']:.3f} |")


if __name__ == '__main__':
    main()
