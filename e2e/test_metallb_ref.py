# SPDX-License-Identifier: GPL-2.0-or-later
"""MetalLB as the reference (issues 13 and 14): `e2e/cluster up --lb
metallb` runs MetalLB v0.15.2's own controller, built from its Go module,
against CRDs installed from the module without webhooks, and its speaker
DaemonSet from the release manifest as real hostNetwork pods (layer 2,
memberlist on). The controller allocates from an IPAddressPool and writes
status.loadBalancer.ingress; a legacy ConfigMap converted by MetalLB's
configmaptocrs gives a pool it uses the same way; exactly one speaker
answers ARP for the IP, and the ferry agents (forwarding only) carry the
traffic."""
import json
import os
import re

import pytest
import yaml

from lib import metallb, seed

# agents: the speakers reach the apiserver through the kubernetes Service
CLUSTER_ARGS = ["--nodes", "2", "--ipv6", "--bgp", "--lb", "metallb"]
FIRST, LAST = "192.0.2.200", "192.0.2.250"
CONF = os.path.join(os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e"), "cluster.json")


@pytest.fixture(scope="module", autouse=True)
def metallb_binaries():
    """Before the cluster: skip only when MetalLB is neither cached nor buildable."""
    try:
        metallb.build()
    except RuntimeError as e:
        pytest.skip("MetalLB v0.15.2 is not cached and cannot be built: %s" % e)


def lb_service(name, pool=None):
    meta = {"name": name}
    if pool:
        meta["annotations"] = {"metallb.io/address-pool": pool}
    return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                       "spec": {"type": "LoadBalancer", "selector": {"app": name},
                                "ports": [{"port": 80}]}})


def test_crds_without_webhooks(cluster):
    crd = cluster.kjson("get", "crd", "bgppeers.metallb.io")
    assert crd["spec"]["conversion"]["strategy"] == "None"
    assert [v["name"] for v in crd["spec"]["versions"] if v["storage"]] == ["v1beta2"]
    for name in ("ipaddresspools", "l2advertisements", "bgpadvertisements", "communities",
                 "bfdprofiles", "servicel2statuses", "servicebgpstatuses"):
        cluster.kjson("get", "crd", name + ".metallb.io")
    assert not cluster.kjson("get", "validatingwebhookconfigurations")["items"]


def test_controller_runs_as_its_service_account(cluster):
    st = cluster.run("status").stdout
    assert "metallb-controller" in st and "lb:         metallb" in st
    # plain HTTP metrics, as the issue asks (inside cp, where it runs)
    out = cluster.exec("cp", "curl", "-sf", "http://127.0.0.1:7472/metrics").stdout
    assert "go_goroutines" in out
    can = cluster.kubectl("auth", "can-i", "update", "services", "--subresource", "status",
                          "--as", "system:serviceaccount:metallb-system:controller").strip()
    assert can == "yes"
    cannot = cluster.kubectl("auth", "can-i", "delete", "nodes",
                             "--as", "system:serviceaccount:metallb-system:controller",
                             check=False)
    assert cannot.strip() == "no"


def test_allocates_from_pool(cluster):
    metallb.apply_pool(cluster.kubectl, "ref", ["%s-%s" % (FIRST, LAST)])
    cluster.apply(lb_service("ref-web"))
    try:
        ips = metallb.wait_external_ip(cluster.kubectl, "ref-web", timeout=60)
        assert len(ips) == 1 and metallb.in_range(ips[0], FIRST, LAST), ips
        out = cluster.exec("cp", "curl", "-sf", "http://127.0.0.1:7472/metrics").stdout
        assert 'metallb_allocator_addresses_in_use_total{pool="ref"} 1' in out
    finally:
        cluster.kubectl("delete", "service", "ref-web", "--ignore-not-found")
        metallb.delete_pool(cluster.kubectl, "ref")


def test_legacy_configmap_converted(cluster):
    with open(CONF) as f:
        cache = json.load(f)["metallb"]
    docs = metallb.convert_legacy(cache, {"address-pools": [
        {"name": "legacy", "protocol": "layer2", "addresses": ["192.0.2.240/29"]}]})
    pools = [d for d in docs if d["kind"] == "IPAddressPool"]
    assert [p["spec"]["addresses"] for p in pools] == [["192.0.2.240/29"]]
    assert any(d["kind"] == "L2Advertisement" for d in docs)
    metallb.apply(cluster.kubectl, docs)
    cluster.apply(lb_service("legacy-web", pool=pools[0]["metadata"]["name"]))
    try:
        ips = metallb.wait_external_ip(cluster.kubectl, "legacy-web", timeout=60)
        assert metallb.in_range(ips[0], "192.0.2.240", "192.0.2.247"), ips
    finally:
        cluster.kubectl("delete", "service", "legacy-web", "--ignore-not-found")
        cluster.kubectl("-n", metallb.NAMESPACE, "delete", "ipaddresspools,l2advertisements",
                        "--all")


