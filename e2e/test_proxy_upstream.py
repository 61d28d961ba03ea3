# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's sig-network e2e cases (k8s.io/kubernetes v1.37.2,
test/e2e/network/{service,loadbalancer,conntrack,networking}.go), ported to
the netns cluster and run, like e2e/test_proxy.py, against ferry and against
the real kube-proxy (nftables mode). Each test names the upstream cases it
asserts; docs/kube-proxy-compat.md maps every upstream case to its test.

Where upstream dials from a pod, these do too (a pod of `solo`, or of the
Service itself for the endpoint cases); where it dials from a node, from
the node's namespace; LoadBalancer IPs are hand-set with a route from the
client, as in test_proxy.py."""
import json
import os
import time

import pytest

from lib import traffic
from test_proxy import (HERE, NODE_IP, cluster, delete, deployment, get, lingering_pod,  # noqa: F401
                        pod_on, ready_pods, route_to, service, udp, udp_flow, until, until_udp)

HELLO = "Hello MyApp | Version: v2 | Pod Name: "


def patch(c, name, spec):
    c.kubectl("patch", "service", name, "--type=merge", "-p", json.dumps({"spec": spec}))
    return c.kjson("get", "service", name)


def names(c, where, url, n=12):
    return [get(c, where, url) for _ in range(n)]


def gone(c, where, url, timeout=20):
    """Wait until `url` no longer answers (refused or silent)."""
    c.wait(lambda: not isinstance(get(c, where, url, timeout=1), str), timeout,
           "%s stops answering from %s" % (url, where))


def solo_pod(c):
    return pod_on(c, "solo", "node1")["metadata"]["name"]


# ---------------------------------------------------------------- service.go

def test_multiport_endpoints(cluster):
    """service.go "should serve multiport endpoints from pods"
    [Conformance]: two Service ports, each to its own container port."""
    c = cluster
    c.apply(json.dumps(deployment("multi", 1, node="node2", ports=(80, 8081))))
    try:
        c.wait(lambda: len(ready_pods(c, "multi")) == 1, 60, "multi ready")
        s = service(c, "multi", "multi", ports=[{"name": "a", "port": 80, "targetPort": 80},
                                                {"name": "b", "port": 81, "targetPort": 8081}])
        for port in (80, 81):
            assert until(c, solo_pod(c), "http://%s:%d/" % (s["spec"]["clusterIP"], port)) \
                .startswith(HELLO + "multi-")
        # the one port's endpoints are not the other's
        patch(c, "multi", {"ports": [{"name": "a", "port": 80, "targetPort": 80},
                                     {"name": "b", "port": 81, "targetPort": 8082}]})
        gone(c, solo_pod(c), "http://%s:81/" % s["spec"]["clusterIP"])
        assert get(c, solo_pod(c), "http://%s/" % s["spec"]["clusterIP"]).startswith(HELLO)
    finally:
        delete(c, "multi")
        c.kubectl("delete", "deployment", "multi", "--wait=false", check=False)


def test_type_to_node_port_same_port_two_protocols(cluster):
    """service.go "should be able to update service type to NodePort
    listening on same port number but different protocols"."""
    c = cluster
    s = service(c, "np-proto", "web", ports=[{"name": "tcp", "port": 53, "targetPort": 80,
                                              "protocol": "TCP"}])
    try:
        until(c, "node1", "http://%s:53/" % s["spec"]["clusterIP"])
        s = patch(c, "np-proto", {"type": "NodePort", "ports": [
            {"name": "tcp", "port": 53, "targetPort": 80, "protocol": "TCP"},
            {"name": "udp", "port": 53, "targetPort": 80, "protocol": "UDP"}]})
        ports = {p["name"]: p["nodePort"] for p in s["spec"]["ports"]}
        until(c, "client", "http://192.0.2.12:%d/" % ports["tcp"])
        until_udp(c, "client", "192.0.2.12", ports["udp"])
        until_udp(c, "node1", s["spec"]["clusterIP"], 53)
    finally:
        delete(c, "np-proto")


def test_after_restarting_the_apiserver(cluster):
    """service.go "should work after restarting apiserver" [Disruptive]: a
    Service keeps answering across the restart, and one created after it
    is programmed."""
    c = cluster
    a = service(c, "before-restart", "web")
    try:
        until(c, "node1", "http://%s/" % a["spec"]["clusterIP"])
        c.run("api", "restart", timeout=180)
        assert get(c, "node1", "http://%s/" % a["spec"]["clusterIP"]).startswith(HELLO)
        c.wait(lambda: c.kubectl("get", "--raw", "/readyz", check=False).strip() == "ok", 60,
               "the apiserver ready")
        b = service(c, "after-restart", "web")
        until(c, "node2", "http://%s/" % b["spec"]["clusterIP"], timeout=60)
        assert get(c, "node2", "http://%s/" % a["spec"]["clusterIP"]).startswith(HELLO)
    finally:
        delete(c, "before-restart", "after-restart")


