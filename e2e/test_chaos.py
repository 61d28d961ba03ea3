# SPDX-License-Identifier: GPL-2.0-or-later
"""Chaos under load (issue 17): three nodes, 200 Services (ClusterIP, NodePort
and LoadBalancer; Cluster and Local; TCP and UDP; a layer-2 and a BGP
pool), bounded client loops through a ClusterIP (from two nodes), the
NodePort of every node, a layer-2 address (from the LAN client) and a BGP
address (from `remote`), while a seeded random schedule kills and restarts
agents, restarts the apiserver, compacts etcd, cuts nodes off the API, adds
API latency, cuts node links, scales the Deployment and edits a pool.

FERRY_CHAOS_MINUTES (2), FERRY_CHAOS_SEED (1) and FERRY_CHAOS_SERVICES
(200) set the run; the long variant is FERRY_CHAOS_MINUTES=10.

Report: requests sent and failed per path, each failure attributed to a
fault window the design allows (a node's link cut: its pods and its
announcements are unreachable until the address moves; an agent killed or
restarted: the gap until its layer-2 or BGP duty moves or comes back; a
scale-down: requests on the pods that go). The control plane's faults
(apiserver restart, compaction, API cut, API latency) and pool edits are
allowed no failure at all. Every request outside those windows succeeds;
no address is ever answered by two MACs; no allocation changes."""
import json
import os
import random
import shutil
import time

import pytest

from lib import l2probe, traffic

CLUSTER_ARGS = ["--nodes", "3", "--bgp", "--lb", "ferry"]
MINUTES = float(os.environ.get("FERRY_CHAOS_MINUTES", "2"))
SEED = int(os.environ.get("FERRY_CHAOS_SEED", "1"))
N_SVC = int(os.environ.get("FERRY_CHAOS_SERVICES", "200"))
NODES = ["node1", "node2", "node3"]
NODE_IP = {"node1": "192.0.2.11", "node2": "192.0.2.12", "node3": "192.0.2.13"}

L2_POOL = "192.0.2.150-192.0.2.199"
BGP_POOL = "203.0.113.100-203.0.113.199"


def config(extra_l2=""):
    return """
apiVersion: v1
kind: ConfigMap
metadata: {namespace: metallb-system, name: config}
data:
  config: |
    peers:
    - peer-address: 192.0.2.1
      peer-asn: 64512
      my-asn: 64513
    address-pools:
    - name: l2-pool
      protocol: layer2
      addresses:
      - %s%s
    - name: bgp-pool
      protocol: bgp
      addresses:
      - %s
""" % (L2_POOL, ("\n      - " + extra_l2) if extra_l2 else "", BGP_POOL)


def services(n):
    """(name, body): a quarter each ClusterIP (half UDP), NodePort,
    layer-2 LoadBalancer and BGP LoadBalancer; odd ones Local."""
    out = []
    for i in range(n):
        kind = ("cip", "np", "l2", "bgp")[i % 4]
        spec = {"selector": {"app": "chaos"},
                "ports": [{"port": 80, "targetPort": 80,
                           "protocol": "UDP" if kind == "cip" and i % 8 == 4 else "TCP"}]}
        meta = {"name": "%s-%03d" % (kind, i)}
        if kind == "np":
            spec["type"] = "NodePort"
        elif kind in ("l2", "bgp"):
            spec["type"] = "LoadBalancer"
            meta["annotations"] = {"metallb.universe.tf/address-pool": kind + "-pool"}
        if kind != "cip" and (i // 4) % 2:
            spec["externalTrafficPolicy"] = "Local"
        out.append((meta["name"], {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}))
    return out


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chaos"},
              "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "chaos"}},
                       # as a real server does on SIGTERM: serve on while
                       # the endpoint's removal reaches every node (200
                       # Services select these pods: the controller-manager
                       # rewrites 200 EndpointSlices at 20 QPS per scale)
                       "template": {"metadata": {"labels": {"app": "chaos"}, "annotations": {
                           "e2e.ferry.dev/terminating-seconds": "15"}}, "spec": {
                           "topologySpreadConstraints": [{
                               "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                               "whenUnsatisfiable": "ScheduleAnyway",
                               "labelSelector": {"matchLabels": {"app": "chaos"}}}],
                           "containers": [{"name": "app", "image": "e2e/podserver",
                                           "ports": [{"containerPort": 80}]}]}}}}


def lb_ips(c):
    return {s["metadata"]["name"]: [i["ip"] for i in s["status"].get("loadBalancer", {}).get("ingress", [])]
            for s in c.kjson("get", "services")["items"] if s["spec"]["type"] == "LoadBalancer"}


