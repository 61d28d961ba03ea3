# SPDX-License-Identifier: GPL-2.0-or-later
"""BGP announcement (issue 15), end to end: ferry's agents speak BGP to the
router's BIRD 2 (AS 64512; the nodes are AS 64513), which puts every
LoadBalancer address into its kernel table with one next hop per
announcing node (ECMP); `remote`, behind the router, reaches the Service
(docs/bgp.md). Three nodes, `--bgp --ipv6 --lb ferry`, a legacy ConfigMap
with one peer and BGP pools (IPv4 and IPv6) with a community and a large
community; at the end the same as metallb.io resources with graceful
restart.

Checks: a session with every node; a Cluster-policy address with three
next hops in BIRD and in the router's kernel table, with the communities;
remote's curl answered; the same for an IPv6 /128; a Local-policy address
only from the nodes with a ready pod, following the pods when they move;
withdrawal when the Service goes; the agents' metrics (MetalLB's names)
and /status; an agent restart with graceful restart never takes its next
hop out of BIRD."""
import json
import os
import re
import shutil
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import cluster_up  # noqa: E402
from lib import metallb, seed  # noqa: E402

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
NODES = 3
NODE_IPS = {"192.0.2.%d" % (10 + k): "node%d" % k for k in range(1, NODES + 1)}
NODE_IPS.update({"2001:db8::%d" % (10 + k): "node%d" % k for k in range(1, NODES + 1)})
CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: metallb-system
  name: config
data:
  config: |
    peers:
    - peer-address: 192.0.2.1
      peer-asn: 64512
      my-asn: 64513
    bgp-communities:
      tagged: 64513:100
    address-pools:
    - name: bgp-space
      protocol: bgp
      addresses:
      - 203.0.113.10-203.0.113.40
      bgp-advertisements:
      - communities: [tagged, "large:64513:1:2"]
    - name: bgp-v6
      protocol: bgp
      auto-assign: false
      addresses:
      - 2001:db8:200::10-2001:db8:200::40
      bgp-advertisements:
      - communities: [tagged]
"""

SOLO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: solo, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec:
      containers:
      - {name: app, image: e2e/podserver, ports: [{containerPort: 80}]}
"""


@pytest.fixture(scope="module")
def cluster():
    gen = cluster_up(["--nodes", str(NODES), "--bgp", "--ipv6", "--lb", "ferry"])
    c = next(gen)
    try:
        c.apply(seed.myapp().split("\n---\n")[0])
        c.apply(CONFIG)
        c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "myapp's 4 pods ready")
        yield c
    finally:
        keep = os.environ.get("FERRY_E2E_KEEP_LOGS")  # a folder: the logs outlive down
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(os.path.join(STATE, "logs"), keep)
        for _ in gen:
            pass


def birdc(c, *cmd):
    # not checked: birdc fails ("Network not found") for a route that is gone
    return c.exec("router", "birdc", "-s", os.path.join(STATE, "bird.ctl"), *cmd,
                  check=False).stdout


def host(ip):
    return "%s/%d" % (ip, 128 if ":" in ip else 32)


def bird_next_hops(c, ip):
    """Nodes BIRD has a route to ip/32 (/128) from (one path per session)."""
    out = birdc(c, "show", "route", host(ip), "all")
    return {NODE_IPS[m] for m in re.findall(r"via ([0-9a-f.:]+)", out) if m in NODE_IPS}


def kernel_next_hops(c, ip):
    out = c.exec("router", "ip", "-6" if ":" in ip else "-4", "route", "show", host(ip)).stdout
    return {NODE_IPS[m] for m in re.findall(r"via (?:inet6 )?([0-9a-f.:]+)", out) if m in NODE_IPS}