def test_ports_added_and_removed(cluster):
    """service.go "should be updated after adding or deleting ports"."""
    c = cluster
    s = service(c, "ports", "web")
    vip = s["spec"]["clusterIP"]
    try:
        until(c, "node1", "http://%s/" % vip)
        patch(c, "ports", {"ports": [{"name": "http", "port": 80, "targetPort": 80},
                                     {"name": "alt", "port": 8081, "targetPort": 80}]})
        until(c, "node1", "http://%s:8081/" % vip)
        assert get(c, "node1", "http://%s/" % vip).startswith(HELLO)
        patch(c, "ports", {"ports": [{"name": "alt", "port": 8081, "targetPort": 80}]})
        gone(c, "node1", "http://%s/" % vip)
        assert get(c, "node1", "http://%s:8081/" % vip).startswith(HELLO)
    finally:
        delete(c, "ports")


def test_services_up_down_and_recreated(cluster):
    """service.go "should be able to up and down services" and "should work
    after the service has been recreated": deleting one Service leaves the
    other serving; the same name created again serves on its new address."""
    c = cluster
    a, b = service(c, "updown-a", "web"), service(c, "updown-b", "web")
    ua, ub = ("http://%s/" % x["spec"]["clusterIP"] for x in (a, b))
    try:
        until(c, "node1", ua)
        until(c, "node2", ub)
        delete(c, "updown-a")
        gone(c, "node1", ua)
        for where in ("node1", "node2", solo_pod(c)):
            assert get(c, where, ub).startswith(HELLO), where
        a2 = service(c, "updown-a", "web")
        until(c, "node2", "http://%s/" % a2["spec"]["clusterIP"])
        until(c, solo_pod(c), "http://%s/" % a2["spec"]["clusterIP"])
    finally:
        delete(c, "updown-a", "updown-b")


def test_external_name_to_cluster_ip_and_node_port(cluster):
    """service.go "should be able to change the type from ExternalName to
    ClusterIP" and "... to NodePort" [Conformance]."""
    c = cluster
    c.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "extname"},
                        "spec": {"type": "ExternalName", "externalName": "example.invalid"}}))
    try:
        s = patch(c, "extname", {"type": "ClusterIP", "externalName": None,
                                 "selector": {"app": "web"},
                                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]})
        until(c, solo_pod(c), "http://%s/" % s["spec"]["clusterIP"])
        s = patch(c, "extname", {"type": "NodePort"})
        np_ = s["spec"]["ports"][0]["nodePort"]
        for ip in NODE_IP.values():
            until(c, "client", "http://%s:%d/" % (ip, np_))
    finally:
        delete(c, "extname")


def test_switch_session_affinity(cluster):
    """service.go "should be able to switch session affinity for service
    with type clusterIP" and "... for NodePort service" [Conformance]:
    ClientIP pins a client, None spreads it, ClientIP pins it again."""
    c = cluster
    s = service(c, "switch", "web", "NodePort", sessionAffinity="ClientIP")
    vip, np_ = s["spec"]["clusterIP"], s["spec"]["ports"][0]["nodePort"]
    paths = (("node1", "http://%s/hostname" % vip), ("client", "http://192.0.2.12:%d/hostname" % np_))
    try:
        for where, url in paths:
            until(c, where, url)
        for mode in ("ClientIP", "None", "ClientIP"):
            patch(c, "switch", {"sessionAffinity": mode})
            for where, url in paths:
                if mode == "ClientIP":
                    c.wait(lambda: len(set(names(c, where, url))) == 1, 20,
                           "one pod for %s (ClientIP)" % url)
                else:
                    c.wait(lambda: len(set(names(c, where, url))) >= 2, 20,
                           "spread again for %s (None)" % url)
    finally:
        delete(c, "switch")


def test_session_affinity_timeout_node_port(cluster):
    """service.go "should have session affinity timeout work for NodePort
    service": after the timeout a client gets a fresh pick. A fresh pick is
    the same pod one time in four: up to six rounds."""
    c = cluster
    s = service(c, "sticky-np", "web", "NodePort", sessionAffinity="ClientIP",
                sessionAffinityConfig={"clientIP": {"timeoutSeconds": 3}})
    url = "http://192.0.2.11:%d/hostname" % s["spec"]["ports"][0]["nodePort"]
    try:
        until(c, "client", url)
        first = set(names(c, "client", url, 6))
        assert len(first) == 1, first
        for _ in range(6):
            time.sleep(4.5)
            now = set(names(c, "client", url, 3))
            assert len(now) == 1, "pinned again after the fresh pick: %s" % now
            if now != first:
                break
        else:
            pytest.fail("the same pod after six timeouts: %s" % first)
    finally:
        delete(c, "sticky-np")