class Schedule:
    """The faults, one after another, each recorded as a window."""

    def __init__(self, c, rng):
        self.c, self.rng = c, rng
        self.windows = []        # (cause, node or None, start, end)
        self.replicas = 6
        self.extra = False
        self.faults = 0
        self.log = []            # (start, what node)

    def window(self, cause, node, start, grace):
        self.windows.append((cause, node, start, time.monotonic() + grace))

    def sleep(self, lo, hi):
        time.sleep(self.rng.uniform(lo, hi))

    def one(self):
        c, node = self.c, self.rng.choice(NODES)
        what = self.rng.choice(["agent-kill", "agent-restart", "api-restart", "api-compact", "api-cut",
                                "api-latency", "link-cut", "scale", "pool-edit"])
        t = time.monotonic()
        self.faults += 1
        self.log.append((t, "%s %s" % (what, node)))
        if what == "agent-kill":
            c.run("agent", "kill", node)
            self.sleep(2, 5)
            c.run("agent", "start", node)
            # layer 2 fails over in ~1 s; the BGP router keeps the dead
            # speaker's path until its hold timer (9 s) while the node's
            # rules still forward
            self.window(what, node, t, 4)
        elif what == "agent-restart":
            c.run("agent", "restart", node)
            self.window(what, node, t, 4)
        elif what == "api-restart":
            c.run("api", "restart")
        elif what == "api-compact":
            c.run("api", "compact")
        elif what == "api-cut":
            c.run("api", "cut", node)
            self.sleep(4, 10)
            c.run("api", "uncut", node)
        elif what == "api-latency":
            c.run("api", "latency", node, "500")
            self.sleep(4, 10)
            c.run("api", "latency", node, "0")
        elif what == "link-cut":
            c.run("node", "down", node)
            self.sleep(2, 5)
            c.run("node", "up", node)
            # the node's pods and announcements are cut off; BGP paths via
            # it linger until the router's hold timer expires
            self.window(what, node, t, 12)
        elif what == "scale":
            self.replicas = self.rng.choice([4, 5, 6, 7, 8])
            c.kubectl("scale", "deployment", "chaos", "--replicas", str(self.replicas))
            self.window(what, None, t, 6)
        elif what == "pool-edit":
            self.extra = not self.extra
            c.apply(config("192.0.2.140-192.0.2.149" if self.extra else ""))
        print("%7.1f s  %-13s %s" % (t - self.t0, what, node if what.startswith(("agent", "api-c",
                                                                                    "api-l", "link"))
                                       else ""), flush=True)
        self.sleep(2, 5)

    def run(self, seconds):
        self.t0 = time.monotonic()
        while time.monotonic() < self.t0 + seconds:
            self.one()


@pytest.fixture(scope="module")
def chaos(cluster):
    c = cluster
    c.apply(config())
    c.apply(json.dumps(DEPLOYMENT))
    c.burst("POST", [("/api/v1/namespaces/default/services", body) for _, body in services(N_SVC)])
    c.wait(lambda: len(c.ready_pods("app=chaos")) == 6, 120, "the 6 chaos pods Ready")
    c.wait(lambda: all(v for v in lb_ips(c).values()) and len(lb_ips(c)) == N_SVC // 2, 120,
           "every LoadBalancer Service with an address")
    yield c


