# SPDX-License-Identifier: GPL-2.0-or-later
"""Dual-stack and the BGP topology (issues 4 and 7): `e2e/cluster up --ipv6
--bgp` gives every node, pod and Service both families, a BIRD router with a
session configured per node and a remote client behind it; ferry forwards
IPv6 Services as it does IPv4 ones."""
import json
import os

CLUSTER_ARGS = ["--nodes", "2", "--ipv6", "--bgp"]
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")

APP = {"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dual"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "dual"}},
              "template": {"metadata": {"labels": {"app": "dual"}},
                           "spec": {"topologySpreadConstraints": [{
                               "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                               "whenUnsatisfiable": "DoNotSchedule",
                               "labelSelector": {"matchLabels": {"app": "dual"}}}],
                               "containers": [{"name": "app", "image": "e2e/podserver",
                                               "ports": [{"containerPort": 80}]}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dual"},
     "spec": {"type": "NodePort", "ipFamilyPolicy": "RequireDualStack",
              "ipFamilies": ["IPv4", "IPv6"], "selector": {"app": "dual"}, "ports": [{"port": 80}]}}]}


def test_nodes_and_pods_have_both_families(cluster):
    c = cluster
    for n in c.kjson("get", "nodes")["items"]:
        ips = [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
        assert any(":" in i for i in ips) and any(":" not in i for i in ips), ips
        assert len(n["spec"]["podCIDRs"]) == 2 and ":" in n["spec"]["podCIDRs"][1]
    c.apply(json.dumps(APP))
    pods = c.wait(lambda: (lambda ps: ps if len(ps) == 2 else None)(
        [p for p in c.pods("app=dual") if len(p["status"].get("podIPs", [])) == 2 and any(
            x["type"] == "Ready" and x["status"] == "True" for x in p["status"]["conditions"])]),
        90, "2 dual-stack pods")
    for p in pods:
        v6 = p["status"]["podIPs"][1]["ip"]
        assert v6.startswith("2001:db8:1:")
        assert c.curl("client", "http://[%s]/clientip" % v6) == "2001:db8::100"


def test_ipv6_service_through_ferry(cluster):
    c = cluster
    svc = c.kjson("get", "service", "dual")
    v4, v6 = svc["spec"]["clusterIPs"]
    assert ":" in v6 and v6.startswith("2001:db8:5e::")
    np_ = svc["spec"]["ports"][0]["nodePort"]
    names = {p["metadata"]["name"] for p in c.pods("app=dual")}
    for url in ("http://[%s]/" % v6, "http://%s/" % v4):
        body = c.wait(lambda: c.exec("node1", "curl", "-s", "-m", "2", url, check=False).stdout.strip(),
                      30, url)
        assert body.rsplit(" ", 1)[-1] in names
    body = c.wait(lambda: c.curl("client", "http://[2001:db8::12]:%d/" % np_, check=False), 30,
                  "IPv6 NodePort")
    assert body.rsplit(" ", 1)[-1] in names
    # IPv6 EndpointSlices are what ferry used
    slices = c.kjson("get", "endpointslices", "-l", "kubernetes.io/service-name=dual")["items"]
    assert {s["addressType"] for s in slices} == {"IPv4", "IPv6"}


def test_router_and_remote(cluster):
    c = cluster
    out = c.exec("router", "birdc", "-s", os.path.join(STATE, "bird.ctl"), "show", "protocols").stdout
    for n in ("node1", "node2"):
        assert n in out, out
    # the remote client reaches the LAN only through the router
    assert c.exec("remote", "ping", "-c", "1", "-W", "2", "192.0.2.1").returncode == 0
    assert c.exec("remote", "ip", "route").stdout.startswith("default via 198.51.100.1")
    # nodes answer the remote through the router (their route back)
    assert "198.51.100.0/24 via 192.0.2.1" in c.exec("node1", "ip", "route").stdout
    assert c.exec("remote", "ping", "-c", "1", "-W", "2", "192.0.2.11").returncode == 0