def test_headless_label(cluster):
    """service.go "should implement service.kubernetes.io/headless", as
    upstream writes it: a selectorless Service served through an
    EndpointSlice of its own; once the slice carries the headless label the
    proxy no longer sees it (kube-proxy filters EndpointSlices, not
    Services, by that label: a Service labelled so is still served)."""
    c = cluster
    pod = pod_on(c, "solo", "node1")
    s = service(c, "custom-eps", "unused", labels={"service.kubernetes.io/headless": ""})
    patch(c, "custom-eps", {"selector": None})
    sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
          "metadata": {"name": "custom-eps-1",
                       "labels": {"kubernetes.io/service-name": "custom-eps",
                                  "endpointslice.kubernetes.io/managed-by": "e2e.ferry.dev"}},
          "endpoints": [{"addresses": [pod["status"]["podIP"]], "conditions": {"ready": True}}],
          "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    url = "http://%s/" % s["spec"]["clusterIP"]
    try:
        c.apply(json.dumps(sl))
        assert until(c, "node2", url) == HELLO + pod["metadata"]["name"]
        c.kubectl("label", "endpointslice", "custom-eps-1", "service.kubernetes.io/headless=")
        c.wait(lambda: get(c, "node2", url, timeout=1) in (None, ("refused",)), 20,
               "not reachable once the slice is labelled headless")
    finally:
        delete(c, "custom-eps")
        c.kubectl("delete", "endpointslice", "custom-eps-1", "--ignore-not-found", check=False)


@pytest.mark.parametrize("type_", ["ClusterIP", "LoadBalancer"])
def test_same_port_two_protocols_removed_one_by_one(cluster, type_):
    """service.go "should serve endpoints on same port and different
    protocols" [Conformance] and "... for internal traffic on Type
    LoadBalancer": TCP and UDP on one port both answer; with one protocol
    removed it stops while the other goes on, and the other way round."""
    c = cluster
    tcp = {"name": "tcp", "port": 53, "targetPort": 80, "protocol": "TCP"}
    udp_ = {"name": "udp", "port": 53, "targetPort": 80, "protocol": "UDP"}
    extra = {"lb_ip": "192.0.2.203"} if type_ == "LoadBalancer" else {}
    s = service(c, "dual", "web", type_, ports=[tcp, udp_], **extra)
    vip = s["spec"]["clusterIP"]
    url = "http://%s:53/" % vip
    try:
        until(c, "node1", url)
        until_udp(c, "node1", vip, 53)
        patch(c, "dual", {"ports": [tcp]})
        c.wait(lambda: udp(c, "node1", vip, 53, timeout=1) is None, 20, "UDP gone")
        assert get(c, "node1", url).startswith(HELLO)
        patch(c, "dual", {"ports": [udp_]})
        gone(c, "node1", url)
        until_udp(c, "node1", vip, 53)
    finally:
        delete(c, "dual")


def health(c, node, port):
    """HTTP status of a health-check node port, or None."""
    p = c.exec("client", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
               "http://%s:%d/" % (NODE_IP[node], port), check=False)
    return int(p.stdout) if p.stdout.strip().isdigit() and p.stdout.strip() != "000" else None


def test_traffic_policy_changes(cluster):
    """service.go "should implement NodePort and HealthCheckNodePort
    correctly when ExternalTrafficPolicy changes": Local gives a health-check
    port (200 where the pod is, 503 elsewhere) and the NodePort only where
    the pod is; Cluster closes the health-check port and opens the NodePort
    everywhere; Local again restores both."""
    c = cluster
    s = service(c, "etp", "solo", "LoadBalancer", lb_ip="192.0.2.212",
                externalTrafficPolicy="Local")
    np_, hc = s["spec"]["ports"][0]["nodePort"], s["spec"]["healthCheckNodePort"]
    try:
        until(c, "client", "http://192.0.2.11:%d/" % np_)
        c.wait(lambda: health(c, "node1", hc) == 200 and health(c, "node2", hc) == 503, 20,
               "health check 200 on node1, 503 on node2")
        assert get(c, "client", "http://192.0.2.12:%d/" % np_) is None
        s = patch(c, "etp", {"externalTrafficPolicy": "Cluster"})
        assert not s["spec"].get("healthCheckNodePort")
        until(c, "client", "http://192.0.2.12:%d/" % np_)
        c.wait(lambda: health(c, "node1", hc) is None and health(c, "node2", hc) is None, 20,
               "the health-check port closed")
        s = patch(c, "etp", {"externalTrafficPolicy": "Local"})
        hc = s["spec"]["healthCheckNodePort"]
        c.wait(lambda: health(c, "node1", hc) == 200 and health(c, "node2", hc) == 503, 20,
               "health check back")
        c.wait(lambda: get(c, "client", "http://192.0.2.12:%d/" % np_, timeout=1) is None, 20,
               "node2's NodePort silent again")
    finally:
        delete(c, "etp")


