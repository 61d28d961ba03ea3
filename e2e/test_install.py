# SPDX-License-Identifier: GPL-2.0-or-later
"""ferry installed the way operators install it (issues 16 and 17): the
nodes start with nothing on them, `kubectl apply -f manifests/ferry.yaml`
runs ferry as its DaemonSet's pods (the e2e kubelet enforces the manifest's
capabilities, no_new_privs and read-only root), with the ServiceAccount's
token, so the real RBAC authorizer refuses anything not granted. Checked:
the pods come up and forward, the grants are exactly the documented list,
and a node that reboots with an empty ruleset comes back, or says clearly
why it cannot."""
import json
import os
import re

import yaml

from conftest import STATE
from lib import l2probe, seed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_ARGS = ["--nodes", "2", "--install", "manifest"]
SA = "system:serviceaccount:ferry-system:ferry"

APP = seed.app("inst")


def ferry_pods(c):
    return {p["spec"]["nodeName"]: p for p in
            c.kjson("-n", "ferry-system", "get", "pods", "-l", "app.kubernetes.io/name=ferry")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def ready(p):
    return any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions", []))


def pod_log(p):
    path = os.path.join(STATE, "logs", "pod-ferry-system_%s_ferry.log" % p["metadata"]["name"])
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def test_manifest_owns_no_foreign_namespace():
    """`kubectl delete -f manifests/ferry.yaml` must not take MetalLB's
    namespace (and its configuration) with it."""
    with open(os.path.join(REPO, "manifests", "ferry.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"] == ["ferry-system"]
    assert {d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace")} == \
        {"ferry-system"}


def test_daemonset_runs_and_forwards(cluster):
    c = cluster
    pods = ferry_pods(c)
    assert sorted(pods) == ["node1", "node2"]
    for node, p in pods.items():
        assert ready(p), p["status"]
        assert p["spec"]["serviceAccountName"] == "ferry"
        assert "table ip ferry" in c.exec(node, "nft", "list", "tables").stdout
    c.apply(json.dumps(APP))
    np_ = c.kjson("get", "service", "inst")["spec"]["ports"][0]["nodePort"]
    for ip in ("192.0.2.11", "192.0.2.12"):
        body = c.wait(lambda: c.curl("client", "http://%s:%d/" % (ip, np_), check=False), 60,
                      "NodePort %d on %s through the DaemonSet's ferry" % (np_, ip))
        assert body.startswith("Hello MyApp")
    for p in ferry_pods(c).values():
        st = p["status"]["containerStatuses"][0]
        assert st["restartCount"] == 0, (st, pod_log(p)[-3000:])
        # nothing it was refused: RBAC, a capability, a file
        log = pod_log(p)
        assert "status=403" not in log and "Operation not permitted" not in log, log[-3000:]


def can_i(c, user, ns):
    """`kubectl auth can-i --list` as rows (resource, names, verb)."""
    out = c.kubectl("auth", "can-i", "--list", "--as", user, "-n", ns)
    rows = set()
    for line in out.splitlines()[1:]:
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) != 4 or cols[1] != "[]":
            continue  # non-resource URLs: the same for every account
        for verb in cols[3].strip("[]").split():
            rows.add((cols[0], cols[2].strip("[]"), verb))
    return rows


def documented(which=""):
    """A ```rbac block of docs/install.md: `namespace resource[names] verbs...`;
    `which` names the block (```rbac ferry-allocator)."""
    with open(os.path.join(REPO, "docs", "install.md")) as f:
        text = f.read()
    block = text.split("```rbac%s\n" % (" " + which if which else ""), 1)[1].split("```", 1)[0]
    want = {}
    for line in block.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        ns, res, *verbs = line.split()
        names = ""
        if "[" in res:
            res, names = res.rstrip("]").split("[")
        for v in verbs:
            want.setdefault(ns, set()).add((res, names, v))
    return want


def test_rbac_grants_exactly_what_is_documented(cluster):
    """What each ServiceAccount may do beyond any account's defaults is its
    list in docs/install.md: nothing missing, nothing extra. The agents'
    account cannot write a Service's status; the allocator's can."""
    c = cluster
    c.kubectl("-n", "ferry-system", "create", "serviceaccount", "baseline", check=False)
    try:
        agent, alloc = documented(), documented("ferry-allocator")
        for k, v in agent.items():
            alloc.setdefault(k, set()).update(v)
        for sa, want in ((SA, agent), (SA + "-allocator", alloc)):
            for ns in ("default", "ferry-system", "metallb-system"):
                extra = can_i(c, sa, ns) - can_i(c, "system:serviceaccount:ferry-system:baseline", ns)
                expect = want.get("*", set()) | want.get(ns, set())
                assert extra == expect, "%s in namespace %s: granted but not documented %s; " \
                    "documented but not granted %s" % (sa, ns, sorted(extra - expect),
                                                       sorted(expect - extra))
        assert c.kubectl("auth", "can-i", "patch", "services/status", "--as", SA,
                         check=False).strip() == "no"
    finally:
        c.kubectl("-n", "ferry-system", "delete", "serviceaccount", "baseline", check=False)


def tables(c, node):
    return c.exec(node, "nft", "list", "tables", check=False).stdout


def starts(c, node):
    """How often ferry's container on `node` was started (the kubelet marks
    each start in the log)."""
    return pod_log(ferry_pods(c)[node]).count("--- e2e kubelet")


def reboot_and_wait_pod(c, node):
    before = starts(c, node)
    c.run("node", "reboot", node)
    c.wait(lambda: starts(c, node) > before, 60, "ferry's container started again on %s" % node)


def test_cold_boot_from_an_empty_ruleset(cluster):
    """A rebooted node has no Service rules, so the `kubernetes` Service
    address leads nowhere: with the control plane's address from the
    manifest's ConfigMap ferry comes up by itself; without it, it says why
    it cannot (instead of retrying in silence)."""
    c = cluster
    c.apply(json.dumps(APP))
    np_ = c.kjson("get", "service", "inst")["spec"]["ports"][0]["nodePort"]
    url = "http://192.0.2.12:%d/" % np_
    c.wait(lambda: c.curl("client", url, check=False), 60, "NodePort on node2")

    reboot_and_wait_pod(c, "node2")
    c.wait(lambda: "table ip ferry" in tables(c, "node2"), 60, "ferry's tables back after the reboot")
    c.wait(lambda: c.curl("client", url, check=False), 30, "NodePort on node2 after the reboot")
    c.wait(lambda: ready(ferry_pods(c)["node2"]), 60, "ferry Ready after the reboot")

    cm = c.kjson("-n", "ferry-system", "get", "configmap", "ferry-api-server")
    c.kubectl("-n", "ferry-system", "delete", "configmap", "ferry-api-server")
    try:
        reboot_and_wait_pod(c, "node2")
        c.wait(lambda: "unreachable through the kubernetes Service address" in
               pod_log(ferry_pods(c)["node2"]).split("--- e2e kubelet")[-1], 40,
               "ferry naming the cause")
        assert "ferry" not in tables(c, "node2")
    finally:
        c.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": cm["data"],
                            "metadata": {"name": "ferry-api-server", "namespace": "ferry-system"}}))
        reboot_and_wait_pod(c, "node2")
        c.wait(lambda: "table ip ferry" in tables(c, "node2"), 60, "ferry back with the ConfigMap")


