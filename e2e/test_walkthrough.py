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
