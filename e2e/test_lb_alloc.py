# SPDX-License-Identifier: GPL-2.0-or-later
"""LoadBalancer IP allocation (issue 13), end to end. Every test runs
against ferry's allocator (`--lb ferry`: the agents allocate, one at a time
through the Lease ferry-system/ferry-lb-allocator) and against MetalLB
v0.15.2's own controller (`--lb metallb`: the agents only forward). A test
MetalLB cannot pass is skipped, and its skip says why.

Announcement is a later issue: the client reaches an allocated IP through a
host route to node1, as an ARP answer would send it there."""
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import cluster_up  # noqa: E402
from lib import metallb, net, seed  # noqa: E402

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
CONF = os.path.join(STATE, "cluster.json")
LOGS = os.path.join(STATE, "logs")
NODE1 = "192.0.2.11"
SEED_FIRST, SEED_LAST = "192.0.2.200", "192.0.2.250"
SEED_CONFIG = {"address-pools": [{"name": "my-ip-space", "protocol": "layer2",
                                  "addresses": ["%s-%s" % (SEED_FIRST, SEED_LAST)]}]}
NS = metallb.NAMESPACE


@pytest.fixture(scope="module", params=["ferry", "metallb"])
def cluster(request):
    gen = cluster_up(["--nodes", "2", "--lb", request.param])
    c = next(gen)
    c.lb = request.param
    with open(CONF) as f:
        c.metallb_cache = json.load(f)["metallb"]
    try:
        # the seed's Deployment only; tests make their own Services for it
        c.apply(seed.myapp().split("\n---\n")[0])
        c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "myapp's 4 pods ready")
        yield c
    finally:
        for _ in gen:
            pass


# ---------------------------------------------------------------- helpers

def lb_service(name, port=80, annotations=None, labels=None, **spec):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
            "spec": dict({"type": "LoadBalancer", "selector": {"app": "myapp"},
                          "ports": [{"name": "http", "port": port, "targetPort": 80}]}, **spec)}


def create(c, *services):
    c.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(services)}))


def delete_services(c, *names):
    c.kubectl("delete", "service", "--ignore-not-found", *names)


def external_ip(c, name, timeout=30):
    return metallb.wait_external_ip(c.kubectl, name, timeout=timeout)[0]


def external_ips(c, name):
    return metallb.external_ips(c.kubectl, name)


def reset_config(c):
    """No pool at all: every test starts from this and returns to it."""
    c.kubectl("-n", NS, "delete", "--ignore-not-found", "configmap/config")
    c.kubectl("-n", NS, "delete", "ipaddresspools,l2advertisements", "--all")


def events(c, kind, name, reason, namespace="default"):
    """How many times `reason` was reported on the object (Events are
    aggregated: count, or series.count for events.k8s.io writers)."""
    items = c.kjson("-n", namespace, "get", "events", "--field-selector",
                    "involvedObject.kind=%s,involvedObject.name=%s,reason=%s" % (kind, name, reason)
                    if name else "involvedObject.kind=%s,reason=%s" % (kind, reason))["items"]
    return sum((e.get("series") or {}).get("count") or e.get("count") or 1 for e in items)


def event_messages(c, kind, name, reason, namespace="default"):
    items = c.kjson("-n", namespace, "get", "events", "--field-selector",
                    "involvedObject.kind=%s,involvedObject.name=%s,reason=%s"
                    % (kind, name, reason))["items"]
    return [e.get("message", "") for e in items]


def wait_event(c, kind, name, reason, namespace="default", after=0, timeout=30):
    c.wait(lambda: events(c, kind, name, reason, namespace) > after, timeout,
           "%s Event on %s %s/%s" % (reason, kind, namespace, name))


def route_via_node1(c, ip):
    c.exec("client", "ip", "route", "replace", ip + "/32", "via", NODE1)


def unroute(c, ip):
    c.exec("client", "ip", "route", "del", ip + "/32", check=False)