def lb_service(c, name, app, local=False, v6=False):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "annotations": {}},
           "spec": {"type": "LoadBalancer", "selector": {"app": app},
                    "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}
    if local:
        svc["spec"]["externalTrafficPolicy"] = "Local"
    if v6:
        svc["spec"]["ipFamilies"] = ["IPv6"]
        svc["metadata"]["annotations"]["metallb.universe.tf/address-pool"] = "bgp-v6"
    c.apply(json.dumps(svc))
    return metallb.wait_external_ip(c.kubectl, name, timeout=60)[0]


def pod_nodes(c, selector):
    return {p["spec"]["nodeName"] for p in c.ready_pods(selector)}


def test_sessions_with_every_node(cluster):
    c = cluster

    def established():
        out = birdc(c, "show", "protocols")
        return all(re.search(r"node%d\s+BGP\s+.*\s+up\s+.*Established" % k, out)
                   for k in range(1, NODES + 1))
    c.wait(established, 60, "BIRD's sessions with every node Established")


def test_cluster_policy_ecmp_and_remote(cluster):
    c = cluster
    ip = lb_service(c, "bgp-cluster", "myapp")
    assert ip.startswith("203.0.113.")
    every = set(NODE_IPS.values())
    c.wait(lambda: bird_next_hops(c, ip) == every, 30, "a path from every node in BIRD")
    out = birdc(c, "show", "route", "%s/32" % ip, "all")
    assert "BGP.community: (64513,100)" in out, out
    assert "BGP.large_community: (64513, 1, 2)" in out, out
    assert "BGP.as_path: 64513" in out, out
    # ECMP in the router's kernel table: one route, a next hop per node
    c.wait(lambda: kernel_next_hops(c, ip) == every, 30, "a multipath route in the kernel")
    body = c.curl("remote", "http://%s/" % ip, timeout=5)
    assert "Hello MyApp" in body


def test_ipv6_prefix(cluster):
    """A /128 over the IPv4 session, next hop each node's IPv6 InternalIP
    (MP_REACH_NLRI); ECMP in the router's IPv6 table; remote reaches it."""
    c = cluster
    ip = lb_service(c, "bgp-v6", "myapp", v6=True)
    assert ip.startswith("2001:db8:200::"), ip
    every = set(NODE_IPS.values())
    c.wait(lambda: bird_next_hops(c, ip) == every, 30, "a path from every node in BIRD")
    out = birdc(c, "show", "route", host(ip), "all")
    assert "BGP.community: (64513,100)" in out, out
    c.wait(lambda: kernel_next_hops(c, ip) == every, 30, "a multipath IPv6 route in the kernel")
    # Not always at the first try: once (session 8's last CI run) the
    # first request timed out after 5 s with every path in place; cause
    # not found yet (docs/STATUS.md). More than 20 s still fails.
    body = c.wait(lambda: c.curl("remote", "http://[%s]/" % ip, timeout=3, check=False), 20,
                  "remote's request to the IPv6 address answered")
    assert "Hello MyApp" in body
    c.kubectl("delete", "service", "bgp-v6")
    c.wait(lambda: not bird_next_hops(c, ip), 30, "withdrawn after the delete")


def test_local_policy_follows_the_pods(cluster):
    c = cluster
    c.apply(SOLO)
    c.wait(lambda: len(c.ready_pods("app=solo")) == 1, 60, "solo's pod ready")
    ip = lb_service(c, "bgp-local", "solo", local=True)
    want = pod_nodes(c, "app=solo")
    assert len(want) == 1
    c.wait(lambda: bird_next_hops(c, ip) == want, 30, "only the pod's node announces")
    # a short wait more: nobody else starts announcing
    c.wait(lambda: kernel_next_hops(c, ip) == want, 30, "the kernel route via the pod's node")
    assert bird_next_hops(c, ip) == want
    assert "Hello MyApp" in c.curl("remote", "http://%s/" % ip, timeout=5)
    # more pods: their nodes join
    c.kubectl("scale", "deployment/solo", "--replicas=3")
    c.wait(lambda: len(c.ready_pods("app=solo")) == 3, 60, "solo's 3 pods ready")
    want = pod_nodes(c, "app=solo")
    c.wait(lambda: bird_next_hops(c, ip) == want, 30, "the pods' nodes announce: %s" % want)
    # no pods: withdrawn everywhere
    c.kubectl("scale", "deployment/solo", "--replicas=0")
    c.wait(lambda: not bird_next_hops(c, ip), 30, "withdrawn when the last pod goes")


def test_withdraw_when_service_goes(cluster):
    c = cluster
    ip = lb_service(c, "bgp-gone", "myapp")
    c.wait(lambda: len(bird_next_hops(c, ip)) == NODES, 30, "announced")
    c.kubectl("delete", "service", "bgp-gone")
    c.wait(lambda: not bird_next_hops(c, ip), 30, "withdrawn after the delete")


def test_metrics_and_status(cluster):
    c = cluster
    lb_service(c, "bgp-cluster", "myapp")

    def up():
        m = c.exec("node1", "curl", "-sS", "http://127.0.0.1:10249/metrics").stdout
        return re.search(r'metallb_bgp_session_up\{peer="192\.0\.2\.1:179"\} 1', m) and \
            re.search(r'metallb_bgp_announced_prefixes_total\{peer="192\.0\.2\.1:179"\} [1-9]', m) and \
            re.search(r'metallb_bgp_updates_total\{peer="192\.0\.2\.1:179"\} [1-9]', m)
    c.wait(up, 30, "node1's BGP metrics")
    st = c.exec("node1", "curl", "-sS", "http://127.0.0.1:10249/status").stdout
    assert re.search(r"192\.0\.2\.1:179\s+Established", st), st

    # the router resets the session (a Cease NOTIFICATION): the flap and
    # its cause are on node1's metrics, not only in its log
    def counters():
        m = c.exec("node1", "curl", "-sS", "http://127.0.0.1:10249/metrics").stdout
        return {n: float(re.search(r'^ferry_bgp_%s_total\{peer="192\.0\.2\.1:179"\} (\S+)$' % n,
                                   m, re.M).group(1))
                for n in ("established", "notifications_received", "notifications_sent", "collisions")}
    before = counters()
    assert before["established"] >= 1, before
    birdc(c, "restart", "node1")
    c.wait(lambda: counters()["established"] > before["established"] and established(c, "node1"),
           60, "node1's session back after the router's reset")
    after = counters()
    assert after["notifications_received"] == before["notifications_received"] + 1, (before, after)
    assert after["notifications_sent"] == before["notifications_sent"], (before, after)


CRDS = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp-space, namespace: metallb-system}
spec:
  addresses: [203.0.113.10-203.0.113.40]
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec:
  communities:
  - {name: tagged, value: "64513:100"}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp-adv, namespace: metallb-system}