def test_named_target_port_resolves_per_endpoint(cluster):
    """service.go "should support named targetPorts that resolve to
    different ports on different endpoints": targetPort `http` is 80 on one
    pod and 8080 on the other; both answer through the one Service port."""
    c = cluster
    items = []
    for name, port in (("named-a", 80), ("named-b", 8080)):
        d = deployment(name, 1, node="node2")
        d["spec"]["template"]["metadata"]["labels"]["named"] = "1"
        d["spec"]["template"]["spec"]["containers"][0]["ports"] = [
            {"name": "http", "containerPort": port}]
        items.append(d)
    c.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    try:
        c.wait(lambda: len(ready_pods(c, "named-a")) == 1 and len(ready_pods(c, "named-b")) == 1,
               60, "named-a and named-b ready")
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "named"},
                "spec": {"selector": {"named": "1"},
                         "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}
        c.apply(json.dumps(body))
        vip = c.kjson("get", "service", "named")["spec"]["clusterIP"]
        seen = set()
        c.wait(lambda: seen.update(n[:7] for n in names(c, "node1", "http://%s/hostname" % vip, 6)
                                   if isinstance(n, str)) or seen >= {"named-a", "named-b"},
               30, "both pods answer through targetPort http")
    finally:
        delete(c, "named")
        c.kubectl("delete", "deployment", "named-a", "named-b", "--wait=false", check=False)


def test_publish_not_ready_addresses(cluster):
    """service.go "should create endpoints for unready pods" and "should be
    able to connect to terminating and unready endpoints if
    PublishNotReadyAddresses is true": an unready pod, then the same pod
    terminating, is reached through a Service with publishNotReadyAddresses
    and not through a plain one."""
    c = cluster
    c.apply(json.dumps(lingering_pod("unready", 30)))
    try:
        c.wait(lambda: len(ready_pods(c, "unready")) == 1, 60, "unready's pod ready")
        c.run("pod", "unready", "unready")
        c.wait(lambda: not ready_pods(c, "unready"), 30, "the pod not ready")
        plain = service(c, "plain", "unready")
        pub = service(c, "published", "unready", publishNotReadyAddresses=True)
        plain_url, pub_url = ("http://%s/" % s["spec"]["clusterIP"] for s in (plain, pub))
        assert until(c, "node1", pub_url) == HELLO + "unready"
        c.wait(lambda: get(c, "node1", plain_url) == ("refused",), 20,
               "the plain Service has no endpoint")
        c.kubectl("delete", "pod", "unready", "--wait=false")
        c.wait(lambda: c.kjson("get", "pod", "unready")["metadata"].get("deletionTimestamp"), 10,
               "the pod terminating")
        time.sleep(2)
        for _ in range(3):
            assert get(c, "node1", pub_url) == HELLO + "unready", "terminating and unready"
        assert get(c, "node1", plain_url) == ("refused",)
    finally:
        delete(c, "plain", "published")
        c.kubectl("delete", "pod", "unready", "--ignore-not-found", "--grace-period=0", "--force",
                  check=False)


def test_terminating_endpoints_fallbacks(cluster):
    """service.go "should fail health check node port if there are only
    terminating endpoints", "should fallback to local terminating endpoints
    when there are no ready endpoints with internalTrafficPolicy=Local",
    "... with externalTrafficPolicy=Cluster" (the NodePort) and "... local
    terminating endpoints ... with externalTrafficPolicy=Local"."""
    c = cluster
    c.apply(json.dumps(lingering_pod("fading", 30)))
    try:
        c.wait(lambda: len(ready_pods(c, "fading")) == 1, 60, "fading ready")
        loc = service(c, "fade-local", "fading", "LoadBalancer", lb_ip="192.0.2.213",
                      externalTrafficPolicy="Local")
        itp = service(c, "fade-itp", "fading", internalTrafficPolicy="Local")
        clu = service(c, "fade-cluster", "fading", "NodePort")
        np_l, hc = loc["spec"]["ports"][0]["nodePort"], loc["spec"]["healthCheckNodePort"]
        np_c = clu["spec"]["ports"][0]["nodePort"]
        url_itp = "http://%s/" % itp["spec"]["clusterIP"]
        until(c, "client", "http://192.0.2.12:%d/" % np_l)
        until(c, "node2", url_itp)
        until(c, "client", "http://192.0.2.11:%d/" % np_c)
        c.wait(lambda: health(c, "node2", hc) == 200, 20, "health check 200 with a ready pod")
        c.kubectl("delete", "pod", "fading", "--wait=false")

        def terminating():
            sl = c.kjson("get", "endpointslices", "-l", "kubernetes.io/service-name=fade-local")["items"]
            eps = [e for x in sl for e in x.get("endpoints") or []]
            return eps and all(e["conditions"].get("terminating") and e["conditions"].get("serving")
                               for e in eps)
        c.wait(terminating, 20, "the endpoint terminating but serving")
        c.wait(lambda: health(c, "node2", hc) == 503, 10, "health check 503: only terminating")
        want = HELLO + "fading"
        c.wait(lambda: get(c, "client", "http://192.0.2.12:%d/" % np_l) == want, 10,
               "ETP Local: the local terminating endpoint serves")
        c.wait(lambda: get(c, "node2", url_itp) == want, 10,
               "ITP Local: the local terminating endpoint serves")
        c.wait(lambda: get(c, "client", "http://192.0.2.11:%d/" % np_c) == want, 10,
               "ETP Cluster: the terminating endpoint serves through another node")
    finally:
        delete(c, "fade-local", "fade-itp", "fade-cluster")
        c.kubectl("delete", "pod", "fading", "--ignore-not-found", "--grace-period=0", "--force",
                  check=False)


# ---------------------------------------------------------------- networking.go

def test_node_port_from_pods_nodes_and_endpoints(cluster):
    """networking.go Granular Checks: Services "should function for
    pod-Service", "node-Service" and "endpoint-Service", http and udp: a
    NodePort (and ClusterIP) Service on TCP and UDP, dialled from a pod
    that is not an endpoint, from a node itself, and from an endpoint."""
    c = cluster
    s = service(c, "granular", "web", "NodePort", ports=[
        {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "udp", "port": 90, "targetPort": 80, "protocol": "UDP"}])
    vip = s["spec"]["clusterIP"]
    ports = {p["name"]: p["nodePort"] for p in s["spec"]["ports"]}
    endpoint = pod_on(c, "web", "node2")["metadata"]["name"]
    try:
        for where in (solo_pod(c), "node1", endpoint):
            for ip, tport, uport in [(vip, 80, 90)] + [(n, ports["http"], ports["udp"])
                                                       for n in NODE_IP.values()]:
                body = until(c, where, "http://%s:%d/" % (ip, tport))
                assert body.startswith(HELLO + "web-"), (where, ip, body)
                assert until_udp(c, where, ip, uport).startswith("web-"), (where, ip)
    finally:
        delete(c, "granular")


def test_endpoints_follow_a_scale_down(cluster):
    """networking.go "should update endpoints: http" and "... udp": a
    ClusterIP (TCP and UDP) over two pods; one pod goes, and only the other
    answers."""
    c = cluster
    c.apply(json.dumps(deployment("upd", 2)))
    s = service(c, "upd", "upd", ports=[
        {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "udp", "port": 90, "targetPort": 80, "protocol": "UDP"}])
    vip = s["spec"]["clusterIP"]
    url = "http://%s/hostname" % vip
    try:
        c.wait(lambda: len(ready_pods(c, "upd")) == 2, 60, "upd's two pods ready")
        both = {p["metadata"]["name"] for p in ready_pods(c, "upd")}
        seen = set()
        c.wait(lambda: seen.update(x for x in names(c, solo_pod(c), url, 4) if isinstance(x, str))
               or seen >= both, 30, "both pods answer")
        c.kubectl("scale", "deployment", "upd", "--replicas=1")
        c.wait(lambda: len(c.pods("app=upd")) == 1, 60, "one pod left")
        left = {p["metadata"]["name"] for p in c.pods("app=upd")}
        c.wait(lambda: set(names(c, solo_pod(c), url, 6)) == left, 20, "only %s answers" % left)
        c.wait(lambda: {udp(c, solo_pod(c), vip, 90) for _ in range(4)} == left, 20,
               "only %s answers UDP" % left)
    finally:
        delete(c, "upd")
        c.kubectl("delete", "deployment", "upd", "--wait=false", check=False)


def test_services_sharing_a_selector(cluster):
    """networking.go "should function for multiple endpoint-Services with
    same selector": two Services over the same pods; one deleted, the other
    keeps serving."""
    c = cluster
    a, b = service(c, "same-a", "web"), service(c, "same-b", "web")
    try:
        for x in (a, b):
            until(c, solo_pod(c), "http://%s/" % x["spec"]["clusterIP"])
        delete(c, "same-a")
        gone(c, solo_pod(c), "http://%s/" % a["spec"]["clusterIP"])
        assert get(c, solo_pod(c), "http://%s/" % b["spec"]["clusterIP"]).startswith(HELLO)
    finally:
        delete(c, "same-a", "same-b")


def test_deleted_node_port_stops_answering(cluster):
    """networking.go "should update nodePort: http" and "... udp" (and
    "should support basic nodePort: udp functionality", from the node)."""
    c = cluster
    s = service(c, "np-gone", "web", "NodePort", ports=[
        {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "udp", "port": 80, "targetPort": 80, "protocol": "UDP"}])
    ports = {p["name"]: p["nodePort"] for p in s["spec"]["ports"]}
    try:
        until(c, "node1", "http://192.0.2.11:%d/" % ports["http"])
        until_udp(c, "node1", "192.0.2.11", ports["udp"])
        delete(c, "np-gone")
        gone(c, "node1", "http://192.0.2.11:%d/" % ports["http"])
        c.wait(lambda: udp(c, "node1", "192.0.2.11", ports["udp"], timeout=1) is None, 20,
               "the UDP NodePort silent")
        assert get(c, "client", "http://192.0.2.12:%d/" % ports["http"], timeout=1) in (None, ("refused",))
    finally:
        delete(c, "np-gone")


def test_udp_session_affinity(cluster):
    """networking.go "should function for client IP based session affinity:
    udp": datagrams from new source ports of one client reach one pod."""
    c = cluster
    s = service(c, "sticky-udp", "web", sessionAffinity="ClientIP", ports=[
        {"name": "udp", "port": 90, "targetPort": 80, "protocol": "UDP"}])
    vip = s["spec"]["clusterIP"]
    try:
        until_udp(c, "node1", vip, 90)
        got = {udp(c, "node1", vip, 90) for _ in range(10)}     # socat: a new source port each
        assert len(got) == 1 and None not in got, got
    finally:
        delete(c, "sticky-udp")


def test_large_requests(cluster):
    """networking.go "should be able to handle large requests: http" and
    "... udp": a 2,000-byte request line and a 2,000-byte datagram (two
    fragments on a 1,500-byte link) through a ClusterIP."""
    c = cluster
    s = service(c, "large", "web", ports=[
        {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "udp", "port": 90, "targetPort": 80, "protocol": "UDP"}])
    vip = s["spec"]["clusterIP"]
    big = "x" * 2000
    try:
        assert until(c, "node1", "http://%s/?q=%s" % (vip, big)).startswith(HELLO)
        out = c.wait(lambda: (lambda o: (o,) if o.endswith(big) else None)(c.exec(
            solo_pod(c), "bash", "-c", "printf %s | timeout 4 socat -t 3 - UDP:%s:90" % (big, vip),
            check=False).stdout.strip()), 20, "the 2,000-byte datagram echoed")[0]
        assert out.startswith("web-")
    finally:
        delete(c, "large")


def test_host_network_endpoints(cluster):
    """networking.go "should function for service endpoints using
    hostNetwork" and service.go "should respect internalTrafficPolicy=Local
    Pod and Node, to Pod (hostNetwork: true)": endpoints that are node
    addresses, reached from pods and nodes; with ITP Local only the node
    that runs one answers."""
    c = cluster
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "hostweb", "labels": {"app": "hostweb"}},
           "spec": {"hostNetwork": True, "nodeSelector": {"kubernetes.io/hostname": "node2"},
                    "containers": [{"name": "app", "image": "e2e/python",
                                    "command": ["python3", os.path.join(HERE, "podserver.py"),
                                                "--name", "hostweb", "--port", "18080"],
                                    "ports": [{"containerPort": 18080}]}]}}
    c.apply(json.dumps(pod))
    try:
        c.wait(lambda: len(ready_pods(c, "hostweb")) == 1, 60, "hostweb ready")
        s = service(c, "hostsvc", "hostweb", ports=[{"name": "http", "port": 80, "targetPort": 18080}])
        itp = service(c, "hostsvc-local", "hostweb", internalTrafficPolicy="Local",
                      ports=[{"name": "http", "port": 80, "targetPort": 18080}])
        url = "http://%s/" % s["spec"]["clusterIP"]
        for where in ("node1", "node2", solo_pod(c)):
            assert until(c, where, url) == HELLO + "hostweb", where
        url = "http://%s/" % itp["spec"]["clusterIP"]
        assert until(c, "node2", url) == HELLO + "hostweb"
        assert not isinstance(get(c, "node1", url, timeout=1), str), "node1 runs no endpoint"
        assert not isinstance(get(c, solo_pod(c), url, timeout=1), str), "nor does solo's node"
    finally:
        delete(c, "hostsvc", "hostsvc-local")
        c.kubectl("delete", "pod", "hostweb", "--ignore-not-found", "--grace-period=0", "--force",
                  check=False)


