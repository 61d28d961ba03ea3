#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""BGP announce and withdraw latency from 3 nodes (issue 15): the speakers
-> the router's BIRD 2 -> its kernel table; ferry's agents and, in the same
run, MetalLB v0.15.2's speakers (native BGP mode) as the reference.

    flock /tmp/ferry-cluster.lock bench/bgp_latency.py [--n 1000] [--family 6]
        [--impl ferry,metallb] [--workers 8] [--timeout 300] [--no-up]

For each implementation, `e2e/cluster up --nodes 3 --bgp [--ipv6] --lb
IMPL` with metallb.io resources: the router as BGPPeer, pool bgp-bench
(IPv6 2001:db8:300::/118, 1,024 /128s; IPv4 203.0.113.0/24, 256 /32s) and
a BGPAdvertisement. MetalLB's native speaker announces IPv4 only, so the
side-by-side run is `--family 4 --n 250`. A Deployment puts one ready pod
on each node; N Services (externalTrafficPolicy Local, that pool) select it.

Announce: a watch on the Services timestamps the first event carrying
status.loadBalancer.ingress; `ip monitor route` in the router's namespace
timestamps each kernel route change on arrival. Latency per Service = its
host route with a next hop per node in the kernel minus its address in the
status (one clock, the root namespace's).
Withdraw: node1's pod is made unready (`e2e/cluster pod unready`);
latency per prefix = node1's next hop gone from its kernel route minus
the moment before the command. Prints p50/p99/max as Markdown.
"""
import argparse
import concurrent.futures
import json
import os
import re
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

NS = "bgpbench"
NODES = {"2001:db8::%d" % (10 + k): "node%d" % k for k in (1, 2, 3)}
NODES.update({"192.0.2.%d" % (10 + k): "node%d" % k for k in (1, 2, 3)})
POOL = {6: "2001:db8:300::/118", 4: "203.0.113.0/24"}
PREFIX = {6: r"2001:db8:300::[0-9a-f]*", 4: r"203\.0\.113\.\d+"}


def resources(family):
    return [
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": "bgp-bench", "namespace": "metallb-system"},
         "spec": {"addresses": [POOL[family]], "autoAssign": False}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
         "metadata": {"name": "bgp-bench", "namespace": "metallb-system"},
         "spec": {"ipAddressPools": ["bgp-bench"]}},
        {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
         "metadata": {"name": "router", "namespace": "metallb-system"},
         "spec": {"peerAddress": "192.0.2.1", "peerASN": 64512, "myASN": 64513}},
    ]


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


def service(i, family):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "bgp-%05d" % i, "namespace": NS,
                         "annotations": {"metallb.universe.tf/address-pool": "bgp-bench"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "bgpbench"},
                     "ipFamilies": ["IPv%d" % family], "externalTrafficPolicy": "Local",
                     "allocateLoadBalancerNodePorts": False,
                     "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}


class Watcher(threading.Thread):
    """First-ingress arrival time and address per Service name."""

    def __init__(self, api, rv):
        super().__init__(daemon=True)
        self.api, self.rv = api, rv
        self.ip, self.addr = {}, {}
        self.done = False
        self.error = None
        self.missed = 0

    def run(self):
        path = "/api/v1/namespaces/%s/services" % NS
        while not self.done:
            try:
                for typ, obj in self.api.watch(path, {"resourceVersion": self.rv}, lambda: self.done):
                    now = time.monotonic()
                    if typ == "ERROR":
                        raise RuntimeError("watch error: %s" % obj)
                    self.rv = obj["metadata"]["resourceVersion"]
                    ing = obj.get("status", {}).get("loadBalancer", {}).get("ingress")
                    if ing and obj["metadata"]["name"] not in self.ip:
                        self.ip[obj["metadata"]["name"]] = now
                        self.addr[obj["metadata"]["name"]] = ing[0]["ip"]
            except Exception as e:
                # a broken watch (410, a dropped stream): watch on from a
                # fresh list; an address that arrived in between has no
                # arrival time and is left out of the figures, not guessed
                log("services watch: %s; watching on from a new list" % e)
                self.missed += 1
                try:
                    self.rv = self.api.get(path)["metadata"]["resourceVersion"]
                except Exception as e2:
                    self.error = e2
                    return


class Slices(threading.Thread):
    """First arrival of an EndpointSlice with a ready endpoint, per Service:
    announcing waits for it (the controller-manager writes slices at its
    own API rate, 20 QPS by default), so it is part of the start line."""

    def __init__(self, api, rv):
        super().__init__(daemon=True)
        self.api, self.rv = api, rv
        self.ready, self.node1_unready = {}, {}
        self.done = self.watch_node1 = False

    def run(self):
        path = "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % NS
        try:
            while not self.done:
                for typ, obj in self.api.watch(path, {"resourceVersion": self.rv}, lambda: self.done):
                    now = time.monotonic()
                    if typ == "ERROR":
                        return
                    self.rv = obj["metadata"]["resourceVersion"]
                    svc = obj["metadata"].get("labels", {}).get("kubernetes.io/service-name")
                    eps = obj.get("endpoints") or []
                    if svc and any(e.get("conditions", {}).get("ready") for e in eps):
                        self.ready.setdefault(svc, now)
                    if svc and self.watch_node1 and not any(
                            e.get("nodeName") == "node1" and e.get("conditions", {}).get("ready")
                            for e in eps):
                        self.node1_unready.setdefault(svc, now)
        except Exception:
            return


class Routes(threading.Thread):
    """`ip monitor route` in the router: per host route, the latest next-hop
    set and when it first had all three nodes / when node1 left it."""

    def __init__(self, family):
        super().__init__(daemon=True)
        self.prefix = re.compile(r"(?:Deleted )?(%s)(?:/(?:128|32))? " % PREFIX[family])
        # line-buffered: a pipe would hold the last few KiB until exit
        self.p = subprocess.Popen([CLUSTER, "exec", "router", "--", "stdbuf", "-oL",
                                   "ip", "-%d" % family, "monitor", "route"],
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.hops, self.full, self.node1_gone = {}, {}, {}
        self.watch_node1 = False

    def record(self, lines, now):
        head = lines[0]
        deleted = head.startswith("Deleted ")
        m = self.prefix.match(head)
        if not m:
            return
        pfx = m.group(1)
        hops = set() if deleted else {NODES.get(h) for h in re.findall(r"via (?:inet6 )?([0-9a-f:.]+)",
                                                                       " ".join(lines))}
        self.hops[pfx] = hops
        if len(hops) == 3:
            self.full.setdefault(pfx, now)
        # a record is read line by line (one netlink message, so within
        # microseconds): judge it once it names a next hop, or is a delete
        if self.watch_node1 and (deleted or hops) and "node1" not in hops:
            self.node1_gone.setdefault(pfx, now)

    def run(self):
        rec = []
        for line in self.p.stdout:
            now = time.monotonic()
            if not line.startswith((" ", "\t")):
                rec = []
            rec.append(line.rstrip("\n"))
            self.record(rec, now)

    def stop(self):
        self.p.terminate()


def pct(xs, p):
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def row(impl, name, lat):
    lat = sorted(lat)
    return "| %s | %s | %d | %.0f | %.0f | %.0f |" % (impl, name, len(lat), pct(lat, 50), pct(lat, 99),
                                                      lat[-1] if lat else float("nan"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--family", type=int, choices=(4, 6), default=6)
    ap.add_argument("--impl", default="ferry", help="comma-separated: ferry, metallb")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--no-up", action="store_true")
    a = ap.parse_args()
    if a.n > (1024 if a.family == 6 else 256):
        sys.exit("--n: at most 1024 (IPv6) or 256 (IPv4)")
    impls = a.impl.split(",")
    if "metallb" in impls and a.family == 6:
        sys.exit("MetalLB's native BGP speaker announces IPv4 only: --family 4")
    rows, rc = [], 0
    for impl in impls:
        up = ["--nodes", "3", "--bgp"] + (["--ipv6"] if a.family == 6 else []) + ["--lb", impl]
        if not a.no_up:
            log("e2e/cluster up %s" % " ".join(up))
            cluster("up", *up)
        try:
            r, ok = run(a, impl)
            rows += r
            rc |= 0 if ok else 1
        finally:
            if not a.no_up:
                cluster("down", check=False)
    cmd = "flock /tmp/ferry-cluster.lock bench/bgp_latency.py --n %d --family %d --impl %s --workers %d" % (
        a.n, a.family, a.impl, a.workers)
    print("\n`%s`\n" % cmd)
    print("| speaker | what | prefixes | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(r)
    return rc


def run(a, impl):
    api = client()
    for r in resources(a.family):
        plural = r["kind"].lower() + ("es" if r["kind"].endswith("s") else "s")
        api.request("POST", "/apis/%s/namespaces/metallb-system/%s" % (r["apiVersion"], plural), r,
                    ok=(201, 409))
    api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": NS}}, ok=(201, 409))
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bgpbench", "namespace": NS},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "bgpbench"}},
                    "template": {"metadata": {"labels": {"app": "bgpbench"}}, "spec": {
                        "topologySpreadConstraints": [{
                            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": {"app": "bgpbench"}}}],
                        "containers": [{"name": "app", "image": "e2e/podserver",
                                        "ports": [{"containerPort": 80}]}]}}}}
    api.request("POST", "/apis/apps/v1/namespaces/%s/deployments" % NS, dep, ok=(201, 409))
    end = time.monotonic() + 120
    pods = []
    while time.monotonic() < end:
        pods = [p for p in api.get("/api/v1/namespaces/%s/pods?labelSelector=app%%3Dbgpbench" % NS)["items"]
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in p.get("status", {}).get("conditions", []))]
        if len(pods) == 3:
            break
        time.sleep(1)
    if len(pods) != 3:
        sys.exit("the 3 bench pods are not ready")
    node1_pod = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "node1"][0]
    time.sleep(2)  # the agents see the configuration and the sessions are up

    routes = Routes(a.family)
    routes.start()
    rv = api.get("/api/v1/namespaces/%s/services" % NS)["metadata"]["resourceVersion"]
    w = Watcher(client(), rv)
    w.start()
    srv = api.get("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % NS)["metadata"]["resourceVersion"]
    sl = Slices(client(), srv)
    sl.start()
    log("creating %d Services with %d workers" % (a.n, a.workers))
    t0 = time.monotonic()
    failed = []

    posted = {}

    def post(i):
        try:
            api.post("/api/v1/namespaces/%s/services" % NS, service(i, a.family))
            posted["bgp-%05d" % i] = time.monotonic()
        except ApiError as e:
            failed.append(str(e))
    with concurrent.futures.ThreadPoolExecutor(a.workers) as ex:
        list(ex.map(post, range(a.n)))
    created = time.monotonic() - t0
    log("created in %.1f s (%d failed)" % (created, len(failed)))
    want = a.n - len(failed)
    end = time.monotonic() + a.timeout
    while time.monotonic() < end and not w.error:
        got = [w.addr[n] for n in w.addr]
        if len(got) >= want and all(ip in routes.full for ip in got):
            break
        if w.missed and time.monotonic() > end - a.timeout + 60 and all(ip in routes.full for ip in got):
            break   # some arrivals were missed by the watch: they never come
        time.sleep(0.5)
    w.done = True
    announce = [(routes.full[w.addr[n]] - w.ip[n]) * 1000 for n in w.addr if w.addr[n] in routes.full]
    # what a user sees: from the API's answer to the POST
    e2e = [(routes.full[w.addr[n]] - posted[n]) * 1000 for n in w.addr
           if w.addr[n] in routes.full and n in posted]
    # from the later of the address and a ready endpoint: ferry's and BIRD's part
    ready = [(routes.full[w.addr[n]] - max(w.ip[n], sl.ready[n])) * 1000 for n in w.addr
             if w.addr[n] in routes.full and n in sl.ready]
    log("announced: %d of %d with three next hops (%d Services' addresses arrived while the "
        "watch was down)" % (len(announce), want, want - len(w.addr)))

    # withdraw: the last local endpoint on node1 goes
    routes.watch_node1 = sl.watch_node1 = True
    t1 = time.monotonic()
    cluster("pod", "unready", node1_pod)
    end = time.monotonic() + a.timeout
    ips = set(w.addr.values())
    while time.monotonic() < end and not ips <= set(routes.node1_gone):
        time.sleep(0.5)
    withdraw = [(routes.node1_gone[ip] - t1) * 1000 for ip in ips if ip in routes.node1_gone]
    from_slice = [(routes.node1_gone[w.addr[n]] - sl.node1_unready[n]) * 1000 for n in w.addr
                  if w.addr[n] in routes.node1_gone and n in sl.node1_unready]
    sl.done = True
    routes.stop()

    log("%s: Services created in %.1f s; %s" % (impl, created, json.dumps(
        {"n": a.n, "announced": len(announce), "withdrawn": len(withdraw)})))
    host = "/128" if a.family == 6 else "/32"
    rows = [row(impl, "Service POST answered -> %s with 3 next hops in the router's kernel" % host, e2e),
            row(impl, "address in status -> the same", announce),
            row(impl, "address and ready endpoint both there -> the same", ready),
            row(impl, "node1's pod unready -> node1's next hop gone", withdraw),
            row(impl, "its EndpointSlice says so -> the same", from_slice)]
    return rows, len(announce) == len(w.addr) and len(withdraw) == len(ips)


if __name__ == "__main__":
    sys.exit(main())
