#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The demo: a two-node cluster of network namespaces running ferry, the
seed's `myapp` Deployment and Service, and requests from the LAN client.

  scripts/demo.sh [--keep]     --keep leaves the cluster up afterwards
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import Cluster  # noqa: E402
from lib import seed  # noqa: E402

APP = seed.myapp("LoadBalancer", spread="ScheduleAnyway")
SEED_CONFIG = seed.METALLB_CONFIGMAP


def show(title, text):
    print("\n### " + title)
    print(text.rstrip())


def requests(c, url, n, path="/"):
    return [c.curl("client", url + path, check=False) or "(no answer)" for _ in range(n)]


def main():
    keep = "--keep" in sys.argv
    c = Cluster([])
    print("### e2e/cluster up (real control plane, 2 nodes, a ferry agent on each)")
    subprocess.run([os.path.join(HERE, "cluster"), "up"], check=True)
    try:
        # Seed scenario 1: MetalLB's own ConfigMap, as the write-up gives it
        # (documentation addresses instead of 192.168.5.x), and ferry's
        # allocator gives myapp-svc its EXTERNAL-IP from the pool.
        c.apply(SEED_CONFIG)
        show("the seed's MetalLB ConfigMap (metallb-system/config)", SEED_CONFIG)
        c.apply(APP)
        c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "4 ready pods")
        lb = c.wait(lambda: (c.kjson("get", "svc", "myapp-svc")["status"].get("loadBalancer", {})
                             .get("ingress") or [{}])[0].get("ip"), 60, "an EXTERNAL-IP from the pool")
        show("seed scenario 1: kubectl get svc myapp-svc (EXTERNAL-IP from the pool) and its Event",
             c.kubectl("get", "svc", "myapp-svc") + "\n" +
             c.kubectl("get", "events", "--field-selector", "involvedObject.name=myapp-svc,reason=IPAllocated"))
        # Announcement (ARP/BGP) is the next capability (docs/STATUS.md):
        # until then the client sends the IP's traffic to node1 as an ARP
        # answer from node1 would.
        c.exec("client", "ip", "route", "replace", lb + "/32", "via", "192.0.2.11")
        show("kubectl get nodes,pods,svc -A -o wide",
             c.kubectl("get", "nodes,pods,svc", "-A", "-o", "wide"))
        svc = c.kjson("get", "svc", "myapp-svc")
        vip, np_ = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        pod = c.pods("app=myapp")[0]
        show("curl a pod IP from the client (%s)" % pod["metadata"]["name"],
             c.curl("client", "http://%s/" % pod["status"]["podIP"]))
        c.wait(lambda: c.curl("client", "http://%s/" % lb, check=False), 30, "the external IP")
        show("seed scenario 2: ClusterIP %s (from node1), NodePort 192.0.2.12:%d, EXTERNAL-IP %s"
             % (vip, np_, lb), "\n".join([
                 c.exec("node1", "curl", "-s", "-m", "3", "http://%s/" % vip).stdout.strip(),
                 c.curl("client", "http://192.0.2.12:%d/" % np_),
                 c.curl("client", "http://%s/" % lb)]))
        out = requests(c, "http://" + lb, 8)
        src = requests(c, "http://" + lb, 4, "/clientip")
        show("seed scenario 3: externalTrafficPolicy Cluster: 8 requests spread, the pods see a node "
             "address, not the client 192.0.2.100", "\n".join(out) + "\nsource seen: " + ", ".join(src))
        # Seed scenario 4 as the write-up does it: node2 is cordoned and its
        # pods deleted, so all pods run on node1, then the policy is Local.
        c.kubectl("cordon", "node2")
        c.kubectl("delete", "pods", "-l", "app=myapp", "--field-selector", "spec.nodeName=node2")
        c.kubectl("rollout", "status", "deployment/myapp", "--timeout=120s", timeout=150)
        c.kubectl("patch", "service", "myapp-svc", "-p", '{"spec":{"externalTrafficPolicy":"Local"}}')
        c.wait(lambda: c.curl("client", "http://%s/clientip" % lb, check=False) == "192.0.2.100",
               30, "Local policy programmed")
        show("kubectl get pods -o wide (node2 cordoned, its pods moved to node1)",
             c.kubectl("get", "pods", "-o", "wide"))
        out = requests(c, "http://" + lb, 6)
        src = requests(c, "http://" + lb, 3, "/clientip")
        show("seed scenario 4: externalTrafficPolicy Local: node1's pods answer and see the client "
             "itself", "\n".join(out) + "\nsource seen: " + ", ".join(src))
        svc = c.kjson("get", "svc", "myapp-svc")
        hc = svc["spec"]["healthCheckNodePort"]
        show("node2 has no local pod: its NodePort %d gets no answer; health-check node port %d" % (np_, hc),
             "curl 192.0.2.12:%d -> %s\nnode1 health: %s\nnode2 health: %s" % (
                 np_, c.curl("client", "http://192.0.2.12:%d/" % np_, timeout=2, check=False)
                 or "(no answer, timed out)",
                 c.exec("client", "curl", "-s", "-m", "2", "-w", " HTTP %{http_code}",
                        "http://192.0.2.11:%d/" % hc, check=False).stdout,
                 c.exec("client", "curl", "-s", "-m", "2", "-w", " HTTP %{http_code}",
                        "http://192.0.2.12:%d/" % hc, check=False).stdout))
        c.kubectl("uncordon", "node2")
        show("nft list table ip ferry (node1), first 40 lines",
             "\n".join(c.exec("node1", "nft", "list", "table", "ip", "ferry").stdout.splitlines()[:40]))
        if keep:
            print("\ncluster left up: e2e/cluster kubectl ..., e2e/cluster down to remove it")
    finally:
        if not keep:
            print("\n### e2e/cluster down")
            subprocess.run([os.path.join(HERE, "cluster"), "down"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
