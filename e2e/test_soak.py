# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak (issue 17): many Services on a 2-node cluster under steady churn; the
agents' resident memory, open file descriptors and nftables objects must
stay flat, and the cluster must still forward at the end.

FERRY_SOAK_SERVICES (500) and FERRY_SOAK_MINUTES (1) set the run; the
long variant is FERRY_SOAK_SERVICES=10000 FERRY_SOAK_MINUTES=60.
FERRY_SOAK_RATE (5) is changes per second; FERRY_SOAK_OUT names a JSON
file for the samples.

The Services are selectorless ClusterIPs, each with an EndpointSlice of the
test's pods, plus LoadBalancer Services allocated by the agents from a
layer-2 pool. Churn, chosen by a seeded generator, every change undone
later: an EndpointSlice shrunk to one pod and restored, a Service deleted
and created again, a Service's port moved and moved back, a LoadBalancer
Service deleted and created again (its address freed and allocated).

Flat means: after the churn is undone, each agent's nftables object count
(chains, rules, sets and their elements, from the kernel) equals the count
before the churn; file descriptors are what they were after the load; the
resident set grows by at most 5 % + 4 MiB from the end of the first
quarter of the run (the warm-up: caches and allocator arenas fill) to the
end."""
import json
import os
import random
import subprocess
import time

import pytest

from lib import metallb, net
from lib.kubeapi import ApiError
from test_proxy import deployment

CLUSTER_ARGS = ["--nodes", "2", "--lb", "ferry"]
N_SVC = int(os.environ.get("FERRY_SOAK_SERVICES", "500"))
MINUTES = float(os.environ.get("FERRY_SOAK_MINUTES", "1"))
RATE = float(os.environ.get("FERRY_SOAK_RATE", "5"))
N_LB = 20
POOL = "198.51.100.10-198.51.100.59"
NODES = ("node1", "node2")
NS = "default"
SVC = "/api/v1/namespaces/%s/services" % NS
EPS = "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % NS
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")


def svc_body(name, port=80, lb=False):
    spec = {"ports": [{"name": "http", "port": port, "targetPort": 80, "protocol": "TCP"}]}
    if lb:
        spec.update(type="LoadBalancer", selector={"app": "soak"})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"e2e.ferry.dev/soak": "1"}}, "spec": spec}


def slice_body(name, pods):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name + "-1",
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by": "e2e.ferry.dev"}},
            "endpoints": [{"addresses": [ip], "nodeName": node,
                           "conditions": {"ready": True, "serving": True, "terminating": False}}
                          for ip, node in pods],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}


def agent_pid(node):
    pid = net.read_pid(os.path.join(STATE, "pids"), "agent-" + node)
    assert pid and net.pid_alive(pid), "agent on %s is running" % node
    return pid


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def nft_objects(node):
    """Chains, rules, sets and set elements of ferry's tables, from the kernel."""
    out = subprocess.run(["ip", "netns", "exec", node, "nft", "-j", "list", "ruleset"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    n = 0
    for o in json.loads(out)["nftables"]:
        kind, body = next(iter(o.items()))
        if not isinstance(body, dict) or not str(body.get("table", "")).startswith("ferry"):
            continue
        if kind in ("chain", "rule"):
            n += 1
        elif kind in ("set", "map"):
            n += 1 + len(body.get("elem", []))
    return n


def retried(fn, errors, attempts=5):
    """An API write; an overloaded apiserver's refusal is retried, and
    counted. A 404 on a delete or 409 on a create means an earlier try
    went through."""
    for k in range(attempts):
        try:
            return fn()
        except ApiError as e:
            if e.status in (404, 409):
                return None
            errors.append(repr(e))
        except OSError as e:
            errors.append(repr(e))
        time.sleep(0.5 * (k + 1))
    raise AssertionError("the API refused a write %d times: %s" % (attempts, errors[-1]))


def sample(t0):
    s = {"t": round(time.monotonic() - t0, 1)}
    for node in NODES:
        pid = agent_pid(node)
        s[node] = {"pid": pid, "rss_kib": rss_kib(pid), "fds": len(os.listdir("/proc/%d/fd" % pid)),
                   "nft_objects": nft_objects(node)}
    return s


@pytest.fixture(scope="module")
def soak(cluster):
    c = cluster
    c.apply(json.dumps(deployment("soak", 2)))
    c.wait(lambda: len(c.ready_pods("app=soak")) == 2, 120, "soak pods ready")
    pods = sorted((p["status"]["podIP"], p["spec"]["nodeName"]) for p in c.ready_pods("app=soak"))
    metallb.apply_pool(c.kubectl, "soak", [POOL])
    names = ["soak-%05d" % i for i in range(N_SVC)]
    c.burst("POST", [(EPS, slice_body(n, pods)) for n in names])
    c.burst("POST", [(SVC, svc_body(n)) for n in names])
    c.burst("POST", [(SVC, svc_body("soak-lb-%02d" % i, lb=True)) for i in range(N_LB)])
    return c, pods, names


def settle(c, node_port_svc):
    """Every agent caught up: a Service created now answers on both nodes."""
    body = svc_body(node_port_svc)
    body["spec"].update(type="NodePort", selector={"app": "soak"})
    c.burst("POST", [(SVC, body)])
    np_ = c.kjson("get", "service", node_port_svc)["spec"]["ports"][0]["nodePort"]
    for ip in ("192.0.2.11", "192.0.2.12"):
        c.wait(lambda: c.curl("client", "http://%s:%d/" % (ip, np_), check=False), 120,
               "%s answers through %s" % (node_port_svc, ip))
    c.kubectl("delete", "service", node_port_svc)


def test_soak_stays_flat(soak):
    c, pods, names = soak
    api = c.api()
    rng = random.Random(int(os.environ.get("FERRY_SOAK_SEED", "1")))
    settle(c, "soak-sentinel-0")
    c.wait(lambda: all(s["status"].get("loadBalancer", {}).get("ingress")
                       for s in c.kjson("get", "services", "-l", "e2e.ferry.dev/soak")["items"]
                       if s["spec"]["type"] == "LoadBalancer"), 120, "every LB Service allocated")
    time.sleep(3)
    t0 = time.monotonic()
    base = sample(t0)
    samples = [base]
    undo = {}           # name -> how to put it back
    counts = {"slice": 0, "recreate": 0, "port": 0, "lb": 0, "undo": 0}
    every = max(10.0, MINUTES * 60 / 40)
    stop_at = t0 + MINUTES * 60
    next_sample = t0 + every
    warm = None
    errors = []

    def change():
        if undo and (rng.random() < 0.5 or len(undo) > 50):
            name = rng.choice(sorted(undo))
            retried(undo[name], errors)
            del undo[name]
            counts["undo"] += 1
            return
        kind = rng.choice(["slice", "recreate", "port", "lb"])
        if kind == "lb":
            name = "soak-lb-%02d" % rng.randrange(N_LB)
        else:
            name = rng.choice(names)
        if name in undo:
            return
        counts[kind] += 1
        # the undo is recorded first: a write that fails after all leaves
        # the object as it was or as changed, and the undo puts it back
        if kind == "slice":
            undo[name] = lambda: api.patch(EPS + "/" + name + "-1",
                                           {"endpoints": slice_body(name, pods)["endpoints"]})
            retried(lambda: api.patch(EPS + "/" + name + "-1",
                                      {"endpoints": slice_body(name, pods[:1])["endpoints"]}), errors)
        elif kind == "recreate":
            undo[name] = lambda: api.post(SVC, svc_body(name))
            retried(lambda: api.delete(SVC + "/" + name), errors)
        elif kind == "port":
            undo[name] = lambda: api.patch(SVC + "/" + name, {"spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]}})
            retried(lambda: api.patch(SVC + "/" + name, {"spec": {"ports": [
                {"name": "http", "port": 81, "targetPort": 80, "protocol": "TCP"}]}}), errors)
        else:
            undo[name] = lambda: api.post(SVC, svc_body(name, lb=True))
            retried(lambda: api.delete(SVC + "/" + name), errors)

    while time.monotonic() < stop_at:
        t = time.monotonic()
        change()
        if t >= next_sample:
            samples.append(sample(t0))
            next_sample += every
            if warm is None and t - t0 >= MINUTES * 60 / 4:
                warm = samples[-1]
        time.sleep(max(0.0, 1.0 / RATE - (time.monotonic() - t)))
    for name in sorted(undo):
        retried(undo.pop(name), errors)
    settle(c, "soak-sentinel-1")
    c.wait(lambda: all(s["status"].get("loadBalancer", {}).get("ingress")
                       for s in c.kjson("get", "services", "-l", "e2e.ferry.dev/soak")["items"]
                       if s["spec"]["type"] == "LoadBalancer"), 120, "every LB Service allocated again")
    time.sleep(3)
    end = sample(t0)
    samples.append(end)
    warm = warm or samples[min(1, len(samples) - 1)]
    report = {"services": N_SVC, "lb_services": N_LB, "minutes": MINUTES, "rate": RATE,
              "changes": counts, "api_errors": len(errors), "samples": samples}
    if os.environ.get("FERRY_SOAK_OUT"):
        with open(os.environ["FERRY_SOAK_OUT"], "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}))
    for s in samples:
        print(s["t"], " ".join("%s rss=%d KiB fds=%d nft=%d" % (n, s[n]["rss_kib"], s[n]["fds"],
                                                               s[n]["nft_objects"]) for n in NODES))
    assert len(errors) <= counts["undo"] // 10 + 10, "API errors: %s" % errors[:5]
    for n in NODES:
        assert end[n]["pid"] == base[n]["pid"], "%s's agent ran through the soak" % n
        assert end[n]["nft_objects"] == base[n]["nft_objects"], \
            "%s: nftables objects back to %d after the churn is undone" % (n, base[n]["nft_objects"])
        assert abs(end[n]["fds"] - base[n]["fds"]) <= 2, "%s: open fds flat" % n
        limit = warm[n]["rss_kib"] * 1.05 + 4096
        assert end[n]["rss_kib"] <= limit, \
            "%s: RSS %d KiB after the run, %d KiB after the warm-up" % (
                n, end[n]["rss_kib"], warm[n]["rss_kib"])
