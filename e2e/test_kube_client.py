# SPDX-License-Identifier: GPL-2.0-or-later
"""kube/: ferry's API client against the real control plane (issue 5).

The agents run with the ferry ServiceAccount's bound token (TokenRequest,
manifests/ferry.yaml's RBAC) from a token file. The agent logs every cache
change at -v 2 ("msg=add|update|delete kind=K ns=N name=X rv=R ..."); the
tests replay that log into the agent's view of the cache and compare it with
`kubectl get -o json` after each fault: api restart, compaction (410 on
resume), a 60 s cut, 500 ms latency, a burst of 1,000 changes, and a token
rotation where the old token is revoked.
"""
import json
import os
import re
import time

import pytest

CLUSTER_ARGS = ["--nodes", "2", "--proxy", "ferry"]
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
NODE, NODE_IP = "node1", "192.0.2.11"
NS = "kube-client-e2e"
# the agent's selector (kube-proxy's): no headless, no other proxy's Services
PROXY_SELECTOR = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"

LINE = re.compile(r'msg=(add|update|delete) kind=(\w+) ns=("[^"]*"|\S*) name=(\S+)')


def agent_log():
    with open(os.path.join(STATE, "logs", "ferry-%s.log" % NODE)) as f:
        return f.read()


def agent_cache(log=None):
    """kind -> set of "ns/name", replayed from the agent's -v 2 log. Only the
    latest run of the agent counts (a restart starts from an empty cache)."""
    log = log if log is not None else agent_log()
    start = log.rfind("msg=started")
    cache = {kind: set() for kind, _, _, _ in WATCHED}
    for m in LINE.finditer(log[start:]):
        op, kind, ns, name = m.groups()
        key = "%s/%s" % (ns.strip('"'), name)
        if op == "delete":
            cache.setdefault(kind, set()).discard(key)
        else:
            cache.setdefault(kind, set()).add(key)
    return cache


# what the agent lists and watches: kind, resource, label selector, field
# selector. Every Service (each part filters); the allocator's Namespaces and
# its one MetalLB ConfigMap; the Service CIDRs (the drop of unallocated
# addresses); the metallb.io resources when their CRDs exist.
WATCHED = (("Service", "services", None, None),
           ("EndpointSlice", "endpointslices.discovery.k8s.io", PROXY_SELECTOR, None),
           ("Node", "nodes", None, None),
           ("Namespace", "namespaces", None, None),
           ("ConfigMap", "configmaps", None, "metadata.namespace=metallb-system,metadata.name=config"),
           ("ServiceCIDR", "servicecidrs.networking.k8s.io", None, None))
METALLB_KINDS = {"IPAddressPool": "ipaddresspools", "L2Advertisement": "l2advertisements",
                 "BGPAdvertisement": "bgpadvertisements", "Community": "communities",
                 "BGPPeer": "bgppeers", "BFDProfile": "bfdprofiles"}


def server_cache(cluster):
    out = {}
    have_crds = cluster.run("kubectl", "get", "crd", "ipaddresspools.metallb.io", check=False).returncode == 0
    watched = list(WATCHED) + ([(k, r + ".metallb.io", None, None) for k, r in METALLB_KINDS.items()]
                               if have_crds else [])
    for kind, res, sel, fields in watched:
        args = ["get", res, "-A"] + (["-l", sel] if sel else []) + \
               (["--field-selector", fields] if fields else [])
        items = cluster.kjson(*args)["items"]
        out[kind] = {"%s/%s" % (i["metadata"].get("namespace", ""), i["metadata"]["name"]) for i in items}
    return out


def converged(cluster, timeout=90):
    """Wait until the agent's cache equals the server's; return it."""
    last = {}

    def same():
        a, s = agent_cache(), server_cache(cluster)
        a = {k: a.get(k, set()) for k in set(a) | set(s)}
        s = {k: s.get(k, set()) for k in a}
        last["diff"] = {k: (sorted(s[k] - a[k])[:5], sorted(a[k] - s[k])[:5]) for k in s if s[k] != a[k]}
        return a if a == s else None
    try:
        return cluster.wait(same, timeout=timeout, what="agent cache == server", interval=1)
    except AssertionError:
        raise AssertionError("agent cache differs (missing, extra): %s" % last.get("diff"))