# ---------------------------------------------------------------- loadbalancer.go

@pytest.mark.parametrize("proto", ["TCP", "UDP"])
def test_change_type_and_ports(cluster, proto):
    """loadbalancer.go "should be able to change the type and ports of a TCP
    service" and "... of a UDP service": ClusterIP, then NodePort, then
    LoadBalancer; the port changed, the NodePort changed (the old one
    closes), back to ClusterIP (the NodePort and LB IP close)."""
    c = cluster
    lb = "192.0.2.204" if proto == "TCP" else "192.0.2.205"

    def ok(where, ip, port):
        if proto == "TCP":
            return isinstance(get(c, where, "http://%s:%d/" % (ip, port)), str)
        return udp(c, where, ip, port) is not None

    def wait_ok(where, ip, port):
        c.wait(lambda: ok(where, ip, port), 20, "%s %s:%d from %s" % (proto, ip, port, where))

    def wait_closed(where, ip, port):
        c.wait(lambda: not ok(where, ip, port), 20, "%s %s:%d closed" % (proto, ip, port))

    port = {"name": "p", "port": 80, "targetPort": 80, "protocol": proto}
    s = service(c, "mutant", "web", ports=[port])
    vip = s["spec"]["clusterIP"]
    route_to(c, lb, "node1")
    try:
        wait_ok("node1", vip, 80)
        np1 = patch(c, "mutant", {"type": "NodePort"})["spec"]["ports"][0]["nodePort"]
        wait_ok("client", "192.0.2.12", np1)
        patch(c, "mutant", {"type": "LoadBalancer", "loadBalancerClass": "e2e.ferry.dev/manual"})
        c.kubectl("patch", "service", "mutant", "--subresource=status", "--type=merge", "-p",
                  json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": lb}]}}}))
        wait_ok("client", lb, 80)
        patch(c, "mutant", {"ports": [dict(port, port=81, nodePort=np1)]})
        wait_ok("client", lb, 81)
        wait_ok("node1", vip, 81)
        wait_closed("client", lb, 80)
        np2 = np1 + 1 if np1 < 32767 else np1 - 1
        patch(c, "mutant", {"ports": [dict(port, port=81, nodePort=np2)]})
        wait_ok("client", "192.0.2.12", np2)
        wait_closed("client", "192.0.2.12", np1)
        patch(c, "mutant", {"type": "ClusterIP", "loadBalancerClass": None,
                            "ports": [dict(port, port=81)]})
        wait_closed("client", "192.0.2.12", np2)
        wait_closed("client", lb, 81)
        wait_ok("node1", vip, 81)
    finally:
        delete(c, "mutant")
        c.exec("client", "ip", "route", "del", lb + "/32", check=False)


def test_load_balancer_without_node_ports_then_with(cluster):
    """loadbalancer.go "should be able to create LoadBalancer Service
    without NodePort and change it": the LB IP serves without NodePorts;
    NodePorts added later serve too."""
    c = cluster
    s = service(c, "no-np", "web", "LoadBalancer", lb_ip="192.0.2.206",
                allocateLoadBalancerNodePorts=False)
    route_to(c, "192.0.2.206", "node1")
    try:
        assert not s["spec"]["ports"][0].get("nodePort")
        until(c, "client", "http://192.0.2.206/")
        s = patch(c, "no-np", {"allocateLoadBalancerNodePorts": True})
        s = patch(c, "no-np", {"ports": [{"name": "http", "port": 80, "targetPort": 80,
                                          "nodePort": 30931}]})
        until(c, "client", "http://192.0.2.12:30931/")
        assert get(c, "client", "http://192.0.2.206/").startswith(HELLO)
    finally:
        delete(c, "no-np")
        c.exec("client", "ip", "route", "del", "192.0.2.206/32", check=False)


@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_load_balancer_session_affinity(cluster, policy):
    """loadbalancer.go "should have session affinity work for LoadBalancer
    service with Cluster traffic policy" / "... Local ..." and "should be
    able to switch session affinity ..." for both: through the LB IP,
    ClientIP pins the client, None spreads it, ClientIP pins it again."""
    c = cluster
    lb = "192.0.2.207" if policy == "Cluster" else "192.0.2.208"
    # Local: the pods on node1 only take the LB IP's traffic
    s = service(c, "lb-sticky", "web", "LoadBalancer", lb_ip=lb, externalTrafficPolicy=policy,
                sessionAffinity="ClientIP")
    route_to(c, lb, "node1")
    url = "http://%s/hostname" % lb
    try:
        until(c, "client", url)
        for mode in ("ClientIP", "None", "ClientIP"):
            patch(c, "lb-sticky", {"sessionAffinity": mode})
            want = (lambda n: n == 1) if mode == "ClientIP" else (lambda n: n >= 2)
            c.wait(lambda: want(len(set(names(c, "client", url)))), 20,
                   "%s through the LB IP (%s policy)" % (mode, policy))
        assert s["spec"]["externalTrafficPolicy"] == policy
    finally:
        delete(c, "lb-sticky")
        c.exec("client", "ip", "route", "del", lb + "/32", check=False)


@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_rolling_update_without_disruption(cluster, policy):
    """loadbalancer.go "should not have connectivity disruption during
    rolling update with externalTrafficPolicy=Cluster" / "... Local": GETs
    through the LB IP every 50 ms while the Deployment is rolled; its pods
    keep serving for 5 s after deletion (graceful termination), so none may
    fail."""
    c = cluster
    lb = "192.0.2.210" if policy == "Cluster" else "192.0.2.211"
    c.apply(json.dumps(deployment("roll", 4, annotations={"e2e.ferry.dev/terminating-seconds": "5"})))
    s = service(c, "roll", "roll", "LoadBalancer", lb_ip=lb, externalTrafficPolicy=policy)
    route_to(c, lb, "node1")
    try:
        c.wait(lambda: len(ready_pods(c, "roll")) == 4, 60, "roll's pods ready")
        until(c, "client", "http://%s/" % lb)
        loop = traffic.get_loop(lb, 60, interval=0.05)
        time.sleep(2)
        c.kubectl("rollout", "restart", "deployment", "roll")
        c.kubectl("rollout", "status", "deployment", "roll", "--timeout=90s", timeout=120)
        time.sleep(3)
        rows = loop.stop()
        assert len(rows) > 100, "the loop ran"
        bad = traffic.failures(rows)
        assert not bad, "%d of %d GETs failed during the roll: %s" % (len(bad), len(rows), bad[:5])
        assert s["spec"]["externalTrafficPolicy"] == policy
    finally:
        delete(c, "roll")
        c.kubectl("delete", "deployment", "roll", "--wait=false", check=False)
        c.exec("client", "ip", "route", "del", lb + "/32", check=False)


# ---------------------------------------------------------------- conntrack.go

def first_answer_after(p, t, pods, limit):
    """Read the flow's lines until one from `pods` after time t (or the flow
    ends, or `limit` seconds pass); its time, or None, and the lines read."""
    seen = []
    end = time.time() + limit
    for line in p.stdout:
        seen.append(line)
        ts, who = line.split()
        if float(ts) > t and who in pods:
            return float(ts), "".join(seen)
        if time.time() > end:
            break
    return None, "".join(seen)


def reached_soon(p, t, want):
    """The flow reaches one of `want` within 5 s of time t."""
    first, out = first_answer_after(p, t, want, 20)
    assert first, "the flow never reached %s:\n%s" % (sorted(want), out[-1500:])
    assert first - t < 5, "reached %s %.1f s later" % (sorted(want), first - t)


@pytest.mark.parametrize("case", ["cluster-ip", "itp-local", "host-client", "unready-first",
                                  "load-balancer", "load-balancer-moved"])
def test_udp_flow_follows_the_server_pod(cluster, case):
    """conntrack.go "should be able to preserve UDP traffic when server pod
    cycles for a ClusterIP service", "... with InternalTrafficPolicy set to
    Local", "... and client is hostNetwork", "should be able to preserve UDP
    traffic when initial unready endpoints get ready", and loadbalancer.go
    "... when server pod cycles for a LoadBalancer service on the same
    nodes" and "... on different nodes" (moved): one flow with a
    fixed source port keeps going while its server pod is replaced (or turns
    ready), and reaches the new pod."""
    c = cluster
    # as upstream: the client on another node than the server (node2),
    # except with ITP Local, where it must share the server's node
    client = {"host-client": "node1", "itp-local": pod_on(c, "web", "node2")["metadata"]["name"],
              "load-balancer": "client", "load-balancer-moved": "client"}.get(case, solo_pod(c))
    c.apply(json.dumps(deployment("udp-a", 1, node="node2")))
    extra = {}
    if case == "itp-local":
        extra["internalTrafficPolicy"] = "Local"
    if case.startswith("load-balancer"):
        s = service(c, "udp-cycle", "udp-a", "LoadBalancer", lb_ip="192.0.2.209",
                    ports=[{"name": "u", "port": 91, "targetPort": 80, "protocol": "UDP"}])
        route_to(c, "192.0.2.209", "node1")
        ip = "192.0.2.209"
    else:
        s = service(c, "udp-cycle", "udp-a", ports=[{"name": "u", "port": 91, "targetPort": 80,
                                                     "protocol": "UDP"}], **extra)
        ip = s["spec"]["clusterIP"]
    p = None
    try:
        c.wait(lambda: len(ready_pods(c, "udp-a")) == 1, 60, "udp-a ready")
        first = ready_pods(c, "udp-a")[0]["metadata"]["name"]
        if case == "unready-first":
            c.run("pod", "unready", first)
            c.wait(lambda: not ready_pods(c, "udp-a"), 30, "udp-a not ready")
        else:
            until_udp(c, client, ip, 91)
        p = udp_flow(client, ip, 91, 60, sport=40054)
        time.sleep(3)
        if case == "unready-first":
            t = time.time()
            c.run("pod", "ready", first)
            want = {first}
        else:
            # the replacement starts (on the same node, or node1 when
            # moved), then the old pod goes
            tmpl = {"metadata": {"annotations": {"e2e/cycle": "1"}}}
            if case == "load-balancer-moved":
                tmpl["spec"] = {"nodeSelector": {"kubernetes.io/hostname": "node1"}}
            c.kubectl("patch", "deployment", "udp-a", "--type=merge", "-p", json.dumps(
                {"spec": {"template": tmpl}}))
            c.wait(lambda: first not in {x["metadata"]["name"] for x in c.pods("app=udp-a")}, 60,
                   "the first pod gone")
            t = time.time()
            want = {x["metadata"]["name"] for x in ready_pods(c, "udp-a")}
        reached_soon(p, t, want)
    finally:
        if p and p.poll() is None:
            p.kill()
        delete(c, "udp-cycle")
        c.kubectl("delete", "deployment", "udp-a", "--wait=false", check=False)
        c.exec("client", "ip", "route", "del", "192.0.2.209/32", check=False)


def test_udp_flow_follows_a_target_port_change(cluster):
    """conntrack.go "should be able to cleanup conntrack entries when UDP
    service target port changes for a NodePort service": a flow with a
    fixed source port to a NodePort reaches the pod's port 8080; the
    Service's targetPort moves to 9090 and the same flow reaches 9090 (the
    entry towards 8080 is cleared: the pod still serves 8080)."""
    c = cluster
    c.apply(json.dumps(deployment("tport", 1, node="node2", ports=(8080, 9090))))
    s = service(c, "tport", "tport", "NodePort", ports=[{"name": "udp", "port": 80,
                                                         "targetPort": 8080, "protocol": "UDP"}])
    np_ = s["spec"]["ports"][0]["nodePort"]
    p = None
    try:
        c.wait(lambda: len(ready_pods(c, "tport")) == 1, 60, "tport ready")
        until_udp(c, solo_pod(c), "192.0.2.12", np_)
        p = udp_flow(solo_pod(c), "192.0.2.12", np_, 60, sport=40055, ask="serverport")
        first, out = first_answer_after(p, 0, {"serverport:8080"}, 20)
        assert first, "the flow never reached port 8080:\n" + out[-1500:]
        t = time.time()
        patch(c, "tport", {"ports": [{"name": "udp", "port": 80, "targetPort": 9090,
                                      "protocol": "UDP", "nodePort": np_}]})
        reached_soon(p, t, {"serverport:9090"})
    finally:
        if p and p.poll() is None:
            p.kill()
        delete(c, "tport")
        c.kubectl("delete", "deployment", "tport", "--wait=false", check=False)
