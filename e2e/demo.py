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

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: myapp}
spec:
  replicas: 4
  selector: {matchLabels: {app: myapp}}
  template:
    metadata: {labels: {app: myapp}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: myapp}}}
      containers:
      - {name: myapp, image: e2e/podserver, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: myapp-svc}
spec:
  type: LoadBalancer
  selector: {app: myapp}
  ports: [{port: 80, targetPort: 80}]
"""


def show(title, text):
    print("\n### " + title)
    print(text.rstrip())


def main():
    keep = "--keep" in sys.argv
    c = Cluster([])
    print("### e2e/cluster up (control plane, 2 nodes, ferry agent on each)")
    subprocess.run([os.path.join(HERE, "cluster"), "up"], check=True)
    try:
        c.apply(APP)
        c.wait(lambda: len([p for p in c.pods("app=myapp") if p["status"].get("podIP") and any(
            x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions", []))]) == 4,
            120, "4 ready pods")
        show("kubectl get nodes,pods,svc -A -o wide",
             c.kubectl("get", "nodes,pods,svc", "-A", "-o", "wide"))
        pod = c.pods("app=myapp")[0]
        ip = pod["status"]["podIP"]
        show("curl http://%s/ from the client (pod IP of %s)" % (ip, pod["metadata"]["name"]),
             c.curl("client", "http://%s/" % ip))
        svc = c.kjson("get", "svc", "myapp-svc")
        ing = svc["status"].get("loadBalancer", {}).get("ingress") or []
        if ing:
            vip = ing[0]["ip"]
            out = [c.curl("client", "http://%s/" % vip, check=False) or "(no answer)" for _ in range(8)]
            show("8 requests from the client to EXTERNAL-IP %s" % vip, "\n".join(out))
        else:
            show("LoadBalancer", "EXTERNAL-IP is <pending>: LoadBalancer IP allocation is not built yet "
                 "(docs/STATUS.md lists what is)")
        if keep:
            print("\ncluster left up: e2e/cluster kubectl ..., e2e/cluster down to remove it")
    finally:
        if not keep:
            print("\n### e2e/cluster down")
            subprocess.run([os.path.join(HERE, "cluster"), "down"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
