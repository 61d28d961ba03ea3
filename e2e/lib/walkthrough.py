# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed's story (../shared/seed/README.md, scenarios 1 to 7) on a
two-node cluster where ferry runs as its manifest's DaemonSet: one step per
scenario, each doing what the write-up does and returning what it shows.
e2e/test_walkthrough.py asserts the observations; e2e/demo.py prints them
for a person to watch. `mode` is "l2" (the seed's layer-2 pool, the LAN
client asks) or "bgp" (a BGP pool and the router's BIRD as peer; `remote`,
behind the router, asks)."""
import json
import os
import re
import time

from lib import l2probe, seed, traffic

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
NODE_IP = {"node1": "192.0.2.11", "node2": "192.0.2.12"}

# The seed's ConfigMap with documentation addresses for 192.168.5.5-9; in
# BGP mode the same pool as `protocol: bgp` with the router as peer.
CONFIG = {
    "l2": {"pool": ("192.0.2.200", "192.0.2.250"), "other": ("192.0.2.64", "192.0.2.79"),
           "client": "client", "client_ip": "192.0.2.100"},
    "bgp": {"pool": ("203.0.113.200", "203.0.113.250"), "other": ("203.0.113.64", "203.0.113.79"),
            "client": "remote", "client_ip": "198.51.100.100"},
}


def configmap(mode, with_other=False):
    m = CONFIG[mode]
    proto = "layer2" if mode == "l2" else "bgp"
    peers = "" if mode == "l2" else \
        "    peers:\n    - peer-address: 192.0.2.1\n      peer-asn: 64512\n      my-asn: 64513\n"
    pools = "    - name: my-ip-space\n      protocol: %s\n      addresses:\n      - %s-%s\n" % (
        (proto,) + m["pool"])
    if with_other:
        # scenario 6: a second pool, used only when a Service asks for it
        pools += ("    - name: other-space\n      protocol: %s\n      auto-assign: false\n"
                  "      addresses:\n      - %s-%s\n" % ((proto,) + m["other"]))
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: metallb-system\n"
            "  name: config\ndata:\n  config: |\n" + peers + "    address-pools:\n" + pools)


def in_range(ip, lo_hi):
    a = [int(x) for x in ip.split(".")]
    return [int(x) for x in lo_hi[0].split(".")] <= a <= [int(x) for x in lo_hi[1].split(".")]


def lb_service(name, port=80, annotations=None, local=False):
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
           "spec": {"type": "LoadBalancer", "selector": {"app": "myapp"},
                    "ports": [{"port": port, "targetPort": 80, "protocol": "TCP"}]}}
    if local:
        svc["spec"]["externalTrafficPolicy"] = "Local"
    return json.dumps(svc)


class Story:
    def __init__(self, c, mode, say=lambda title, text="": None):
        self.c, self.mode, self.say = c, mode, say
        self.m = CONFIG[mode]
        self.asker = self.m["client"]

    # ---- helpers

    def external_ip(self, name, timeout=60):
        def got():
            ing = self.c.kjson("get", "service", name)["status"].get("loadBalancer", {}).get("ingress")
            return ing[0]["ip"] if ing else None
        return self.c.wait(got, timeout, "an EXTERNAL-IP for %s" % name)

    def get(self, url, timeout=2):
        return self.c.curl(self.asker, url, timeout=timeout, check=False)

    def answered(self, url, timeout=30):
        return self.c.wait(lambda: self.get(url), timeout, "%s answering %s" % (url, self.asker))

    def pods_by_node(self):
        out = {}
        for p in self.c.ready_pods("app=myapp"):
            out.setdefault(p["spec"]["nodeName"], set()).add(p["metadata"]["name"])
        return out

    def announcers(self, ip):
        """The nodes the address is reached through: the ARP owner (l2) or
        the router's next hops (bgp)."""
        if self.mode == "l2":
            return {l2probe.owner_by_arp(self.c, ip)}
        out = self.c.exec("router", "ip", "-4", "route", "show", ip + "/32").stdout
        by_ip = {v: k for k, v in NODE_IP.items()}
        return {by_ip[h] for h in re.findall(r"via ([0-9.]+)", out) if h in by_ip}

    def wait_announcers(self, ip, want, timeout=30):
        return self.c.wait(lambda: (lambda a: a if a == want else None)(self.announcers(ip)),
                           timeout, "%s reached through %s" % (ip, sorted(want)))

    # ---- the scenarios

    def s1_external_ip(self):
        """The seed's ConfigMap, myapp (4 pods on 2 nodes) with myapp-svc and
        webapp-svc of type LoadBalancer: each gets an EXTERNAL-IP from the pool."""
        c = self.c
        if self.mode == "l2":
            self.c.macs = l2probe.node_macs(c, 2)
        c.apply(configmap(self.mode))
        self.say("the seed's MetalLB ConfigMap (documentation addresses)", configmap(self.mode))
        c.apply(seed.myapp("LoadBalancer", spread="ScheduleAnyway"))
        c.apply(lb_service("webapp-svc"))
        c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "myapp's 4 pods Ready")
        ips = {n: self.external_ip(n) for n in ("myapp-svc", "webapp-svc")}
        self.say("scenario 1: kubectl get svc", c.kubectl("get", "svc"))
        return ips

    def s2_three_paths(self, ip):
        """ClusterIP (from node1), NodePort (from the asker) and the EXTERNAL-IP."""
        svc = self.c.kjson("get", "service", "myapp-svc")
        vip, np_ = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        self.answered("http://%s/" % ip)
        bodies = {
            "ClusterIP %s from node1" % vip: self.c.curl("node1", "http://%s/" % vip, check=False),
            "NodePort %s:%d" % (NODE_IP["node2"], np_): self.get("http://%s:%d/" % (NODE_IP["node2"], np_)),
            "EXTERNAL-IP %s" % ip: self.get("http://%s/" % ip),
        }
        self.say("scenario 2: the three paths", "\n".join("%-32s %s" % kv for kv in bodies.items()))
        return bodies

    def s3_cluster_spread(self, ip, n=48):
        """externalTrafficPolicy Cluster: requests spread over all 4 pods on
        both nodes; the pods see a node's address, not the client."""
        everyone = set().union(*self.pods_by_node().values())
        seen = set()
        self.c.wait(lambda: seen.add(self.get("http://%s/hostname" % ip)) or seen >= everyone, 30,
                    "every pod answering through %s" % ip)
        names = [self.get("http://%s/hostname" % ip) for _ in range(n)]
        sources = {self.get("http://%s/clientip" % ip) for _ in range(6)}
        counts = {p: names.count(p) for p in sorted(everyone)}
        self.say("scenario 3: Cluster policy, %d requests" % n,
                 "\n".join("%s %d" % kv for kv in counts.items()) +
                 "\nsource the pods saw: %s (the client is %s)" % (sorted(sources), self.m["client_ip"]))
        return counts, sources

    def s4_local(self, ip):
        """As the write-up does it: node2 cordoned and its pods deleted, so
        every pod runs on node1; then Local: node1 alone answers, the pods
        see the client itself, node2's NodePort times out."""
        c = self.c
        c.kubectl("cordon", "node2")
        c.kubectl("delete", "pods", "-l", "app=myapp", "--field-selector", "spec.nodeName=node2")
        c.wait(lambda: set(self.pods_by_node()) == {"node1"} and
               sum(map(len, self.pods_by_node().values())) == 4, 120, "myapp's 4 pods on node1")
        c.kubectl("patch", "service", "myapp-svc", "-p", '{"spec":{"externalTrafficPolicy":"Local"}}')
        c.wait(lambda: self.get("http://%s/clientip" % ip) == self.m["client_ip"], 30,
               "Local policy: the client's own address")
        announcers = self.wait_announcers(ip, {"node1"})
        names = {self.get("http://%s/hostname" % ip) for _ in range(12)}
        np_ = c.kjson("get", "service", "myapp-svc")["spec"]["ports"][0]["nodePort"]
        other = self.get("http://%s:%d/" % (NODE_IP["node2"], np_), timeout=2)
        self.say("scenario 4: Local policy, all pods on node1",
                 "announced by %s; pods answering: %s; source: %s\ncurl node2:%d -> %s" % (
                     sorted(announcers), sorted(names), self.get("http://%s/clientip" % ip), np_,
                     other or "(no answer, timed out)"))
        return announcers, names, other

    def s5_failover(self, ip):
        """Cordon the announcing node1 and delete its pods: they move to
        node2, the announcement follows, requests keep being answered, still
        with the client's own address."""
        c = self.c
        loop = traffic.get_loop(ip, 90, interval=0.1, timeout=2, where=self.asker)
        c.kubectl("uncordon", "node2")
        c.kubectl("cordon", "node1")
        t0 = time.monotonic()
        c.kubectl("delete", "pods", "-l", "app=myapp", "--field-selector", "spec.nodeName=node1",
                  "--wait=false")
        c.wait(lambda: set(self.pods_by_node()) == {"node2"} and
               sum(map(len, self.pods_by_node().values())) == 4, 120, "myapp's pods on node2")
        announcers = self.wait_announcers(ip, {"node2"})
        moved = time.monotonic() - t0
        src = self.answered("http://%s/clientip" % ip)
        rows = loop.stop()
        gap = traffic.longest_gap([r[2] for r in rows if r[3]], rows[0][1], rows[-1][2]) if rows else None
        self.say("scenario 5: cordon node1, delete its pods",
                 "announced by %s %.1f s after the delete; source: %s%s" % (
                     sorted(announcers), moved, src,
                     "; %d requests, %d failed, longest gap %.1f s" % (
                         len(rows), len(traffic.failures(rows)), gap) if rows else ""))
        c.kubectl("uncordon", "node1")
        return announcers, src, gap

    def s6_pool_by_annotation(self):
        """A second pool in the ConfigMap; the annotation picks it."""
        self.c.apply(configmap(self.mode, with_other=True))
        self.c.apply(lb_service("other-svc", annotations={
            "metallb.universe.tf/address-pool": "other-space"}))
        ip = self.external_ip("other-svc")
        body = self.answered("http://%s/" % ip)
        self.say("scenario 6: metallb.universe.tf/address-pool: other-space",
                 "%s\ncurl %s -> %s" % (self.c.kubectl("get", "svc", "other-svc"), ip, body))
        return ip, body

    def s7_shared_ip(self):
        """Two Services, one allow-shared-ip key, ports 80 and 8080: one IP."""
        key = {"metallb.universe.tf/allow-shared-ip": "seed-share"}
        self.c.apply(lb_service("share-80", 80, key))
        self.c.apply(lb_service("share-8080", 8080, key))
        ips = {n: self.external_ip(n) for n in ("share-80", "share-8080")}
        ip = ips["share-80"]
        bodies = {p: self.answered("http://%s:%d/" % (ip, p)) for p in (80, 8080)}
        self.say("scenario 7: allow-shared-ip, ports 80 and 8080",
                 self.c.kubectl("get", "svc", "share-80", "share-8080") +
                 "\n".join("curl %s:%d -> %s" % (ip, p, b) for p, b in bodies.items()))
        return ips, bodies

    def nft_path(self, ip):
        """The Service's path through `nft list ruleset` on node1: every
        line that names its address, port or chains."""
        svc = self.c.kjson("get", "service", "myapp-svc")
        text = self.c.exec("node1", "nft", "list", "table", "ip", "ferry").stdout
        keys = [ip, svc["spec"]["clusterIP"], "default/myapp-svc", "myapp-svc"]
        return "\n".join(l for l in text.splitlines() if any(k in l for k in keys))

    def reset(self):
        c = self.c
        c.kubectl("uncordon", "node1", "node2", check=False)
        c.kubectl("delete", "service", "myapp-svc", "webapp-svc", "other-svc", "share-80", "share-8080",
                  "--ignore-not-found")
        c.kubectl("delete", "deployment", "myapp", "--ignore-not-found")
        c.kubectl("-n", "metallb-system", "delete", "configmap", "config", "--ignore-not-found")
