# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed's cluster moves to ferry under traffic (issue 16): kube-proxy
forwards and MetalLB v0.15.2 allocates and announces (layer 2); then, as
docs/migrate-from-kube-proxy.md and docs/migrate-from-metallb.md say,
kube-proxy's DaemonSet goes, MetalLB's speakers and controller go (its
configuration stays) and `kubectl apply -f manifests/ferry.yaml` runs ferry.
Client loops through the LoadBalancer IP and both nodes' NodePort count every
request: none may fail. Every IP MetalLB gave stays as it was, the same node
answers ARP for it (ferry ranks nodes as MetalLB does), never two at once,
and ferry removes kube-proxy's leftovers itself."""
import json
import os
import time

import pytest

from lib import l2probe, metallb, seed, traffic

CLUSTER_ARGS = ["--nodes", "2", "--proxy", "kube-proxy", "--lb", "metallb"]
POOL = ("192.0.2.200", "192.0.2.250")
NODES = ("192.0.2.11", "192.0.2.12")

# a Service asking for its address by MetalLB's annotation
PINNED = """
apiVersion: v1
kind: Service
metadata:
  name: pinned
  namespace: default
  annotations: {metallb.io/loadBalancerIPs: 192.0.2.240}
spec:
  type: LoadBalancer
  selector: {app: myapp}
  ports: [{port: 80, targetPort: 80, protocol: TCP}]
"""


@pytest.fixture(scope="module", autouse=True)
def metallb_binaries():
    """Before the cluster: skip only when MetalLB is neither cached nor buildable."""
    try:
        metallb.build()
    except RuntimeError as e:
        pytest.skip(str(e))


def lb_ips(c):
    """{Service: [ingress IPs]} of every LoadBalancer Service."""
    return {s["metadata"]["name"]: [i["ip"] for i in s["status"].get("loadBalancer", {}).get("ingress", [])]
            for s in c.kjson("get", "services")["items"] if s["spec"]["type"] == "LoadBalancer"}


def ferry_logs(c):
    logs = os.path.join(os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e"), "logs")
    out = ""
    for p in c.kjson("-n", "ferry-system", "get", "pods")["items"]:
        try:
            with open(os.path.join(logs, "pod-ferry-system_%s_ferry.log" % p["metadata"]["name"])) as f:
                out += f.read()
        except OSError:
            pass
    return out


def test_kube_proxy_and_metallb_to_ferry_under_traffic(cluster):
    c = cluster
    c.macs = l2probe.node_macs(c, 2)

    # before: the seed's layer-2 pool, served by kube-proxy and MetalLB
    metallb.apply(c.kubectl, [metallb.pool("seed", ["%s-%s" % POOL]),
                              metallb.l2_advertisement("seed", ["seed"])])
    c.apply(seed.myapp("LoadBalancer", spread="ScheduleAnyway"))
    c.apply(PINNED)
    ip = metallb.wait_external_ip(c.kubectl, "myapp-svc", timeout=60)[0]
    assert metallb.wait_external_ip(c.kubectl, "pinned", timeout=60) == ["192.0.2.240"]
    c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "myapp Ready")
    np_ = c.kjson("get", "service", "myapp-svc")["spec"]["ports"][0]["nodePort"]
    for url in ["http://%s/" % ip, "http://192.0.2.240/"] + ["http://%s:%d/" % (n, np_) for n in NODES]:
        c.wait(lambda: c.curl("client", url, check=False), 60, "%s through kube-proxy" % url)
    before = lb_ips(c)
    owner = l2probe.owner_by_arp(c, ip)
    for k in (1, 2):
        assert "table ip kube-proxy" in c.exec("node%d" % k, "nft", "list", "tables").stdout

    # the migration, under traffic
    loops = {"LB %s" % ip: traffic.get_loop(ip, 150, interval=0.05)}
    for n in NODES:
        loops["NodePort %s:%d" % (n, np_)] = traffic.get_loop(n, 150, interval=0.05, port=np_)
    arp = l2probe.ArpWatch(ip, 150, interval=0.1)
    try:
        time.sleep(3)
        for k in (1, 2):                       # kubectl -n kube-system delete ds kube-proxy
            c.run("agent", "stop", "node%d" % k)
        c.run("metallb", "remove")             # speakers and controller; CRs stay
        c.run("install", "manifest")           # returns once the DaemonSet is Ready
        for k in (1, 2):
            c.wait(lambda: "kube-proxy" not in c.exec("node%d" % k, "nft", "list", "tables").stdout,
                   60, "kube-proxy's table gone from node%d" % k)
        time.sleep(3)
    finally:
        rows = {name: loop.stop() for name, loop in loops.items()}
        arps = arp.stop()

    # no request lost on any path
    for name, r in rows.items():
        print("%s: %d requests, %d failed, longest gap %.2f s" % (
            name, len(r), len(traffic.failures(r)),
            traffic.longest_gap([x[2] for x in r if x[3]], r[0][1], r[-1][2])))
        assert len(r) > 100, (name, len(r))
        assert traffic.failures(r) == [], "%s: %d of %d failed" % (name, len(traffic.failures(r)), len(r))
    # never two answers for the IP, and ferry answers from MetalLB's node
    assert l2probe.double_answers(arps) == []
    assert lb_ips(c) == before, "ferry changed an allocation"
    assert l2probe.owner_by_arp(c, ip) == owner
    assert "removed kube-proxy's leftovers" in ferry_logs(c)

    # ferry allocates the next one from the same pool, around the adopted ones
    c.apply(json.dumps(seed.app("after", service_type="LoadBalancer")))
    new = metallb.wait_external_ip(c.kubectl, "after", timeout=60)[0]
    assert metallb.in_range(new, *POOL) and new not in sum(before.values(), [])
    body = c.wait(lambda: c.curl("client", "http://%s/" % new, check=False), 60,
                  "the new Service's IP through ferry")
    assert body.startswith("Hello MyApp")