def hello(c, ip, port=80, timeout=20):
    """Wait until the client gets the seed's answer through ip:port."""
    url = "http://%s:%d/" % (ip, port)
    body = c.wait(lambda: c.curl("client", url, check=False), timeout, "an answer from " + url)
    assert body.startswith("Hello MyApp | Version: v2 | Pod Name: myapp-"), body
    return body


def lease_holder(c):
    lease = c.kjson("-n", "ferry-system", "get", "lease", "ferry-lb-allocator")
    return lease["spec"].get("holderIdentity")


def only_ferry(c, why):
    if c.lb != "ferry":
        pytest.skip(why)


# ---------------------------------------------------------------- tests

def test_seed_pool_allocates_and_answers(cluster):
    """Seed scenario 1 (and 2 through the external IP): the seed's pool,
    myapp-svc shows an EXTERNAL-IP from it, a second Service gets another."""
    c = cluster
    if c.lb == "ferry":   # the legacy ConfigMap, exactly as the seed writes it
        metallb.apply_legacy_configmap(c.kubectl, SEED_CONFIG)
    else:                 # MetalLB v0.13+ reads CRs only: its own conversion
        metallb.apply(c.kubectl, metallb.convert_legacy(c.metallb_cache, SEED_CONFIG))
    ip = ip2 = None
    try:
        c.apply(seed.myapp(service_type="LoadBalancer"))
        ip = external_ip(c, "myapp-svc")
        assert metallb.in_range(ip, SEED_FIRST, SEED_LAST), ip
        row = c.kubectl("get", "svc", "myapp-svc").splitlines()[1].split()
        assert row[:4] == ["myapp-svc", "LoadBalancer", row[2], ip], row
        wait_event(c, "Service", "myapp-svc", "IPAllocated")
        assert 'Assigned IP ["%s"]' % ip in event_messages(c, "Service", "myapp-svc", "IPAllocated")

        create(c, lb_service("webapp-svc"))
        ip2 = external_ip(c, "webapp-svc")
        assert metallb.in_range(ip2, SEED_FIRST, SEED_LAST) and ip2 != ip, (ip, ip2)

        route_via_node1(c, ip)
        route_via_node1(c, ip2)
        hello(c, ip)
        hello(c, ip2)
    finally:
        delete_services(c, "myapp-svc", "webapp-svc")
        for x in (ip, ip2):
            if x:
                unroute(c, x)
        reset_config(c)