def healthz(cluster):
    body = cluster.curl("client", "http://%s:10256/healthz" % NODE_IP, check=False)
    return json.loads(body) if body else None


def service_obj(name, port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": 8080}]}}


def services_yaml(names, port=80):
    return "\n---\n".join(
        "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
        "spec: {selector: {app: %s}, ports: [{port: %d, targetPort: 8080}]}" % (n, NS, n, port)
        for n in names)


@pytest.fixture(scope="module", autouse=True)
def namespace(cluster):
    cluster.kubectl("create", "namespace", NS)
    yield
    cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_agent_authenticates_with_bound_token_and_syncs(cluster):
    h = cluster.wait(lambda: (healthz(cluster) or {}).get("healthy") and healthz(cluster), 60, "healthz")
    assert h["healthy"] is True
    if "synced" in h:
        assert all(h["synced"].values()) and h["apiReachable"] is True, h
    log = agent_log()
    assert "all informers synced" in log
    assert "status=401" not in log and "status=403" not in log
    # HTTP/2: the agent's three lists and watches share one connection
    ss = cluster.exec(NODE, "ss", "-tnpH", "state", "established", "dst", "192.0.2.3:6443").stdout
    assert len([line for line in ss.splitlines() if '"ferry"' in line]) == 1, ss
    converged(cluster)


def test_add_update_delete_seen_at_v2(cluster):
    cluster.apply(services_yaml(["web"]))
    cluster.wait(lambda: "name=web " in agent_log(), 30, "the agent's add of web")
    cluster.kubectl("-n", NS, "patch", "service", "web", "--type", "merge",
                    "-p", '{"spec":{"ports":[{"port":81,"targetPort":8080}]}}')
    cluster.wait(lambda: re.search(r"msg=update kind=Service ns=%s name=web .*ports=1" % NS, agent_log()),
                 30, "the update of web")
    # a change ferry does not read (an annotation of nobody it serves) is not
    # an update; labels are read now (MetalLB's serviceSelectors)
    n_updates = len(re.findall(r"msg=update kind=Service ns=%s name=web " % NS, agent_log()))
    cluster.kubectl("-n", NS, "annotate", "service", "web", "example.com/unrelated=yes")
    time.sleep(3)
    assert len(re.findall(r"msg=update kind=Service ns=%s name=web " % NS, agent_log())) == n_updates
    cluster.kubectl("-n", NS, "delete", "service", "web")
    cluster.wait(lambda: re.search(r"msg=delete kind=Service ns=%s name=web" % NS, agent_log()), 30, "delete")
    converged(cluster)


def test_survives_api_restart(cluster):
    cluster.run("api", "restart", timeout=180)
    cluster.apply(services_yaml(["after-restart"]))
    converged(cluster)
    cluster.wait(lambda: (healthz(cluster) or {}).get("healthy"), 60, "healthy after the restart")


def test_compaction_relists_without_spurious_changes(cluster):
    cluster.apply(services_yaml(["stable-%d" % i for i in range(5)]))
    converged(cluster)
    before = agent_log()
    relists = relists_metric(cluster)
    # history compacted, then the watch broken: the agent resumes from a
    # resourceVersion the restarted apiserver no longer serves (410) and
    # must relist, delivering only what really changed
    cluster.apply(services_yaml(["during-compact"]))
    cluster.run("api", "compact")
    cluster.run("api", "restart", timeout=180)
    cluster.apply(services_yaml(["after-compact"]))
    converged(cluster)
    new = agent_log()[len(before):]
    # the stable Services were never deleted and re-added
    assert not re.search(r"msg=delete kind=Service ns=%s name=stable-" % NS, new)
    assert not re.search(r"msg=add kind=Service ns=%s name=stable-" % NS, new)
    # the relist is counted on /metrics, as many as the log shows
    relisted = len(re.findall(r"msg=relisting kind=Service ", new))
    assert relisted >= 1
    assert relists_metric(cluster) - relists == relisted


def relists_metric(cluster):
    m = cluster.exec(NODE, "curl", "-sf", "-m", "3", "http://127.0.0.1:10249/metrics").stdout
    v = re.search(r'^ferry_kube_relists_total\{kind="Service"\} (\S+)$', m, re.M)
    assert v, "no ferry_kube_relists_total for Services"
    return float(v.group(1))


def test_survives_60s_cut(cluster):
    t0 = time.time()
    cluster.run("api", "cut", NODE)
    try:
        cluster.apply(services_yaml(["cut-%d" % i for i in range(5)]))
        cluster.kubectl("-n", NS, "delete", "service", "cut-0")
        h = cluster.wait(lambda: (lambda b: b if b and b.get("apiReachable") is False else None)(
            healthz(cluster)), 70, "healthz reporting the API unreachable")
        # kube-proxy's semantics: the data plane forwards on, so load
        # balancers probing 10256 must not drain the node for an API outage
        assert h["healthy"] is True, h
        m = cluster.exec(NODE, "curl", "-sf", "-m", "3", "http://127.0.0.1:10249/metrics").stdout
        assert re.search(r"^ferry_kube_api_reachable 0$", m, re.M), "the metric says unreachable"
        time.sleep(max(0, 60 - (time.time() - t0)))
    finally:
        cluster.run("api", "uncut", NODE)
    converged(cluster, timeout=120)
    cluster.wait(lambda: (healthz(cluster) or {}).get("healthy"), 60, "healthy after the cut")


def test_500ms_latency_and_a_burst_of_1000(cluster):
    cluster.run("api", "latency", NODE, "500")
    try:
        names = ["burst-%04d" % i for i in range(1000)]
        base = "/api/v1/namespaces/%s/services" % NS
        cluster.burst("POST", [(base, service_obj(n)) for n in names])
        cluster.burst("DELETE", [("%s/%s" % (base, n), None) for n in names[:200]])
        cluster.burst("PATCH", [("%s/%s" % (base, n), {"spec": {"ports": [{"port": 90, "targetPort": 8080}]}})
                                for n in names[200:400]])
        cache = converged(cluster, timeout=300)
        assert sum(1 for k in cache["Service"] if k.startswith(NS + "/burst-")) == 800
    finally:
        cluster.run("api", "latency", NODE, "0")


def test_token_rotation_with_revocation(cluster):
    """A token bound to a Secret dies with it: rotate to a new one, revoke the
    old, and the agent keeps working on the new token from its next request."""
    def bound_token(secret):
        cluster.kubectl("-n", "ferry-system", "create", "secret", "generic", secret)
        return cluster.kubectl("-n", "ferry-system", "create", "token", "ferry", "--bound-object-kind",
                               "Secret", "--bound-object-name", secret, "--duration", "1h").strip()

    def write_token(tok):
        path = os.path.join(STATE, "ferry.token")
        with open(path + ".tmp", "w") as f:
            f.write(tok)
        os.replace(path + ".tmp", path)

    write_token(bound_token("ferry-tok-1"))
    cluster.run("api", "restart", timeout=180)       # every request now uses token 1
    cluster.apply(services_yaml(["tok-1"]))
    converged(cluster)
    mark = len(agent_log())
    write_token(bound_token("ferry-tok-2"))
    cluster.kubectl("-n", "ferry-system", "delete", "secret", "ferry-tok-1")   # token 1 revoked
    cluster.run("api", "restart", timeout=180)       # forces new requests
    cluster.apply(services_yaml(["tok-2"]))
    converged(cluster)
    after = agent_log()[mark:]
    assert "token file changed" in after
    assert "status=401" not in after
