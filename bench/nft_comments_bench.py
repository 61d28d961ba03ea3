#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What element and chain comments cost (issue 12): two builds of nft_bench
(one without the comments, one with), alternated in one run, each round in
its own network namespace (root):

  python3 bench/nft_comments_bench.py --before BUILD_A --after BUILD_B [--n 10000] [--rounds 3]

Per round and build, in a fresh `unshare -n`: `nft_bench N 10 1` (cold sync
of N Services x 10 endpoints, cluster IPs only), then `nft list ruleset`
(wall time, bytes, lines), `ferry explain ns1/svc1` where the build
has it, then both ferry tables deleted and, after the
kernel's deferred frees, /proc/meminfo read again: the drop in Slab and
SUnreclaim is what the tables held (global counters: other activity on the
machine is noise, hence the rounds). Prints medians and after/before ratios.
"""
import argparse, json, os, statistics, subprocess, sys, time


def meminfo():
    m = {}
    for line in open('/proc/meminfo'):
        k, v = line.split(':')
        m[k] = int(v.split()[0])
    return m


def inner(build, n):
    out = subprocess.run([f'{build}/bench/nft_bench', str(n), '10', '1'], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    res = json.loads([l for l in out.splitlines() if l.startswith('{')][-1])
    t = time.monotonic()
    listing = subprocess.run(['nft', 'list', 'ruleset'], check=True, stdout=subprocess.PIPE).stdout
    res['list_s'] = time.monotonic() - t
    res['list_bytes'] = len(listing)
    res['list_lines'] = listing.count(b'\n')
    # `ferry explain` of one Service, where the build has it (after only)
    t = time.monotonic()
    ex = subprocess.run([f'{build}/src/ferry', 'explain', 'ns1/svc1'], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
    if ex.returncode == 0:
        res['explain_s'] = time.monotonic() - t
        res['explain_lines'] = ex.stdout.count(b'\n')
    full = meminfo()
    subprocess.run(['nft', 'delete table ip ferry; delete table ip6 ferry'], check=True)
    time.sleep(3)	# element frees run from a worker after the commit (RCU)
    empty = meminfo()
    res['slab_kib'] = full['Slab'] - empty['Slab']
    res['sunreclaim_kib'] = full['SUnreclaim'] - empty['SUnreclaim']
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--before', required=True)
    ap.add_argument('--after', required=True)
    ap.add_argument('--n', type=int, default=10000)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--inner', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        return inner(a.inner, a.n)
    runs = {'before': [], 'after': []}
    for r in range(a.rounds):
        for name in (('before', 'after') if r % 2 == 0 else ('after', 'before')):
            p = subprocess.run(['unshare', '-n', sys.executable, os.path.abspath(__file__),
                                '--before', '-', '--after', '-', '--n', str(a.n),
                                '--inner', os.path.abspath(getattr(a, name))],
                               check=True, stdout=subprocess.PIPE, text=True)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            runs[name].append(res)
            print(name, json.dumps({k: res[k] for k in ('cold_ms', 'cold_kernel_ms', 'list_s', 'list_bytes',
                                                        'slab_kib', 'sunreclaim_kib', 'explain_s') if k in res}),
                  flush=True)
    keys = ('cold_ms', 'cold_kernel_ms', 'list_s', 'list_bytes', 'list_lines', 'slab_kib', 'sunreclaim_kib',
            'rss_after_kib')
    print(f'{"median of " + str(a.rounds):>16} {"before":>12} {"after":>12} {"after/before":>13}')
    for k in keys:
        if k not in runs['before'][0]:
            continue
        b = statistics.median(x[k] for x in runs['before'])
        f = statistics.median(x[k] for x in runs['after'])
        print(f'{k:>16} {b:>12.3f} {f:>12.3f} {f / b if b else float("nan"):>13.2f}')
    ex = [x['explain_s'] for x in runs['after'] if 'explain_s' in x]
    if ex:
        print(f'ferry explain ns1/svc1 (after): median {statistics.median(ex):.3f} s, '
              f'{runs["after"][0]["explain_lines"]} lines')


if __name__ == '__main__':
    main()