def node_macs(cluster):
    """nodeK -> the MAC of its LAN interface."""
    out = {}
    for k in (1, 2):
        link = json.loads(cluster.exec("node%d" % k, "ip", "-j", "link", "show", "eth0").stdout)
        out["node%d" % k] = link[0]["address"]
    return out


def test_speakers_are_real_hostnetwork_pods(cluster):
    nodes = {n["metadata"]["name"]: n for n in cluster.kjson("get", "nodes")["items"]}
    pods = metallb.speaker_pods(cluster.kubectl)
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(nodes)
    for p in pods:
        node = nodes[p["spec"]["nodeName"]]
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        assert p["spec"]["hostNetwork"] and p["status"]["podIP"] == ip == p["status"]["hostIP"]
        assert p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
    # memberlist: every speaker saw the other join (peers found by status.podIP)
    logs = os.path.join(os.path.dirname(CONF), "logs")
    for p in pods:
        other = next(n for n in nodes if n != p["spec"]["nodeName"])
        path = os.path.join(logs, "pod-%s_%s_speaker.log" % (metallb.NAMESPACE, p["metadata"]["name"]))

        def joined():
            with open(path) as f:
                return any("NodeJoin" in line and '"node name":"%s"' % other in line for line in f)
        cluster.wait(joined, 60, "%s's memberlist join of %s" % (p["metadata"]["name"], other))


def arp_macs(cluster, ip, count=4):
    p = cluster.exec("client", "arping", "-I", "eth0", "-c", str(count), "-w", str(count + 2), ip,
                     check=False, timeout=30)
    return re.findall(r"from ([0-9a-f]{2}(?::[0-9a-f]{2}){5}) \(", p.stdout.lower())


def test_layer2_one_speaker_answers_arp(cluster):
    metallb.apply(cluster.kubectl, [metallb.pool("seed", ["192.0.2.200-192.0.2.250"]),
                                    metallb.l2_advertisement("seed", ["seed"])])
    cluster.apply(seed.myapp("LoadBalancer", spread="ScheduleAnyway"))
    try:
        ip = metallb.wait_external_ip(cluster.kubectl, "myapp-svc", timeout=60)[0]
        assert metallb.in_range(ip, "192.0.2.200", "192.0.2.250")
        cluster.wait(lambda: len(cluster.ready_pods("app=myapp")) == 4, 90, "myapp Ready")
        macs = cluster.wait(lambda: arp_macs(cluster, ip), 60, "ARP replies for %s" % ip)
        by_node = node_macs(cluster)
        assert len(set(macs)) == 1 and macs[0] in by_node.values(), (macs, by_node)
        # the owner MetalLB reports is the node whose MAC answers
        st = [x for x in cluster.kjson("-n", metallb.NAMESPACE, "get", "servicel2statuses")["items"]
              if x["status"].get("serviceName") == "myapp-svc"]
        if st:
            assert by_node[st[0]["status"]["node"]] == macs[0], (st[0]["status"], macs)
        body = cluster.wait(lambda: cluster.curl("client", "http://%s/" % ip, check=False), 30,
                            "curl http://%s/" % ip)
        assert "Hello MyApp" in body
    finally:
        cluster.kubectl("delete", "deployment", "myapp", "--ignore-not-found")
        cluster.kubectl("delete", "service", "myapp-svc", "--ignore-not-found")
        metallb.delete_pool(cluster.kubectl, "seed")


