#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""LoadBalancer allocation latency: ferry's allocator vs MetalLB v0.15.2's
controller, same cluster, same run (issue 13).

    flock /tmp/ferry-cluster.lock bench/lb_alloc_latency.py [--n 1000] [--nodes 2]
        [--workers 8] [--timeout 300] [--no-up]

Brings up `e2e/cluster up --nodes N --lb both`: MetalLB's controller takes
Services of class e2e.ferry.dev/metallb, ferry's agents those without a
class. Both read the same metallb.io CRs, so two IPAddressPools that do not
overlap keep them apart by serviceAllocation.serviceSelectors: pool
bench-ferry (198.18.200.0/23) serves label alloc=ferry, bench-metallb
(198.18.202.0/23) alloc=metallb. 198.18.200.0/22 is used by no pod or
Service of the e2e cluster (docs/e2e.md).

N Services (half each, interleaved) are POSTed by a few threads from the
root namespace, as a busy deployment tool would. A watch on the namespace,
opened before the first POST, timestamps on arrival the ADDED event and the
first event carrying status.loadBalancer.ingress: latency = the difference,
both client-side on one clock and one stream. Prints p50/p99/max per
allocator as a Markdown table, and the command. Tears the cluster down
unless --no-up (then it uses the running one and only deletes its
namespace).
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLUSTER = os.path.join(REPO, "e2e", "cluster")
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
PKI = os.path.join(STATE, "pki")
sys.path.insert(0, os.path.join(REPO, "e2e"))
from lib.kubeapi import ApiError, Client  # noqa: E402

NS = "lbbench"
METALLB_CLASS = "e2e.ferry.dev/metallb"
POOLS = {"ferry": "198.18.200.0/23", "metallb": "198.18.202.0/23"}   # 512 addresses each


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def client():
    return Client("https://127.0.0.1:6443", os.path.join(PKI, "ca.crt"),
                  os.path.join(PKI, "admin.crt"), os.path.join(PKI, "admin.key"))


def cluster(*args, check=True):
    p = subprocess.run([CLUSTER, *args], capture_output=True, text=True, timeout=900)
    if check and p.returncode:
        sys.exit("e2e/cluster %s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


def pool(name, cidr, alloc):
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": "metallb-system"},
            "spec": {"addresses": [cidr], "serviceAllocation": {
                "serviceSelectors": [{"matchLabels": {"alloc": alloc}}]}}}


def service(i):
    who = "ferry" if i % 2 == 0 else "metallb"
    spec = {"type": "LoadBalancer", "selector": {"app": "lbbench-none"},
            "allocateLoadBalancerNodePorts": False,
            "ports": [{"name": "http", "port": 80, "targetPort": 80}]}
    if who == "metallb":
        spec["loadBalancerClass"] = METALLB_CLASS
    return who, {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "lb-%05d" % i, "namespace": NS, "labels": {"alloc": who}},
                 "spec": spec}


class Watcher(threading.Thread):
    """ADDED and first-ingress arrival times per Service name."""

    def __init__(self, api, rv):
        super().__init__(daemon=True)
        self.api, self.rv = api, rv
        self.added, self.ip = {}, {}
        self.done = False
        self.error = None

    def run(self):
        path = "/api/v1/namespaces/%s/services" % NS
        try:
            while not self.done:
                for typ, obj in self.api.watch(path, {"resourceVersion": self.rv}, lambda: self.done):
                    now = time.monotonic()
                    if typ == "BOOKMARK":
                        self.rv = obj["metadata"]["resourceVersion"]
                        continue
                    if typ == "ERROR":
                        raise RuntimeError("watch error: %s" % obj)
                    self.rv = obj["metadata"]["resourceVersion"]
                    name = obj["metadata"]["name"]
                    self.added.setdefault(name, now)
                    if obj.get("status", {}).get("loadBalancer", {}).get("ingress"):
                        self.ip.setdefault(name, now)
        except Exception as e:  # the main thread reports it
            self.error = e


def pct(xs, p):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="Services in all (half each allocator)")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--workers", type=int, default=8, help="concurrent POSTs")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to wait for every IP")
    ap.add_argument("--no-up", action="store_true", help="use the running --lb both cluster")
    a = ap.parse_args()
    if (a.n + 1) // 2 > 512:
        sys.exit("--n: at most 1024 (two pools of 512 addresses)")
    if not a.no_up:
        log("e2e/cluster up --nodes %d --lb both" % a.nodes)
        cluster("up", "--nodes", str(a.nodes), "--lb", "both")
    try:
        return run(a)
    finally:
        if a.no_up:
            client().request("DELETE", "/api/v1/namespaces/" + NS, ok=(200, 202, 404))
        else:
            cluster("down", check=False)


def run(a):
    api = client()
    for who, cidr in POOLS.items():
        body = pool("bench-" + who, cidr, who)
        try:
            api.post("/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools", body)
        except ApiError as e:
            if e.status != 409:
                raise
    api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": NS}}, ok=(201, 409))
    time.sleep(3)  # both allocators see the pools before the first Service
    rv = api.get("/api/v1/namespaces/%s/services" % NS)["metadata"]["resourceVersion"]
    w = Watcher(client(), rv)
    w.start()

    log("creating %d Services with %d workers" % (a.n, a.workers))
    owner = {}
    t0 = time.monotonic()
    failed = []

    def post(i):
        who, body = service(i)
        owner[body["metadata"]["name"]] = who
        try:
            api.post("/api/v1/namespaces/%s/services" % NS, body)
        except ApiError as e:
            failed.append((body["metadata"]["name"], str(e)))
    with concurrent.futures.ThreadPoolExecutor(a.workers) as ex:
        list(ex.map(post, range(a.n)))
    created = time.monotonic() - t0
    log("created in %.1f s (%d POSTs failed)" % (created, len(failed)))

    want = set(owner) - {n for n, _ in failed}
    end = time.monotonic() + a.timeout
    while time.monotonic() < end and not want <= set(w.ip) and not w.error:
        time.sleep(0.5)
    w.done = True
    if w.error:
        log("watch failed: %s" % w.error)

    rows = []
    for who in ("ferry", "metallb"):
        names = [n for n in want if owner[n] == who]
        lat = sorted((w.ip[n] - w.added[n]) * 1000 for n in names if n in w.ip and n in w.added)
        rows.append((who, len(names), len(lat), pct(lat, 50), pct(lat, 99), lat[-1] if lat else float("nan")))
    cmd = "flock /tmp/ferry-cluster.lock bench/lb_alloc_latency.py --n %d --nodes %d --workers %d" % (
        a.n, a.nodes, a.workers)
    print("\n`%s` (Services created in %.1f s)\n" % (cmd, created))
    print("| allocator | Services | allocated | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for who, n, got, p50, p99, mx in rows:
        print("| %s | %d | %d | %.0f | %.0f | %.0f |" % (who, n, got, p50, p99, mx))
    print(json.dumps({"n": a.n, "nodes": a.nodes, "workers": a.workers, "create_s": round(created, 2),
                      "post_failures": len(failed),
                      "results": {r[0]: {"services": r[1], "allocated": r[2], "p50_ms": r[3],
                                         "p99_ms": r[4], "max_ms": r[5]} for r in rows}}))
    return 0 if all(r[1] == r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