spec:
  ipAddressPools: [bgp-space]
  communities: [tagged, "large:64513:1:2"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64512
  myASN: 64513
  enableGracefulRestart: true
"""


def watch_node1(c, ip, seconds):
    """Restart node1's agent; the times (every 100 ms) BIRD had no path
    from node1 to ip."""
    c.run("agent", "restart", "node1")
    end = time.time() + seconds
    missing = []
    while time.time() < end:
        if "node1" not in bird_next_hops(c, ip):
            missing.append(round(time.time(), 1))
        time.sleep(0.1)
    return missing


def test_graceful_restart_keeps_the_route(cluster):
    """The same configuration as MetalLB resources, with graceful restart:
    an agent restart never removes its next hop from BIRD (checked every
    100 ms), and a plain stop (no graceful restart) would have."""
    c = cluster
    every = set(NODE_IPS.values())
    ip = lb_service(c, "bgp-cluster", "myapp")
    c.wait(lambda: bird_next_hops(c, ip) == every, 30, "a path from every node")
    # the control: without graceful restart (the ConfigMap cannot ask for
    # it) a stopped agent's path goes at once (Cease)
    c.run("agent", "stop", "node1")
    c.wait(lambda: "node1" not in bird_next_hops(c, ip), 5, "node1's path withdrawn (Cease)")
    c.run("agent", "start", "node1")
    c.wait(lambda: bird_next_hops(c, ip) == every, 30, "node1 back")
    c.kubectl("delete", "configmap", "-n", "metallb-system", "config")
    c.apply(CRDS)

    def gr_up():
        out = birdc(c, "show", "protocols", "all", "node1")
        caps = out.split("Neighbor capabilities")[-1]
        return re.search(r"BGP state:\s+Established", out) and "AF preserved: ipv4" in caps
    c.wait(gr_up, 60, "node1's session re-established with graceful restart")
    c.wait(lambda: bird_next_hops(c, ip) == every, 30, "a path from every node")
    missing = watch_node1(c, ip, 10)
    assert not missing, "node1's path missing from BIRD at %s" % missing
    # stopped for longer: the path stays (stale) until the restart time
    c.run("agent", "stop", "node1")
    end = time.time() + 8
    while time.time() < end:
        assert "node1" in bird_next_hops(c, ip), "node1's stale path dropped"
        time.sleep(0.1)
    out = birdc(c, "show", "protocols", "all", "node1")
    assert "Neighbor graceful restart active" in out, out
    c.run("agent", "start", "node1")
    c.wait(lambda: re.search(r"BGP state:\s+Established", birdc(c, "show", "protocols", "all", "node1")),
           30, "node1's session back")
    assert bird_next_hops(c, ip) == every
    out = birdc(c, "show", "protocols", "node1")
    assert "Established" in out, out


# ---------------------------------------------------------------- the router changes

def established(c, node):
    return bool(re.search(r"BGP state:\s+Established", birdc(c, "show", "protocols", "all", node)))


def stays_down(c, seconds=6):
    """No node's session comes up for `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        up = [n for n in ("node1", "node2", "node3") if established(c, n)]
        assert not up, "sessions up: %s" % up
        time.sleep(0.5)


def router_configure(c, text=None):
    if text is None:
        c.run("router", "configure", "--default")
    else:
        c.run("router", "configure", input=text)


def use_crs(c):
    """The configuration as metallb.io resources (as the graceful-restart
    test leaves it; each test below can run alone)."""
    c.kubectl("delete", "configmap", "-n", "metallb-system", "config", "--ignore-not-found")
    c.apply(CRDS)


def peer_patch(c, spec):
    c.kubectl("-n", "metallb-system", "patch", "bgppeer", "router", "--type=merge",
              "-p", json.dumps({"spec": spec}))


def test_bird_restart_is_survived(cluster):
    """The router reboots (BIRD killed and started): every agent connects
    again and announces again; remote reaches the Service again."""
    c = cluster
    every = set(NODE_IPS.values())
    ip = lb_service(c, "bgp-reboot", "myapp")
    try:
        c.wait(lambda: bird_next_hops(c, ip) == every, 30, "a path from every node")
        c.run("router", "restart")
        c.wait(lambda: bird_next_hops(c, ip) == every, 60, "every path back after BIRD's restart")
        c.wait(lambda: kernel_next_hops(c, ip) == every, 15, "the multipath route back in the kernel")
        assert c.curl("remote", "http://%s/" % ip).startswith("Hello MyApp")
    finally:
        c.kubectl("delete", "service", "bgp-reboot", "--ignore-not-found")


def test_md5_right_missing_and_wrong(cluster):
    """TCP MD5 (RFC 2385): the router asks for a key; without one, or with
    a wrong one, no session comes up; with the right one every session
    does and the routes come back."""
    c = cluster
    use_crs(c)
    every = set(NODE_IPS.values())
    ip = lb_service(c, "bgp-md5", "myapp")
    conf = c.run("router", "conf").stdout
    try:
        router_configure(c, conf.replace("  hold time 9;", '  password "e2e-md5";\n  hold time 9;', 1))
        c.wait(lambda: not any(established(c, n) for n in ("node1", "node2", "node3")), 30,
               "sessions dropped once the router wants a key")
        stays_down(c)                                   # missing on ferry's side
        peer_patch(c, {"password": "e2e-md5"})         # right
        c.wait(lambda: bird_next_hops(c, ip) == every, 60, "every session up with the key")
        peer_patch(c, {"password": "wrong-key"})        # wrong
        c.wait(lambda: not any(established(c, n) for n in ("node1", "node2", "node3")), 30,
               "sessions dropped with a wrong key")
        stays_down(c)
    finally:
        router_configure(c)
        c.kubectl("-n", "metallb-system", "patch", "bgppeer", "router", "--type=json",
                  "-p", '[{"op": "remove", "path": "/spec/password"}]', check=False)
        c.wait(lambda: bird_next_hops(c, ip) == every, 60, "every session back without a key")
        c.kubectl("delete", "service", "bgp-md5", "--ignore-not-found")


def test_ibgp_local_pref(cluster):
    """iBGP (BIRD ignores LOCAL_PREF from eBGP peers): the nodes in the
    router's AS, the advertisement's localPref on every path."""
    c = cluster
    use_crs(c)
    every = set(NODE_IPS.values())
    conf = c.run("router", "conf").stdout
    ibgp = re.sub(r"as 64513;", "as 64512;", conf)
    # iBGP next hops are on the LAN: resolve them directly, not through an IGP
    # (and the nodes share the LAN: iBGP is multihop to BIRD unless told)
    ibgp = ibgp.replace("import all; export none;", "import all; export none; gateway direct;")
    ibgp = ibgp.replace("  hold time 9;", "  direct;\n  hold time 9;", 1)
    ip = lb_service(c, "bgp-ibgp", "myapp")
    try:
        c.kubectl("-n", "metallb-system", "patch", "bgpadvertisement", "bgp-adv", "--type=merge",
                  "-p", json.dumps({"spec": {"localPref": 150}}))
        peer_patch(c, {"myASN": 64512})
        router_configure(c, ibgp)

        def local_pref():
            out = birdc(c, "show", "route", host(ip), "all")
            return bird_next_hops(c, ip) == every and out.count("BGP.local_pref: 150") == len(every)
        c.wait(local_pref, 60, "three iBGP paths with local_pref 150")
        # learnt from the router's own AS: an empty AS_PATH
        assert re.search(r"BGP.as_path:\s*$", birdc(c, "show", "route", host(ip), "all"), re.M)
    finally:
        router_configure(c)
        peer_patch(c, {"myASN": 64513})
        c.kubectl("-n", "metallb-system", "patch", "bgpadvertisement", "bgp-adv", "--type=json",
                  "-p", '[{"op": "remove", "path": "/spec/localPref"}]', check=False)
        c.wait(lambda: bird_next_hops(c, ip) == every, 60, "eBGP paths back")
        c.kubectl("delete", "service", "bgp-ibgp", "--ignore-not-found")


def test_flows_spread_over_the_nodes(cluster):
    """With the router hashing flows on ports as well (as routers do), new
    connections from remote enter through different nodes; with the
    Cluster policy each pod sees the entry node's address, which names it."""
    c = cluster
    every = set(NODE_IPS.values())
    ip = lb_service(c, "bgp-spread", "myapp")
    c.exec("router", "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
    try:
        c.wait(lambda: kernel_next_hops(c, ip) == every, 30, "three next hops in the kernel")
        # a node's LAN address, or its pod gateway (.1 of its podCIDR) when
        # the pod runs on the entry node
        names = dict(NODE_IPS)
        for n in c.kjson("get", "nodes")["items"]:
            names[n["spec"]["podCIDR"].rsplit(".", 1)[0] + ".1"] = n["metadata"]["name"]
        entry = []
        for _ in range(30):
            src = c.curl("remote", "http://%s/clientip" % ip)
            assert src in names, (src, names)
            entry.append(names[src])
        print("entry nodes over 30 connections:", {n: entry.count(n) for n in sorted(set(entry))})
        assert len(set(entry)) >= 2, entry
    finally:
        c.exec("router", "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=0")
        c.kubectl("delete", "service", "bgp-spread", "--ignore-not-found")