def test_layer2_one_speaker_answers_ndp(cluster):
    """The same for IPv6. MetalLB sends its Neighbor Advertisements from
    the interface's link-local address, which ndisc6 ignores (issue 14), so
    the advertisements are read off the client's link with tcpdump while
    ndisc6 solicits."""
    metallb.apply(cluster.kubectl, [metallb.pool("seed6", ["2001:db8::c8-2001:db8::fa"]),
                                    metallb.l2_advertisement("seed6", ["seed6"])])
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web6", "annotations": {"metallb.io/address-pool": "seed6"}},
           "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                    "selector": {"app": "web6"}, "ports": [{"port": 80}]}}
    cluster.apply(json.dumps(svc))
    try:
        ip = metallb.wait_external_ip(cluster.kubectl, "web6", timeout=60)[0]
        assert ":" in ip

        def macs():
            script = ("timeout 4 tcpdump -l -n -e -i eth0 'icmp6 and ip6[40] == 136' 2>/dev/null & "
                      "sleep 1; ndisc6 -n -r 2 -w 1000 %s eth0 >/dev/null 2>&1; wait" % ip)
            p = cluster.exec("client", "sh", "-c", script, check=False, timeout=30)
            return [m for m, tgt in re.findall(r"^\S+ ([0-9a-f:]{17}) > .*tgt is ([0-9a-f:]+),",
                                               p.stdout.lower(), re.M) if tgt == ip]
        # MetalLB announces an IP only with a ready endpoint on some node
        # (ExternalTrafficPolicy Cluster: any node): a web6 pod is needed
        cluster.apply(seed.myapp().replace("myapp", "web6").split("---")[0])
        cluster.wait(lambda: len(cluster.ready_pods("app=web6")) == 4, 90, "web6 Ready")
        got = cluster.wait(macs, 60, "NDP answers for %s" % ip)
        by_node = node_macs(cluster)
        assert len(set(got)) == 1 and got[0] in by_node.values(), (got, by_node)
    finally:
        cluster.kubectl("delete", "deployment", "web6", "--ignore-not-found")
        cluster.kubectl("delete", "service", "web6", "--ignore-not-found")
        metallb.delete_pool(cluster.kubectl, "seed6")


def test_ferrys_crds_leave_metallbs_alone(cluster):
    """docs/install.md: `kubectl create -f manifests/metallb-crds.yaml` on a
    cluster with MetalLB's CRDs fails for each of them and changes nothing."""
    names = ["bfdprofiles", "bgpadvertisements", "bgppeers", "communities", "ipaddresspools",
             "l2advertisements"]
    before = {n: cluster.kjson("get", "crd", n + ".metallb.io")["metadata"]["resourceVersion"]
              for n in names}
    p = cluster.run("kubectl", "create", "-f", os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "manifests", "metallb-crds.yaml"), check=False)
    assert p.returncode != 0 and p.stderr.count("AlreadyExists") == len(names), p.stderr
    after = {n: cluster.kjson("get", "crd", n + ".metallb.io")["metadata"]["resourceVersion"]
             for n in names}
    assert after == before
    assert not cluster.kjson("get", "crd", "-l", "app.kubernetes.io/part-of=ferry")["items"]


BGP_CRS = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ref-bgp, namespace: metallb-system}
spec:
  addresses: [203.0.113.10-203.0.113.40]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ref-bgp, namespace: metallb-system}
spec:
  ipAddressPools: [ref-bgp]
  communities: ["64513:100"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64512
  myASN: 64513
"""


def test_bgp_native_speakers_announce_to_bird(cluster):
    """MetalLB's speakers in native BGP mode against the same BIRD as
    ferry's tests (e2e/test_bgp.py): a path from each node with the
    community, the multipath route in the router's kernel, remote's curl
    answered. What e2e/test_bgp.py asks of ferry beyond this, MetalLB's
    native mode cannot do: IPv6 prefixes, large communities and graceful
    restart need its FRR mode (internal/config/validation.go refuses them)."""
    c = cluster
    ctl = os.path.join(os.path.dirname(CONF), "bird.ctl")
    metallb.apply(c.kubectl, list(yaml.safe_load_all(BGP_CRS)))
    app = seed.app("ref-bgp", service_type="LoadBalancer")
    for o in app["items"]:
        if o["kind"] == "Service":
            o["metadata"]["annotations"] = {"metallb.io/address-pool": "ref-bgp"}
    c.apply(json.dumps(app))
    try:
        ip = metallb.wait_external_ip(c.kubectl, "ref-bgp", timeout=60)[0]
        assert metallb.in_range(ip, "203.0.113.10", "203.0.113.40"), ip

        def paths():
            out = c.exec("router", "birdc", "-s", ctl, "show", "route", ip + "/32", "all",
                         check=False).stdout
            return out if sorted(re.findall(r"via (192\.0\.2\.1[12])", out)) == \
                ["192.0.2.11", "192.0.2.12"] else None
        out = c.wait(paths, 60, "a path to %s from each node in BIRD" % ip)
        assert "(64513,100)" in out, out
        c.wait(lambda: len(re.findall(r"via 192\.0\.2\.1[12]", c.exec(
            "router", "ip", "route", "show", ip).stdout)) == 2, 20, "the multipath route in the kernel")
        body = c.wait(lambda: c.curl("remote", "http://%s/" % ip, check=False), 60,
                      "remote's curl through the router")
        assert body
    finally:
        c.kubectl("delete", "service,deployment", "ref-bgp", "--ignore-not-found")
        c.kubectl("delete", "-f", "-", input=BGP_CRS, check=False)
