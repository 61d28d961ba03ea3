# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed walkthrough end to end (issue 16): ferry installed by
`kubectl apply -f manifests/ferry.yaml` on two nodes with nothing else, then
the write-up's scenarios 1 to 7 (../shared/seed/README.md) with its own
observations, once with the seed's layer-2 pool (the LAN client asks) and
once with the same pool over BGP (the router's BIRD peers with every node;
`remote`, behind it, asks). The steps live in e2e/lib/walkthrough.py, which
the demo plays too."""
import pytest

from lib import walkthrough
from lib.walkthrough import CONFIG, in_range

CLUSTER_ARGS = ["--nodes", "2", "--bgp", "--install", "manifest"]
HELLO = "Hello MyApp | Version: v2 | Pod Name: myapp-"


def show(title, text=""):
    print("\n### %s\n%s" % (title, text.rstrip()))


@pytest.mark.parametrize("mode", ["l2", "bgp"])
def test_seed_walkthrough(cluster, mode):
    s = walkthrough.Story(cluster, mode, say=show)
    pool, other, client_ip = CONFIG[mode]["pool"], CONFIG[mode]["other"], CONFIG[mode]["client_ip"]
    try:
        # 1. each LoadBalancer Service gets its own EXTERNAL-IP from the pool
        ips = s.s1_external_ip()
        assert all(in_range(ip, pool) for ip in ips.values()) and len(set(ips.values())) == 2, ips
        ip = ips["myapp-svc"]

        # 2. ClusterIP, NodePort and EXTERNAL-IP all answer Hello MyApp
        for path, body in s.s2_three_paths(ip).items():
            assert body and body.startswith(HELLO), (path, body)

        # 3. Cluster: spread over the 4 pods of both nodes, the client masked
        counts, sources = s.s3_cluster_spread(ip)
        assert len(counts) == 4 and len(s.pods_by_node()) == 2
        # 48 over 4: a fair spread gives a pod fewer than 2 with p < 1e-4
        assert min(counts.values()) >= 2, counts
        # a node's own address: its LAN one, or its pod-network gateway
        # (198.18.K.1) when the pod runs on the node that took the request
        assert client_ip not in sources and all(
            x in walkthrough.NODE_IP.values() or x.startswith("198.18.") for x in sources), sources

        # 4. Local with every pod on node1: node1 alone, the client's own
        #    address, node2's NodePort times out
        announcers, names, other_node = s.s4_local(ip)
        assert announcers == {"node1"}
        assert names <= s.pods_by_node()["node1"], names
        assert other_node is None

        # 5. cordon node1 and delete its pods: the announcement follows them
        #    to node2; requests are answered again, with the client's address
        announcers, src, gap = s.s5_failover(ip)
        assert announcers == {"node2"} and src == client_ip
        assert gap is not None and gap < 15, "answers resumed after %.1f s" % gap

        # 6. the address-pool annotation picks the second pool
        oip, body = s.s6_pool_by_annotation()
        assert in_range(oip, other) and body.startswith(HELLO), (oip, body)

        # 7. one allow-shared-ip key, ports 80 and 8080: one IP, both answer
        sips, bodies = s.s7_shared_ip()
        assert sips["share-80"] == sips["share-8080"] and in_range(sips["share-80"], pool), sips
        assert all(b.startswith(HELLO) for b in bodies.values()), bodies
    finally:
        s.reset()


def dashboard_series():
    """The metric names manifests/monitoring/grafana-dashboard.json queries."""
    import os
    import re
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "manifests", "monitoring", "grafana-dashboard.json")) as f:
        text = f.read()
    exprs = re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', text)
    assert len(exprs) >= 20
    names = set()
    for e in exprs:
        e = re.sub(r'\{[^}]*\}', "", e.replace('\\"', '"'))     # label matchers
        e = re.sub(r'\[[^\]]*\]', "", e)                          # ranges
        e = re.sub(r'\b(by|without)\s*\([^)]*\)', "", e)          # grouping labels
        for w in re.findall(r'[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()', e):
            if re.match(r'(ferry|kubeproxy|metallb|process)_', w):
                names.add(w)
    return names


def test_dashboard_queries_only_metrics_ferry_exports(cluster):
    """Every series the Grafana dashboard queries is on some node's /metrics
    while every part runs: the proxy, layer 2 and BGP on the agents'
    10249, the allocator on the ferry-allocator pods' 10265
    (manifests/monitoring/prometheus-scrape.yaml scrapes both)."""
    c = cluster
    c.apply(walkthrough.configmap("bgp").replace(
        "    address-pools:\n",
        "    address-pools:\n    - name: l2-space\n      protocol: layer2\n      addresses:\n"
        "      - 192.0.2.200-192.0.2.210\n"))
    c.apply(walkthrough.seed.myapp("ClusterIP"))
    c.apply(walkthrough.lb_service("dash-bgp", annotations={"metallb.universe.tf/address-pool": "my-ip-space"}))
    c.apply(walkthrough.lb_service("dash-l2", annotations={"metallb.universe.tf/address-pool": "l2-space"}))
    try:
        want = dashboard_series()

        def exported():
            have = set()
            for node, port in [(n, p) for n in ("node1", "node2") for p in (10249, 10265)]:
                out = c.exec(node, "curl", "-s", "-m", "3", "http://127.0.0.1:%d/metrics" % port,
                             check=False).stdout
                have |= {line.split("{")[0].split()[0] for line in out.splitlines()
                         if line and not line.startswith("#")}
            return have
        # sessions and announcements take a moment: wait for the last to come
        try:
            c.wait(lambda: want <= exported(), 60, "every dashboard metric exported")
        except AssertionError:
            assert sorted(want - exported()) == [], "queried by the dashboard, exported by no node"
    finally:
        c.kubectl("delete", "service", "dash-bgp", "dash-l2", "myapp-svc", "--ignore-not-found")
        c.kubectl("delete", "deployment", "myapp", "--ignore-not-found")
        c.kubectl("-n", "metallb-system", "delete", "configmap", "config", "--ignore-not-found")
