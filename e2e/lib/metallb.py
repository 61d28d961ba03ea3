# SPDX-License-Identifier: GPL-2.0-or-later
"""MetalLB in the e2e cluster: its CRDs and RBAC from the pinned module
(e2e/build-metallb), and helpers tests use to configure whichever allocator
runs (ferry and MetalLB read the same metallb.io resources).

Helpers that talk to the cluster take `kubectl`, a callable
kubectl(*args, input=None) -> stdout: conftest's Cluster.kubectl, or
e2e/cluster's own."""
import base64
import glob
import ipaddress
import json
import os
import subprocess
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = "metallb-system"
API = "metallb.io/v1beta1"


def build(manifests_only=False):
    """Run e2e/build-metallb; returns the cache folder (bin/, crd/, rbac/)."""
    cmd = [os.path.join(HERE, "build-metallb")] + (["--manifests"] if manifests_only else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if p.returncode:
        raise RuntimeError("e2e/build-metallb failed (%d)" % p.returncode)
    return p.stdout.strip().splitlines()[-1]


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def int32_max(schema):
    """MetalLB v0.15.2's BGPPeer gives its ASN fields `format: int32` with
    `maximum: 4294967295`; this apiserver rejects every object against such
    a schema (the bound does not fit the format). Drop a maximum that its
    int32 format cannot hold, everywhere in the schema."""
    if isinstance(schema, dict):
        if schema.get("format") == "int32" and schema.get("maximum", 0) > 2**31 - 1:
            del schema["maximum"]
        for v in schema.values():
            int32_max(v)
    elif isinstance(schema, list):
        for v in schema:
            int32_max(v)


def crds(cache):
    """The release's CRDs, ready for an apiserver that cannot reach a webhook:
    any conversion webhook goes (strategy None: the apiserver only rewrites
    apiVersion between served versions; BGPPeer keeps v1beta2 as storage)."""
    out = []
    for path in sorted(glob.glob(os.path.join(cache, "crd", "*.yaml"))):
        for d in load_docs(path):
            if d.get("kind") != "CustomResourceDefinition":
                continue
            spec = d["spec"]
            if spec.get("conversion", {}).get("strategy", "None") != "None":
                spec["conversion"] = {"strategy": "None"}
            if sum(1 for v in spec["versions"] if v.get("storage")) != 1:
                raise ValueError("%s: not exactly one storage version" % d["metadata"]["name"])
            for v in spec["versions"]:
                int32_max(v.get("schema", {}).get("openAPIV3Schema", {}))
            out.append(d)
    if not out:
        raise ValueError("no CRDs in %s/crd" % cache)
    return out


def rbac(cache, namespace=NAMESPACE):
    """The release's ServiceAccounts, Roles and bindings (controller and
    speaker), placed in `namespace` as its kustomization does."""
    docs = []
    for name in ("service-accounts.yaml", "role.yaml"):
        docs += load_docs(os.path.join(cache, "rbac", name))
    for d in docs:
        if d["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            d["metadata"]["namespace"] = namespace
        for s in d.get("subjects", []):
            if s.get("kind") == "ServiceAccount":
                s["namespace"] = namespace
    return docs


def as_list(docs):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)})


def install_crds(kubectl, cache):
    """Create the namespace and the CRDs; wait until they are served.
    Server-side apply: the CRDs are too large for the last-applied annotation."""
    kubectl("apply", "-f", "-", input=as_list([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]))
    docs = crds(cache)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=as_list(docs))
    kubectl("wait", "--for", "condition=Established", "--timeout", "60s",
            *("crd/" + d["metadata"]["name"] for d in docs))


# ---------------------------------------------------------------- configuration

