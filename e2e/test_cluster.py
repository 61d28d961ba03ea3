# SPDX-License-Identifier: GPL-2.0-or-later
"""The foundation: a real control plane over network namespaces behaves like
any Kubernetes cluster (issue 4). These tests check the e2e/cluster contract
that every later test builds on."""
import ipaddress
import json
import os
import subprocess
import time

from lib import seed

# Agents are exercised by their own tests; here the cluster alone.
CLUSTER_ARGS = ["--nodes", "2", "--no-agents"]

APP = seed.myapp()


def running_pods(cluster, n):
    ok = cluster.ready_pods("app=myapp")
    return ok if len(ok) == n else None


def test_nodes_registered_with_pod_cidrs(cluster):
    nodes = cluster.kjson("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node1", "node2"]
    cidrs = set()
    for n in nodes:
        ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
        ips = [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
        assert ips[0].startswith("192.0.2.1")
        cidr = ipaddress.ip_network(n["spec"]["podCIDR"])
        assert cidr.subnet_of(ipaddress.ip_network("198.18.0.0/16")) and cidr.prefixlen == 24
        cidrs.add(cidr)
    assert len(cidrs) == 2
    # the node heartbeat reaches the API as a Lease
    lease = cluster.kjson("-n", "kube-node-lease", "get", "lease", "node1")
    assert lease["spec"]["holderIdentity"] == "node1"


def test_deployment_pods_endpoints_and_reachability(cluster):
    cluster.apply(APP)
    pods = cluster.wait(lambda: running_pods(cluster, 4), 90, "4 running pods")
    by_node = {}
    for p in pods:
        by_node.setdefault(p["spec"]["nodeName"], []).append(p)
    assert sorted(by_node) == ["node1", "node2"], "pods spread over both nodes"

    # the real EndpointSlice controller lists every ready pod
    def slice_ips():
        items = cluster.kjson("get", "endpointslices", "-l",
                              "kubernetes.io/service-name=myapp-svc")["items"]
        return sorted(a for s in items for e in s.get("endpoints") or []
                      if e["conditions"].get("ready") for a in e["addresses"])
    want = sorted(p["status"]["podIP"] for p in pods)
    cluster.wait(lambda: slice_ips() == want, 30, "EndpointSlice lists the 4 pods")

    for p in pods:
        ip, name = p["status"]["podIP"], p["metadata"]["name"]
        body = cluster.curl("client", "http://%s/" % ip)
        assert body == "Hello MyApp | Version: v2 | Pod Name: %s" % name
        other = "node2" if p["spec"]["nodeName"] == "node1" else "node1"
        assert cluster.curl(other, "http://%s/" % ip).endswith(name)
        # the pod sees the client's own address (no NAT on the pod network)
        assert cluster.curl("client", "http://%s/clientip" % ip) == "192.0.2.100"
    # UDP echo answers with the pod's name and the source it saw
    ip = pods[0]["status"]["podIP"]
    out = cluster.exec("client", "bash", "-c",
                       "echo ping | timeout 3 socat -t 2 - UDP:%s:80" % ip).stdout
    assert out.strip() == "%s 192.0.2.100 ping" % pods[0]["metadata"]["name"]
    # exec by pod name runs inside the pod
    assert ip in cluster.exec(pods[0]["metadata"]["name"], "ip", "-4", "addr").stdout


def test_readiness_flag_reaches_endpointslice(cluster):
    pods = cluster.wait(lambda: running_pods(cluster, 4), 60, "4 running pods")
    name, ip = pods[0]["metadata"]["name"], pods[0]["status"]["podIP"]

    def ready_of(addr):
        items = cluster.kjson("get", "endpointslices", "-l",
                              "kubernetes.io/service-name=myapp-svc")["items"]
        for s in items:
            for e in s.get("endpoints") or []:
                if addr in e["addresses"]:
                    return e["conditions"].get("ready")
        return None
    cluster.run("pod", "unready", name)
    cluster.wait(lambda: ready_of(ip) is False, 30, "endpoint not ready")
    cluster.run("pod", "ready", name)
    cluster.wait(lambda: ready_of(ip) is True, 30, "endpoint ready again")


def test_cordon_and_reschedule(cluster):
    cluster.wait(lambda: running_pods(cluster, 4), 60, "4 running pods")
    cluster.kubectl("cordon", "node2")
    try:
        cluster.kubectl("delete", "pods", "-l", "app=myapp", "--field-selector",
                        "spec.nodeName=node2", "--wait=true", timeout=120)
        # topology spread would keep them pending; relax it as an operator would
        cluster.kubectl("patch", "deployment", "myapp", "--type", "json", "-p",
                        '[{"op":"remove","path":"/spec/template/spec/topologySpreadConstraints"}]')
        cluster.kubectl("rollout", "status", "deployment/myapp", "--timeout=120s", timeout=150)
        pods = cluster.wait(lambda: running_pods(cluster, 4), 120, "pods back, all on node1")
        assert {p["spec"]["nodeName"] for p in pods} == {"node1"}
        for p in pods:
            assert cluster.curl("client", "http://%s/" % p["status"]["podIP"]).endswith(
                p["metadata"]["name"])
    finally:
        cluster.kubectl("uncordon", "node2")


def start_watch(cluster):
    kc = cluster.run("kubeconfig").stdout.strip()
    conf = json.load(open(os.path.join(os.path.dirname(kc), "cluster.json")))
    w = subprocess.Popen([os.path.join(conf["bin"], "kubectl"), "--kubeconfig", kc, "get",
                          "configmaps", "-w", "-o", "name"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    return w


def stop_watch(w):
    if w.poll() is None:
        w.terminate()
    return w.communicate(timeout=10)


def api_answers(cluster, marker):
    cluster.wait(lambda: cluster.kubectl("create", "configmap", marker, check=False) is not None
                 and cluster.kubectl("get", "configmap", marker, check=False), 90,
                 "API answering after the fault")


def test_api_restart_keeps_state_and_watches_resume(cluster):
    cluster.kubectl("create", "configmap", "before-restart")
    w = start_watch(cluster)
    try:
        cluster.run("api", "restart", timeout=180)
        # the real kubectl ends its watch cleanly when the server goes away
        w.wait(timeout=30)
        assert w.returncode == 0
    finally:
        stop_watch(w)
    w = start_watch(cluster)
    try:
        api_answers(cluster, "after-restart")
        time.sleep(2)
        assert w.poll() is None
    finally:
        out, err = stop_watch(w)
    assert "configmap/after-restart" in out, (out, err)
    assert "configmap/before-restart" in out, "state kept across the restart"


def test_watch_survives_compaction(cluster):
    # writes whose revisions the compaction then drops
    for i in range(5):
        cluster.kubectl("create", "configmap", "churn-%d" % i)
    w = start_watch(cluster)
    try:
        out = cluster.run("api", "compact").stdout
        assert out.startswith("compacted at revision")
        api_answers(cluster, "after-compact")
        time.sleep(2)
        assert w.poll() is None, "the running watch goes on after compaction"
    finally:
        out, err = stop_watch(w)
    assert "configmap/after-compact" in out, (out, err)
    # a watch from a compacted resourceVersion gets 410 Gone
    old_rv = "1"
    kc = cluster.run("kubeconfig").stdout.strip()
    p = subprocess.run(["curl", "-s", "--cacert", os.path.join(os.path.dirname(kc), "pki", "ca.crt"),
                        "--cert", os.path.join(os.path.dirname(kc), "pki", "admin.crt"),
                        "--key", os.path.join(os.path.dirname(kc), "pki", "admin.key"), "-m", "5",
                        "https://127.0.0.1:6443/api/v1/configmaps?watch=1&resourceVersion=%s" % old_rv],
                       capture_output=True, text=True)
    assert '"code":410' in p.stdout.replace(" ", ""), p.stdout[:300]


def test_api_cut_and_latency(cluster):
    t0 = time.time()
    cluster.run("api", "latency", "node1", "300")
    try:
        def took(node):
            return float(cluster.exec(node, "curl", "-sk", "-m", "5", "-o", "/dev/null", "-w",
                                      "%{time_total}", "https://192.0.2.3:6443/readyz").stdout)
        # TLS needs at least two answers from the server, each held 300 ms
        assert took("node1") >= 0.55, "latency applies to node1's apiserver traffic"
        assert took("node2") < 0.25, "and only to node1's"
    finally:
        cluster.run("api", "latency", "node1", "0")
    cluster.run("api", "cut", "node1")
    try:
        p = cluster.exec("node1", "curl", "-sk", "-m", "2", "https://192.0.2.3:6443/readyz", check=False)
        assert p.returncode != 0, "apiserver unreachable from node1 while cut"
        # node2 still reaches it
        cluster.exec("node2", "curl", "-sk", "-m", "2", "-o", "/dev/null", "https://192.0.2.3:6443/readyz")
    finally:
        cluster.run("api", "uncut", "node1")
    cluster.exec("node1", "curl", "-sk", "-m", "2", "-o", "/dev/null", "https://192.0.2.3:6443/readyz")
    assert float(cluster.exec("node1", "curl", "-sk", "-m", "5", "-o", "/dev/null", "-w", "%{time_total}",
                              "https://192.0.2.3:6443/readyz").stdout) < 0.25, "latency removed"
    assert time.time() - t0 < 60


def test_down_leaves_nothing(cluster):
    state = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
    cluster.run("down", timeout=300)
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in ("lan", "node1", "node2", "client", "fp-"):
        assert name not in ns, ns
    assert not os.path.exists(state)
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert "ferry-cp0" not in links
    # zombies are left to the machine's init to reap; they hold nothing
    ps = "\n".join(line.split(None, 1)[-1] for line in subprocess.run(
        ["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout.splitlines()
        if not line.startswith("Z"))
    # every process of ours names the state folder (certificates, logs)
    assert state not in ps and "e2e/podserver.py" not in ps