def test_metallb_crs_apply_unchanged_on_ferrys_crds(cluster):
    """A cluster without MetalLB gets ferry's own metallb.io CRDs
    (manifests/metallb-crds.yaml, `kubectl create`d by e2e/cluster as
    docs/install.md says): MetalLB's CRs from manifests/examples apply as
    they are, the ferry-allocator Deployment allocates from the pool, and the
    DaemonSet's ferry answers
    ARP for the address from exactly one node (the layer-2 key from the
    Secret)."""
    c = cluster
    crds = c.kjson("get", "crd", "-l", "app.kubernetes.io/part-of=ferry")["items"]
    assert sorted(d["spec"]["names"]["kind"] for d in crds) == \
        ["BFDProfile", "BGPAdvertisement", "BGPPeer", "Community", "IPAddressPool", "L2Advertisement"]
    for name in ("l2-crs.yaml", "bgp-crs.yaml"):
        c.kubectl("apply", "-f", os.path.join(REPO, "manifests", "examples", name))
    c.apply(json.dumps(seed.app("crs", service_type="LoadBalancer")))
    try:
        svc = c.wait(lambda: (lambda s: s if s["status"].get("loadBalancer", {}).get("ingress") else None)(
            c.kjson("get", "service", "crs")), 60, "an address for Service crs")
        ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        last = int(ip.rsplit(".", 1)[1])
        assert ip.startswith("192.0.2.") and 200 <= last <= 250, ip
        c.macs = l2probe.node_macs(c, 2)
        c.wait(lambda: l2probe.arping(c, ip), 30, "an ARP answer for %s" % ip)
        assert l2probe.owner_by_arp(c, ip) in ("node1", "node2")
        body = c.wait(lambda: c.curl("client", "http://%s/" % ip, check=False), 30, "curl %s" % ip)
        assert body.startswith("Hello MyApp")
    finally:
        c.kubectl("delete", "service,deployment", "crs", "--ignore-not-found")
        for name in ("bgp-crs.yaml", "l2-crs.yaml"):
            c.kubectl("delete", "-f", os.path.join(REPO, "manifests", "examples", name),
                      "--ignore-not-found")