def test_chaos_under_load(chaos):
    c = chaos
    rng = random.Random(SEED)
    ips = lb_ips(c)
    # Cluster-policy Services (even index within their kind) carry the probes
    l2_ip, bgp_ip = ips["l2-002"][0], ips["bgp-003"][0]
    np_ = c.kjson("get", "service", "np-001")["spec"]["ports"][0]["nodePort"]
    cip = c.kjson("get", "service", "cip-000")["spec"]["clusterIP"]
    c.macs = l2probe.node_macs(c, 3)
    c.wait(lambda: c.curl("client", "http://%s/" % l2_ip, check=False), 60, "the layer-2 address")
    c.wait(lambda: c.curl("remote", "http://%s/" % bgp_ip, check=False), 60, "the BGP address")

    seconds = MINUTES * 60
    paths = {  # name -> (loop, node it enters through or None when that moves)
        "layer-2 %s" % l2_ip: (traffic.get_loop(l2_ip, seconds + 15, 0.1, 2), None),
        "BGP %s from remote" % bgp_ip: (traffic.get_loop(bgp_ip, seconds + 15, 0.1, 2, where="remote"), None),
    }
    for n in NODES:
        paths["NodePort %s:%d" % (NODE_IP[n], np_)] = (
            traffic.get_loop(NODE_IP[n], seconds + 15, 0.1, 2, port=np_), n)
    for n in ("node1", "node3"):
        paths["ClusterIP %s from %s" % (cip, n)] = (traffic.get_loop(cip, seconds + 15, 0.1, 2, where=n), n)
    lan = l2probe.LanWatch()
    sched = Schedule(c, rng)
    try:
        time.sleep(3)
        sched.run(seconds)
        time.sleep(5)
    finally:
        for n in NODES:   # whatever a failed step left behind
            c.run("node", "up", n, check=False)
            c.run("api", "uncut", n, check=False)
            c.run("api", "latency", n, "0", check=False)
            c.run("agent", "start", n, check=False)
        rows = {name: loop.stop() for name, (loop, _) in paths.items()}
        lan.stop()

    # every failed request inside a window the design allows
    def explained(sent, entry):
        for cause, node, start, end in sched.windows:
            if not start <= sent <= end:
                continue
            # a cut link or a dead agent touches paths entering through that
            # node, paths whose entry moves (layer 2, BGP), and (a cut link)
            # every request that the Cluster policy sends to its pods
            if cause in ("scale", "link-cut") or entry is None or entry == node:
                return cause
        return None
    report, unexplained = [], []
    for name, r in rows.items():
        entry = paths[name][1]
        failed = traffic.failures(r)
        causes = {}
        for f in failed:
            why = explained(f[1], entry)
            if why is None:
                unexplained.append((name, f))
            causes[why] = causes.get(why, 0) + 1
        report.append("%-34s %5d sent %4d failed %s" % (name, len(r), len(failed), causes))
    print("\nchaos seed %d, %.1f min, %d faults:\n%s" % (SEED, MINUTES, sched.faults, "\n".join(report)))
    assert all(len(r) > seconds * 5 for r in rows.values()), "a probe did not run"
    if os.environ.get("FERRY_CHAOS_LOGS"):   # a folder: the logs outlive the cluster
        shutil.rmtree(os.environ["FERRY_CHAOS_LOGS"], ignore_errors=True)
        shutil.copytree(os.path.join(os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e"), "logs"),
                        os.environ["FERRY_CHAOS_LOGS"])
    if os.environ.get("FERRY_CHAOS_VERBOSE"):
        print("faults:", [(round(t - sched.t0, 1), w) for t, w in sched.log])
        for name, r in rows.items():
            print(name, [(round(f[1] - sched.t0, 2), round(f[2] - f[1], 2)) for f in traffic.failures(r)])
    for name, f in unexplained:
        before = [w for w in sched.log if w[0] <= f[1]]
        print("unexplained: %s request sent at %.2f s, failed after %.2f s; last faults before: %s" % (
            name, f[1] - sched.t0, f[2] - f[1], [(round(t - sched.t0, 1), w) for t, w in before[-3:]]))
    assert not unexplained, "failures outside every allowed window: %s" % unexplained[:10]
    assert not lan.doubles(), "answered by two MACs: %s" % lan.doubles()[:10]
    assert lb_ips(c) == ips, "an allocation changed"


STICKY = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sticky"},
          "spec": {"type": "NodePort", "selector": {"app": "chaos"}, "sessionAffinity": "ClientIP",
                   "ports": [{"port": 80, "targetPort": 80}]}}


def test_agent_restarts_lose_nothing(chaos):
    """`agent restart` on every node in turn under continuous traffic: no
    request fails (every node's NodePort, a layer-2 address), a connection
    held open across all three restarts completes, and a ClientIP-sticky
    client keeps its pod throughout."""
    c = chaos
    c.apply(json.dumps(STICKY))
    sticky_np = c.kjson("get", "service", "sticky")["spec"]["ports"][0]["nodePort"]
    np_ = c.kjson("get", "service", "np-001")["spec"]["ports"][0]["nodePort"]
    l2_ip = lb_ips(c)["l2-002"][0]
    c.wait(lambda: len(c.ready_pods("app=chaos")) >= 4, 120, "chaos pods Ready")
    url = "http://%s:%d/hostname" % (NODE_IP["node1"], sticky_np)
    first = c.wait(lambda: c.curl("client", url, check=False), 30, "the sticky Service")
    loops = {"layer-2 %s" % l2_ip: traffic.get_loop(l2_ip, 40, 0.05, 2)}
    for n in NODES:
        loops["NodePort %s:%d" % (NODE_IP[n], np_)] = traffic.get_loop(NODE_IP[n], 40, 0.05, 2, port=np_)
    # one connection held open for 25 s across the restarts, through node2
    held = traffic.Lines(["curl", "-s", "-m", "40", "-o", "/dev/null", "-w", "[0, 0, 0, %{http_code}]\\n",
                          "http://%s:%d/hold?s=25" % (NODE_IP["node2"], np_)])
    seen = []
    try:
        time.sleep(2)
        for n in NODES:
            c.run("agent", "restart", n)
            for _ in range(10):
                seen.append(c.curl("client", url, check=False))
                time.sleep(0.2)
    finally:
        rows = {name: loop.stop() for name, loop in loops.items()}
        held.p.wait(timeout=60)
        held.join(timeout=10)
        c.kubectl("delete", "service", "sticky", "--ignore-not-found")
    for name, r in rows.items():
        print("%s: %d requests, %d failed" % (name, len(r), len(traffic.failures(r))))
        assert len(r) > 100 and not traffic.failures(r), (name, traffic.failures(r)[:5])
    assert held.rows and held.rows[0][3] == 200, "the held connection: %s" % held.rows
    assert set(seen) == {first}, "the sticky client moved: %s -> %s" % (first, seen)
