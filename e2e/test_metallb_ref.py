# SPDX-License-Identifier: GPL-2.0-or-later
"""MetalLB as the reference allocator (issue 13): `e2e/cluster up --lb
metallb` runs MetalLB v0.15.2's own controller, built from its Go module,
against CRDs installed from the module without webhooks. It allocates from
an IPAddressPool and writes status.loadBalancer.ingress; a legacy ConfigMap
converted by MetalLB's configmaptocrs gives a pool it uses the same way."""
import json
import os

from lib import metallb

CLUSTER_ARGS = ["--nodes", "1", "--no-agents", "--lb", "metallb"]
FIRST, LAST = "192.0.2.200", "192.0.2.250"
CONF = os.path.join(os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e"), "cluster.json")


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