def pool(name, addresses, auto_assign=None, avoid_buggy_ips=None, namespace=NAMESPACE):
    spec = {"addresses": list(addresses)}
    if auto_assign is not None:
        spec["autoAssign"] = auto_assign
    if avoid_buggy_ips is not None:
        spec["avoidBuggyIPs"] = avoid_buggy_ips
    return {"apiVersion": API, "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def l2_advertisement(name, pools=None, namespace=NAMESPACE, **spec):
    spec = dict(spec)
    if pools is not None:
        spec["ipAddressPools"] = list(pools)
    return {"apiVersion": API, "kind": "L2Advertisement",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def apply(kubectl, docs):
    """Apply resources given as dicts (one or a list)."""
    if isinstance(docs, dict):
        docs = [docs]
    return kubectl("apply", "-f", "-", input=as_list(docs))


def apply_pool(kubectl, name, addresses, l2=True, **kw):
    """An IPAddressPool and, unless l2=False, an L2Advertisement of it
    (same name)."""
    docs = [pool(name, addresses, **kw)]
    if l2:
        docs.append(l2_advertisement(name, [name]))
    return apply(kubectl, docs)


def delete_pool(kubectl, name):
    kubectl("-n", NAMESPACE, "delete", "--ignore-not-found", "l2advertisement/" + name,
            "ipaddresspool/" + name)


def legacy_configmap(config, name="config", namespace=NAMESPACE):
    """The pre-v0.13 ConfigMap; `config` is the dict under data.config, e.g.
    {"address-pools": [{"name": "a", "protocol": "layer2",
                        "addresses": ["192.0.2.200-192.0.2.250"]}]}."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"config": yaml.safe_dump(config, sort_keys=False)}}


def apply_legacy_configmap(kubectl, config, **kw):
    return apply(kubectl, legacy_configmap(config, **kw))


def convert_legacy(cache, config):
    """Convert a legacy ConfigMap's config (a dict) to custom resources with
    MetalLB's own configmaptocrs; returns them as dicts.

    The tool reads only below /var/input (its container's mount): it gets a
    private tmpfs on /var instead of touching the machine's."""
    tool = os.path.join(cache, "bin", "configmaptocrs")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "config.yaml")
        with open(src, "w") as f:
            yaml.safe_dump(legacy_configmap(config), f, sort_keys=False)
        # the tool lives under /var too: bind it out of the way first
        script = ('touch "$1/tool" && mount --bind "$2" "$1/tool" && mount -t tmpfs e2e /var && '
                  'mkdir /var/input && cp "$1/config.yaml" /var/input/ && '
                  'exec "$1/tool" -stdout -source config.yaml')
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                            "sh", d, tool], capture_output=True, text=True, timeout=60)
    # a failed conversion is only logged: the exit status stays 0
    docs = [x for x in yaml.safe_load_all(p.stdout) if x] if p.returncode == 0 else []
    if not docs:
        raise RuntimeError("configmaptocrs failed (%d): %s" % (p.returncode, p.stderr))
    for x in docs:
        x["metadata"].pop("creationTimestamp", None)
        x.pop("status", None)
    return docs


# ---------------------------------------------------------------- Services

def external_ips(kubectl, name, namespace="default"):
    svc = json.loads(kubectl("-n", namespace, "get", "service", name, "-o", "json"))
    return [i.get("ip") or i.get("hostname")
            for i in svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def wait_external_ip(kubectl, name, namespace="default", timeout=60, count=1):
    """Wait until the Service has `count` ingress addresses; returns them."""
    end = time.time() + timeout
    while True:
        ips = external_ips(kubectl, name, namespace)
        if len(ips) >= count:
            return ips
        if time.time() > end:
            raise TimeoutError("service %s/%s: no EXTERNAL-IP after %d s"
                               % (namespace, name, timeout))
        time.sleep(0.5)


def in_range(ip, first, last):
    a = ipaddress.ip_address(ip)
    return ipaddress.ip_address(first) <= a <= ipaddress.ip_address(last)


# ---------------------------------------------------------------- the speaker

def speaker_manifests(cache, lb_class=None, namespace=NAMESPACE):
    """The speaker's DaemonSet and the ConfigMap it mounts, taken unchanged
    from the release's own install manifest (config/manifests/
    metallb-native.yaml of go.universe.tf/metallb v0.15.2, copied by
    e2e/build-metallb): layer 2 with memberlist on (METALLB_ML_BIND_ADDR is
    status.podIP, METALLB_ML_LABELS finds the peers, the key is mounted from
    Secret `memberlist`). Only `--lb-class` is added when MetalLB shares the
    cluster with ferry (--lb both). Its RBAC is rbac() above."""
    docs = load_docs(os.path.join(cache, "manifests", "metallb-native.yaml"))
    out = [d for d in docs if (d["kind"], d["metadata"]["name"]) in
           (("DaemonSet", "speaker"), ("ConfigMap", "metallb-excludel2"))]
    if len(out) != 2:
        raise ValueError("metallb-native.yaml: no speaker DaemonSet or excludel2 ConfigMap")
    for d in out:
        d["metadata"]["namespace"] = namespace
        if d["kind"] == "DaemonSet" and lb_class:
            ctr = d["spec"]["template"]["spec"]["containers"][0]
            ctr["args"] = list(ctr.get("args") or []) + ["--lb-class=" + lb_class]
    return out


def memberlist_secret(namespace=NAMESPACE):
    """Secret `memberlist` as MetalLB's controller creates it (16 random
    bytes, unpadded base64, key `secretkey`). The controller only creates it
    when it finds its own Deployment, which does not exist here (it runs as
    a process in cp)."""
    key = base64.b64encode(os.urandom(16)).rstrip(b"=")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "memberlist", "namespace": namespace},
            "data": {"secretkey": base64.b64encode(key).decode()}}


def speaker_pods(kubectl):
    out = kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=metallb,component=speaker",
                  "-o", "json")
    return json.loads(out)["items"]


def speakers_ready(kubectl, nodes):
    ready = [p for p in speaker_pods(kubectl) if not p["metadata"].get("deletionTimestamp")
             and any(c["type"] == "Ready" and c["status"] == "True"
                     for c in p["status"].get("conditions", []))]
    return len(ready) == nodes
