#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The demo: the seed's story for a person to watch. A two-node cluster of
network namespaces with nothing on the nodes; ferry installed with
`kubectl apply -f manifests/ferry.yaml`; then the write-up's scenarios 1 to
7, each narrated with what it shows (e2e/lib/walkthrough.py, the same steps
e2e/test_walkthrough.py asserts), who announces the address, and the
Service's path through `nft list ruleset`.

  scripts/demo.sh [--bgp] [--keep]
    --bgp   the same story with a BGP pool: the router's BIRD peers with
            every node and `remote`, behind the router, asks
    --keep  leave the cluster up afterwards (and say how to poke at it)
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import Cluster  # noqa: E402
from lib import walkthrough  # noqa: E402


def show(title, text=""):
    print("\n### " + title)
    if text:
        print(text.rstrip())
    sys.stdout.flush()


def main():
    keep, mode = "--keep" in sys.argv, "bgp" if "--bgp" in sys.argv else "l2"
    c = Cluster([])
    cluster = os.path.join(HERE, "cluster")
    show("e2e/cluster up --install manifest: a real control plane, 2 nodes, nothing on them; "
         "then kubectl apply -f manifests/ferry.yaml")
    subprocess.run([cluster, "up", "--nodes", "2", "--bgp", "--install", "manifest"], check=True)
    s = walkthrough.Story(c, mode, say=show)
    try:
        show("ferry's pods: the DaemonSet's agents and the allocators", c.kubectl("-n", "ferry-system", "get", "pods", "-o", "wide"))
        ips = s.s1_external_ip()
        ip = ips["myapp-svc"]
        show("who announces %s" % ip,
             "%s (%s)" % (", ".join(sorted(s.announcers(ip))),
                          "it answers ARP for it" if mode == "l2" else "the router's next hops"))
        s.s2_three_paths(ip)
        show("the path of myapp-svc through `nft list table ip ferry` on node1",
             s.nft_path(ip))
        s.s3_cluster_spread(ip)
        s.s4_local(ip)
        s.s5_failover(ip)
        s.s6_pool_by_annotation()
        s.s7_shared_ip()
        show("ferry status on node2",
             c.exec("node2", os.environ.get("FERRY_BIN", "ferry"), "status", check=False).stdout)
        if keep:
            show("the cluster stays up",
                 "  e2e/cluster kubectl get svc -A\n"
                 "  e2e/cluster exec node1 -- nft list ruleset\n"
                 "  e2e/cluster exec %s -- curl http://%s/\n"
                 "  e2e/cluster exec node1 -- %s status\n"
                 "  e2e/cluster down          when you are done" % (
                     s.asker, ip, os.environ.get("FERRY_BIN", "ferry")))
    finally:
        if not keep:
            show("e2e/cluster down")
            subprocess.run([cluster, "down"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