def test_address_pool_annotation(cluster):
    """Seed scenario 6: the address-pool annotation picks a pool that is not
    auto-assigned, in both spellings; without it the default pool serves."""
    c = cluster
    metallb.apply_pool(c.kubectl, "first", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    metallb.apply_pool(c.kubectl, "second", ["203.0.113.10-203.0.113.20"], auto_assign=False)
    try:
        create(c, lb_service("pool-legacy", annotations={"metallb.universe.tf/address-pool": "second"}),
               lb_service("pool-new", annotations={"metallb.io/address-pool": "second"}),
               lb_service("pool-default"))
        a, b = external_ip(c, "pool-legacy"), external_ip(c, "pool-new")
        assert metallb.in_range(a, "203.0.113.10", "203.0.113.20"), a
        assert metallb.in_range(b, "203.0.113.10", "203.0.113.20"), b
        assert a != b
        d = external_ip(c, "pool-default")
        assert metallb.in_range(d, SEED_FIRST, SEED_LAST), "autoAssign false keeps 'second' out: %s" % d
    finally:
        delete_services(c, "pool-legacy", "pool-new", "pool-default")
        reset_config(c)


def test_shared_ip(cluster):
    """Seed scenario 7: the same allow-shared-ip key on ports 80 and 8080
    (Cluster policy) gives one IP that answers on both; a third Service
    with the key but a clashing port 80 cannot have that IP."""
    c = cluster
    metallb.apply_pool(c.kubectl, "seed", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    key = {"metallb.universe.tf/allow-shared-ip": "myapp-key"}
    ip = None
    try:
        create(c, lb_service("shared-80", 80, key, externalTrafficPolicy="Cluster"),
               lb_service("shared-8080", 8080, key, externalTrafficPolicy="Cluster"))
        ip = external_ip(c, "shared-80")
        assert external_ip(c, "shared-8080") == ip
        route_via_node1(c, ip)
        hello(c, ip, 80)
        hello(c, ip, 8080)

        create(c, lb_service("shared-clash", 80, dict(key, **{"metallb.universe.tf/loadBalancerIPs": ip}),
                             externalTrafficPolicy="Cluster"))
        wait_event(c, "Service", "shared-clash", "AllocationFailed")
        assert external_ips(c, "shared-clash") == []
        assert external_ip(c, "shared-80") == ip and external_ip(c, "shared-8080") == ip
    finally:
        delete_services(c, "shared-80", "shared-8080", "shared-clash")
        if ip:
            unroute(c, ip)
        reset_config(c)


def test_requested_ip(cluster):
    """loadBalancerIPs (both spellings) and spec.loadBalancerIP give exactly
    that IP; one outside every pool fails and stays pending, and does not
    hold up a Service created after it."""
    c = cluster
    metallb.apply_pool(c.kubectl, "seed", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    try:
        create(c, lb_service("req-legacy", annotations={"metallb.universe.tf/loadBalancerIPs": "192.0.2.222"}),
               lb_service("req-new", annotations={"metallb.io/loadBalancerIPs": "192.0.2.224"}),
               lb_service("req-spec", loadBalancerIP="192.0.2.223"))
        assert external_ip(c, "req-legacy") == "192.0.2.222"
        assert external_ip(c, "req-new") == "192.0.2.224"
        assert external_ip(c, "req-spec") == "192.0.2.223"

        create(c, lb_service("req-outside", annotations={"metallb.universe.tf/loadBalancerIPs": "198.51.100.77"}))
        wait_event(c, "Service", "req-outside", "AllocationFailed")
        create(c, lb_service("req-after"))
        after = external_ip(c, "req-after")
        assert metallb.in_range(after, SEED_FIRST, SEED_LAST)
        assert after not in ("192.0.2.222", "192.0.2.223", "192.0.2.224")
        assert external_ips(c, "req-outside") == []
    finally:
        delete_services(c, "req-legacy", "req-new", "req-spec", "req-outside", "req-after")
        reset_config(c)


def test_bad_configmap_edit_keeps_last_good(cluster):
    """A broken edit of the legacy ConfigMap is refused as a whole: the
    allocations and traffic stay, a Warning says why, the last good config
    keeps serving new Services; the good one restored works again."""
    c = cluster
    only_ferry(c, "MetalLB v0.13+ does not read the legacy ConfigMap (CRs only)")
    metallb.apply_legacy_configmap(c.kubectl, SEED_CONFIG)
    ip = None
    try:
        create(c, lb_service("cm-kept"))
        ip = external_ip(c, "cm-kept")
        route_via_node1(c, ip)
        hello(c, ip)

        before = events(c, "ConfigMap", "config", "InvalidConfig", NS)
        bad = {"address-pools": [{"name": "my-ip-space", "protocol": "layer2",
                                  "addresses": ["192.0.2.250-192.0.2.200"]}]}
        metallb.apply_legacy_configmap(c.kubectl, bad)
        wait_event(c, "ConfigMap", "config", "InvalidConfig", NS, after=before)
        assert external_ips(c, "cm-kept") == [ip]
        hello(c, ip)
        create(c, lb_service("cm-during"))
        assert metallb.in_range(external_ip(c, "cm-during"), SEED_FIRST, SEED_LAST), \
            "the last good pool still serves"

        metallb.apply_legacy_configmap(c.kubectl, SEED_CONFIG)
        create(c, lb_service("cm-restored"))
        assert metallb.in_range(external_ip(c, "cm-restored"), SEED_FIRST, SEED_LAST)
        assert external_ips(c, "cm-kept") == [ip]
    finally:
        delete_services(c, "cm-kept", "cm-during", "cm-restored")
        if ip:
            unroute(c, ip)
        reset_config(c)


@pytest.mark.parametrize("bad", ["overlap", "range"])
def test_bad_cr_keeps_last_good(cluster, bad):
    """A pool that overlaps another, or a range that ends before it starts,
    makes the whole configuration invalid: nothing already allocated moves,
    traffic keeps flowing, the refusal is reported (ferry: a Warning Event
    InvalidConfig on the pool; MetalLB's controller only logs it)."""
    c = cluster
    metallb.apply_pool(c.kubectl, "good", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    ip = None
    name = "cr-kept-" + bad
    try:
        create(c, lb_service(name))
        ip = external_ip(c, name)
        route_via_node1(c, ip)
        hello(c, ip)

        before = events(c, "IPAddressPool", None, "InvalidConfig", NS)
        log_before = log_size(c)
        addresses = ["192.0.2.240-192.0.2.245"] if bad == "overlap" else ["203.0.113.20-203.0.113.10"]
        metallb.apply_pool(c.kubectl, "bad", addresses)
        if c.lb == "ferry":
            wait_event(c, "IPAddressPool", None, "InvalidConfig", NS, after=before)
        else:
            try:
                c.wait(lambda: metallb_refused(c, log_before), 30, "MetalLB's controller refuses it")
            except AssertionError as e:
                raise AssertionError("%s; its log since:\n%s" % (e, log_tail(c, log_before)[-3000:]))
        assert external_ips(c, name) == [ip]
        hello(c, ip)

        metallb.delete_pool(c.kubectl, "bad")
        create(c, lb_service(name + "-after"))
        assert metallb.in_range(external_ip(c, name + "-after"), SEED_FIRST, SEED_LAST)
        assert external_ips(c, name) == [ip]
    finally:
        delete_services(c, name, name + "-after")
        if ip:
            unroute(c, ip)
        reset_config(c)


def metallb_refused(c, log_offset):
    """MetalLB logs a refused configuration and sets its stale gauge."""
    if "failed to parse the configuration" in log_tail(c, log_offset):
        return True
    m = c.exec("cp", "curl", "-sf", "http://127.0.0.1:7472/metrics", check=False).stdout
    return "metallb_k8s_client_config_stale_bool 1" in m


def allocator_log(c):
    return os.path.join(LOGS, "metallb-controller.log")


def log_size(c):
    try:
        return os.path.getsize(allocator_log(c))
    except OSError:
        return 0


def log_tail(c, offset):
    with open(allocator_log(c), errors="replace") as f:
        f.seek(offset)
        return f.read()


def test_hundred_at_once(cluster):
    """100 Services in one apply get the 100 addresses of a 100-address pool,
    each a different one; the 101st fails."""
    c = cluster
    first, last = "198.18.200.1", "198.18.200.100"
    metallb.apply_pool(c.kubectl, "bulk", ["%s-%s" % (first, last)])
    label = {"e2e-bulk": "yes"}
    try:
        t0 = time.time()
        c.burst("POST", [("/api/v1/namespaces/default/services", lb_service("bulk-%03d" % i, labels=label))
                         for i in range(100)])

        def all_allocated():
            items = c.kjson("get", "services", "-l", "e2e-bulk=yes")["items"]
            ips = [i["ip"] for s in items for i in s["status"].get("loadBalancer", {}).get("ingress", [])]
            return ips if len(ips) == 100 else None
        ips = c.wait(all_allocated, 120, "100 Services allocated", interval=1)
        print("100 Services allocated in %.1f s (%s)" % (time.time() - t0, c.lb))
        assert len(set(ips)) == 100
        assert all(metallb.in_range(ip, first, last) for ip in ips)

        create(c, lb_service("bulk-101", labels=label))
        wait_event(c, "Service", "bulk-101", "AllocationFailed")
        assert external_ips(c, "bulk-101") == []
    finally:
        names = [s["metadata"]["name"] for s in c.kjson("get", "services", "-l", "e2e-bulk=yes")["items"]]
        c.burst("DELETE", [("/api/v1/namespaces/default/services/%s" % n, None) for n in names])
        reset_config(c)


def test_leader_killed_another_takes_over(cluster):
    """The Lease holder's agent dies (SIGKILL, no release): another agent
    takes the Lease within the lease duration plus a retry, no IP moves,
    and it allocates for a new Service."""
    c = cluster
    only_ferry(c, "MetalLB's controller is a single process without leader election")
    metallb.apply_pool(c.kubectl, "seed", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    killed = None
    try:
        create(c, lb_service("lead-a"), lb_service("lead-b"))
        before = {n: external_ip(c, n) for n in ("lead-a", "lead-b")}
        killed = c.wait(lambda: lease_holder(c), 30, "a Lease holder")
        c.run("agent", "kill", killed)
        t0 = time.time()

        def other_holder():
            h = lease_holder(c)
            return h if h and h != killed else None
        new = c.wait(other_holder, 30, "another Lease holder")
        took = time.time() - t0
        assert took < 20, "takeover took %.1f s" % took
        assert new in ("node1", "node2") and new != killed
        assert {n: external_ips(c, n) for n in before} == {n: [ip] for n, ip in before.items()}
        create(c, lb_service("lead-new"))
        assert external_ip(c, "lead-new") not in before.values()
    finally:
        if killed:
            c.run("agent", "start", killed, check=False)
        delete_services(c, "lead-a", "lead-b", "lead-new")
        reset_config(c)


def restart_metallb_controller():
    """e2e/cluster has no command for it: stop the process its pid file
    names and start the same command line again in cp, under the same pid
    file (so `down` still stops it)."""
    pids = os.path.join(STATE, "pids")
    pid = net.read_pid(pids, "metallb-controller")
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmd = [x.decode() for x in f.read().split(b"\0") if x]
    net.stop_pid(pid)
    net.spawn("metallb-controller", cmd, os.path.join(LOGS, "metallb-controller.log"), pids, ns="cp")


def test_restart_keeps_ips(cluster):
    """Every allocator restarted (ferry: each agent, the Lease moves; MetalLB:
    its controller): each Service keeps its IP (a new leader rebuilds its
    view from the statuses), and allocation goes on."""
    c = cluster
    metallb.apply_pool(c.kubectl, "seed", ["%s-%s" % (SEED_FIRST, SEED_LAST)])
    names = ["keep-%d" % i for i in range(6)]
    try:
        # some requested (far from the low addresses the others take), some
        # from the pool, so the order of a rebuild matters
        create(c, *(lb_service(n) for n in names[:4]),
               lb_service(names[4], annotations={"metallb.io/loadBalancerIPs": "192.0.2.240"}),
               lb_service(names[5], loadBalancerIP="192.0.2.250"))
        before = {n: external_ip(c, n) for n in names}
        if c.lb == "ferry":
            for node in ("node1", "node2"):
                c.run("agent", "restart", node)
        else:
            restart_metallb_controller()
        create(c, lb_service("keep-new"))
        new = external_ip(c, "keep-new", timeout=40)
        time.sleep(3)  # a rebuild that reassigns would have written by now
        after = {n: external_ips(c, n) for n in names}
        assert after == {n: [ip] for n, ip in before.items()}
        assert new not in before.values()
    finally:
        delete_services(c, *names, "keep-new")
        reset_config(c)
