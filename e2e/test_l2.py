# SPDX-License-Identifier: GPL-2.0-or-later
"""Layer-2 announcement (issue 14), end to end: ferry's agents answer ARP and
NDP for LoadBalancer addresses of layer-2 pools (docs/l2.md). Three nodes,
IPv4 and IPv6 on the LAN, ferry allocating and announcing (`--lb ferry`:
the cluster gives every agent the shared heartbeat key).

From `client`: arping (and ndisc6) get replies from exactly one MAC, the
owner node's LAN MAC; curl through the address works; after `node down` of
the owner another node answers within 2 s, and when it comes back no
request is ever answered by two MACs; the seed's scenario 5 (Local, cordon
and delete); 500 IPv6 addresses. A checker on the LAN bridge records every
ARP/NDP answer during the whole module and fails it on two MACs for one
request."""
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import cluster_up  # noqa: E402
from lib import metallb, seed  # noqa: E402
from lib.l2probe import ArpWatch, LanWatch, ndisc_macs, node_macs, owner_by_arp  # noqa: E402

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
NODES = 3
CLIENT_IP = "192.0.2.100"
V6_POOL = "2001:db8::200-2001:db8::2ff"
SCALE_POOL = "2001:db8::1000-2001:db8::11ff"   # 512, on the LAN's /64; by annotation only
CONFIG = seed.METALLB_CONFIGMAP.rstrip() + """
    - name: v6-space
      protocol: layer2
      addresses:
      - %s
    - name: scale6
      protocol: layer2
      auto-assign: false
      addresses:
      - %s
""" % (V6_POOL, SCALE_POOL)


@pytest.fixture(scope="module")
def cluster():
    gen = cluster_up(["--nodes", str(NODES), "--ipv6", "--lb", "ferry"])
    c = next(gen)
    try:
        c.apply(seed.myapp().split("\n---\n")[0])
        c.apply(CONFIG)
        c.wait(lambda: len(c.ready_pods("app=myapp")) == 4, 120, "myapp's 4 pods ready")
        c.macs = node_macs(c, NODES)
        yield c
    finally:
        keep = os.environ.get("FERRY_E2E_KEEP_LOGS")  # a folder: the logs outlive down
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(os.path.join(STATE, "logs"), keep)
        for _ in gen:
            pass


@pytest.fixture(scope="module", autouse=True)
def lan_checker(cluster):
    """Every ARP/NDP answer on the LAN during every test of this module:
    no request may ever be answered by two MACs."""
    w = LanWatch()
    yield w
    w.stop()
    assert w.answers(), "the LAN checker saw no answer at all: %s" % w.err
    d = w.doubles()
    assert not d, "requests answered by two MACs (ip, asker, time, MACs): %s" % d[:20]


def lb_service(c, name, **spec):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "annotations": {}},
           "spec": dict({"type": "LoadBalancer", "selector": {"app": "myapp"},
                         "ports": [{"name": "http", "port": 80, "targetPort": 80}]}, **spec)}
    if spec.get("ipFamilies") == ["IPv6"]:
        svc["metadata"]["annotations"]["metallb.universe.tf/address-pool"] = "v6-space"
    c.apply(json.dumps(svc))
    return metallb.wait_external_ip(c.kubectl, name, timeout=60)[0]


def metrics(c, node):
    return c.exec(node, "curl", "-s", "-m", "3", "http://127.0.0.1:10249/metrics").stdout


def test_ipv4_one_mac_and_curl(cluster):
    c = cluster
    ip = lb_service(c, "l2-v4")
    assert ip.startswith("192.0.2.")
    owner = c.wait(lambda: owner_by_arp(c, ip), 15, "one node answering ARP for %s" % ip)
    body = c.wait(lambda: c.curl("client", "http://%s/" % ip, check=False), 15, "curl through %s" % ip)
    assert "Hello MyApp" in body
    # the owner says so: metric, Event; the others announce nothing for it
    m = metrics(c, owner)
    assert re.search(r'metallb_speaker_announced\{ip="%s",node="%s",protocol="layer2",'
                     r'service="default/l2-v4"\} 1' % (re.escape(ip), owner), m), m
    for k in range(1, NODES + 1):
        if "node%d" % k != owner:
            assert 'ip="%s"' % ip not in metrics(c, "node%d" % k)
    ev = c.wait(lambda: [e for e in c.kjson("get", "events", "--field-selector",
                                            "involvedObject.name=l2-v4")["items"]
                         if e["reason"] == "nodeAssigned"], 15, "nodeAssigned Event")
    assert owner in ev[-1]["message"]
    st = c.exec(owner, "curl", "-s", "-m", "3", "http://127.0.0.1:10249/status").stdout
    assert "Layer-2 announcement" in st and ip in st


def test_ipv6_one_mac(cluster):
    c = cluster
    ip = lb_service(c, "l2-v6", ipFamilies=["IPv6"], ipFamilyPolicy="SingleStack")
    assert ip.startswith("2001:db8::")
    macs = c.wait(lambda: ndisc_macs(c, ip), 15, "a Neighbor Advertisement for %s" % ip)
    assert len(set(macs)) == 1 and macs[0] in c.macs, (macs, c.macs)
    body = c.wait(lambda: c.curl("client", "http://[%s]/" % ip, check=False), 15, "curl through %s" % ip)
    assert "Hello MyApp" in body


def watched_owner(c, name, seconds):
    """The Service's address, its owner and the owner's MAC, and an ArpWatch
    of `seconds` that has seen the owner answer."""
    ip = lb_service(c, name)
    owner = c.wait(lambda: owner_by_arp(c, ip), 15, "one node answering ARP for %s" % ip)
    mac = [m for m, n in c.macs.items() if n == owner][0]
    w = ArpWatch(ip, seconds)
    w.wait_answered()
    return ip, owner, mac, w


def test_failover_and_return(cluster):
    c = cluster
    # 6 s of requests every 50 ms; cut the owner's link once it answers
    ip, owner, old_mac, w = watched_owner(c, "l2-v4", 6)
    c.run("node", "down", owner)
    rows = w.finish()
    two = [r for r in rows if len(r[2]) > 1]
    assert not two, "requests answered by two MACs: %s" % two
    last_old = max((r[1] for r in rows if old_mac in r[2]), default=None)
    first_new = min((r[1] for r in rows if r[2] and old_mac not in r[2]), default=None)
    assert first_new is not None, "nobody took %s over after %s went down: %s" % (ip, owner, rows)
    gap_ms = (first_new - last_old) * 1000
    print("failover of %s from %s: %d ms without an answer" % (ip, owner, gap_ms))
    assert gap_ms < 2000, "failover took %d ms" % gap_ms
    replies = [(r[0], r[2][0]) for r in rows if r[2]]
    new_owner = c.macs[replies[-1][1]]
    assert new_owner != owner
    assert "Hello MyApp" in c.wait(lambda: c.curl("client", "http://%s/" % ip, check=False), 10,
                                   "curl after failover")
    # the owner returns: it listens before it claims; never two MACs at once
    w = ArpWatch(ip, 5)
    w.wait_answered()
    c.run("node", "up", owner)
    rows = w.finish()
    two = [r for r in rows if len(r[2]) > 1]
    assert not two, "requests answered by two MACs after the return: %s" % two
    owner2 = c.wait(lambda: owner_by_arp(c, ip), 15, "one node answering ARP after the return")
    # no stickiness: the hash puts it back on its first owner
    assert owner2 == owner, (owner, owner2)
    assert "Hello MyApp" in c.wait(lambda: c.curl("client", "http://%s/" % ip, check=False), 10,
                                   "curl after the return")


def test_graceful_stop_hands_over(cluster):
    """SIGTERM: the agent withdraws, says LEAVING, and another node answers
    within 0.5 s; never two MACs."""
    c = cluster
    ip, owner, old_mac, w = watched_owner(c, "l2-v4", 4)
    c.run("agent", "stop", owner)
    try:
        rows = w.finish()
    finally:
        c.run("agent", "start", owner)
    assert not [r for r in rows if len(r[2]) > 1], rows
    last_old = max(r[1] for r in rows if old_mac in r[2])
    first_new = min((r[1] for r in rows if r[2] and old_mac not in r[2]), default=None)
    assert first_new is not None, "nobody took %s over after the agent on %s stopped" % (ip, owner)
    gap_ms = (first_new - last_old) * 1000
    print("graceful handover of %s from %s: %d ms without an answer" % (ip, owner, gap_ms))
    assert gap_ms < 500, "graceful handover took %d ms" % gap_ms


def test_local_policy_follows_the_pod(cluster):
    """externalTrafficPolicy Local: the owner is the node with the pod; it
    moves with the pod; the client's address survives."""
    c = cluster

    def solo(node):
        return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "solo"},
                           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "solo"}},
                                    "template": {"metadata": {"labels": {"app": "solo"}},
                                                 "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                                          "containers": [{"name": "app", "image": "e2e/podserver",
                                                                          "ports": [{"containerPort": 80}]}]}}}})

    c.apply(solo("node3"))
    c.wait(lambda: [p for p in c.ready_pods("app=solo") if p["spec"]["nodeName"] == "node3"], 60,
           "solo's pod on node3")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "l2-local"},
           "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "selector": {"app": "solo"},
                    "ports": [{"port": 80, "targetPort": 80}]}}
    c.apply(json.dumps(svc))
    ip = metallb.wait_external_ip(c.kubectl, "l2-local", timeout=60)[0]
    c.wait(lambda: owner_by_arp(c, ip) == "node3", 15, "node3 (the pod's node) answering for %s" % ip)
    assert c.wait(lambda: c.curl("client", "http://%s/clientip" % ip, check=False), 10,
                  "curl /clientip").startswith(CLIENT_IP)
    # the move: the Deployment rolls (both pods ready for a while, then only
    # node1's); at no moment two MACs
    w = ArpWatch(ip, 60)
    w.wait_answered()
    c.apply(solo("node1"))
    try:
        c.wait(lambda: [p for p in c.ready_pods("app=solo") if p["spec"]["nodeName"] == "node1"]
               and not [p for p in c.pods("app=solo") if p["spec"]["nodeName"] == "node3"], 90,
               "solo's pod moved to node1")
        c.wait(lambda: owner_by_arp(c, ip) == "node1", 15, "node1 answering for %s after the move" % ip)
    finally:
        rows = w.stop()
    assert not [r for r in rows if len(r[2]) > 1], "two MACs during the move: %s" % rows
    assert c.wait(lambda: c.curl("client", "http://%s/clientip" % ip, check=False), 10,
                  "curl /clientip after the move").startswith(CLIENT_IP)


def test_seed_local_cordon_and_delete(cluster):
    """The seed's scenario 5: externalTrafficPolicy Local; cordon the node
    that owns the address and delete its pod there. The address moves to a
    node that has a pod; curl keeps working through the move (a pod stays
    up on another node all along) and /clientip still shows the client."""
    c = cluster
    c.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "seed5"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "seed5"}},
                 "template": {"metadata": {"labels": {"app": "seed5"}},
                              "spec": {"affinity": {"podAntiAffinity": {
                                  "requiredDuringSchedulingIgnoredDuringExecution": [{
                                      "topologyKey": "kubernetes.io/hostname",
                                      "labelSelector": {"matchLabels": {"app": "seed5"}}}]}},
                                       "containers": [{"name": "app", "image": "e2e/podserver",
                                                       "ports": [{"containerPort": 80}]}]}}}}))
    c.wait(lambda: len(c.ready_pods("app=seed5")) == 2, 90, "seed5's 2 pods ready")
    c.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "seed5"},
                        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                                 "selector": {"app": "seed5"}, "ports": [{"port": 80, "targetPort": 80}]}}))
    ip = metallb.wait_external_ip(c.kubectl, "seed5", timeout=60)[0]
    with_pods = {p["spec"]["nodeName"] for p in c.ready_pods("app=seed5")}
    owner = c.wait(lambda: owner_by_arp(c, ip), 15, "one node answering for %s" % ip)
    assert owner in with_pods, (owner, with_pods)
    assert c.wait(lambda: c.curl("client", "http://%s/clientip" % ip, check=False), 10,
                  "curl /clientip").startswith(CLIENT_IP)

    # curl every 0.2 s from client for the whole move, in the background
    loop = ("end=$(($(date +%%s)+%d)); while [ $(date +%%s) -lt $end ]; do "
            "if curl -s -m 1 -o /dev/null http://%s/; then echo ok; else echo fail; fi; sleep 0.2; done")
    curls = subprocess.Popen(c.exec_argv("client", "sh", "-c", loop % (25, ip)), stdout=subprocess.PIPE, text=True)
    w = ArpWatch(ip, 25)
    w.wait_answered()
    c.kubectl("cordon", owner)
    try:
        doomed = [p["metadata"]["name"] for p in c.pods("app=seed5") if p["spec"]["nodeName"] == owner]
        c.kubectl("delete", "pod", "--wait=false", *doomed)
        c.wait(lambda: len([p for p in c.ready_pods("app=seed5") if p["spec"]["nodeName"] != owner]) == 2
               and not [p for p in c.pods("app=seed5") if p["spec"]["nodeName"] == owner], 90,
               "seed5's pods off %s" % owner)
        now_pods = {p["spec"]["nodeName"] for p in c.ready_pods("app=seed5")}
        new_owner = c.wait(lambda: (lambda o: o if o != owner else None)(owner_by_arp(c, ip)), 15,
                           "another node answering for %s" % ip)
        assert new_owner in now_pods, (new_owner, now_pods)
        body = c.wait(lambda: c.curl("client", "http://%s/clientip" % ip, check=False), 10,
                      "curl /clientip after the move")
        assert body.startswith(CLIENT_IP), body
    finally:
        c.kubectl("uncordon", owner)
        rows = w.stop()
        curls.terminate()
        out = curls.communicate(timeout=30)[0].split()
    assert not [r for r in rows if len(r[2]) > 1], "two MACs during the move: %s" % rows
    # curl kept working: a failed curl (1 s timeout) at most now and then,
    # never more than two in a row
    fails = out.count("fail")
    streak = max((len(list(g)) for x, g in itertools.groupby(out) if x == "fail"), default=0)
    print("seed scenario 5: %s -> %s, %d curls, %d failed, at most %d in a row" % (
        owner, new_owner, len(out), fails, streak))
    assert out and fails <= 3 and streak <= 2, out


def test_key_file_waited_for(cluster):
    """The heartbeat key file turns bad: running agents keep their last good
    key; an agent (re)started meanwhile runs with layer 2 off and says so;
    when the key is good again it picks it up without a restart."""
    c = cluster
    path = os.path.join(STATE, "l2.key")
    with open(path) as f:
        good = f.read()

    def put(text):
        with open(path + ".tmp", "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
        os.replace(path + ".tmp", path)

    def status(node):
        return c.exec(node, "curl", "-s", "-m", "3", "http://127.0.0.1:10249/status").stdout

    put("short\n")   # too short: a bad key (removing it would make e2e/cluster write a new one)
    try:
        c.run("agent", "restart", "node3")
        c.wait(lambda: "ferry_l2_key_loaded 0" in metrics(c, "node3"), 20, "node3 waiting for the key")
        assert "waiting for the heartbeat key" in status("node3")
        time.sleep(2.5)   # one poll of the others' key file
        assert "ferry_l2_key_loaded 1" in metrics(c, "node1")
        assert "Layer-2 announcement: ready" in status("node1")
        assert "last good key is in use" in status("node1")
    finally:
        put(good)
    c.wait(lambda: "ferry_l2_key_loaded 1" in metrics(c, "node3"), 10, "node3 loading the key")
    c.wait(lambda: "Layer-2 announcement: ready" in status("node3"), 10, "node3's speaker ready")
    ip = lb_service(c, "l2-v4")
    assert owner_by_arp(c, ip)


def apiserver_writes(c):
    """apiserver_request_total summed over the writing verbs."""
    n = 0
    for line in c.kubectl("get", "--raw", "/metrics").splitlines():
        if line.startswith("apiserver_request_total{"):
            m = re.search(r'verb="([A-Z]+)"', line)
            if m and m.group(1) not in ("GET", "LIST", "WATCH"):
                n += float(line.rsplit(" ", 1)[1])
    return n


def announced_by_node(c):
    """{node: set of addresses it announces} from the metrics."""
    out = {}
    for k in range(1, NODES + 1):
        node = "node%d" % k
        out[node] = set(re.findall(r'metallb_speaker_announced\{ip="([^"]+)",node="%s"[^}]*\} 1' % node,
                                   metrics(c, node)))
    return out


def test_scale_500_addresses(cluster):
    """500 IPv6 addresses over 3 nodes: every address has one owner, the
    owners spread, the unsolicited NAs are paced, and the apiserver sees no
    more writes per second with 500 addresses than with 50."""
    c = cluster

    def services(lo, hi):
        return [("/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "scale-%03d" % i,
                         "annotations": {"metallb.universe.tf/address-pool": "scale6"}},
            "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                     "selector": {"app": "myapp"}, "allocateLoadBalancerNodePorts": False,
                     "ports": [{"port": 80, "targetPort": 80}]}}) for i in range(lo, hi)]

    def all_announced(n):
        by = announced_by_node(c)
        ips = [ip for s in by.values() for ip in s if ip.startswith("2001:db8::1")]
        return len(ips) == n and len(set(ips)) == n and by

    def writes_per_s(seconds=8):
        time.sleep(3)   # the last status writes and Events settle
        w0, t0 = apiserver_writes(c), time.monotonic()
        time.sleep(seconds)
        return (apiserver_writes(c) - w0) / (time.monotonic() - t0)

    t_start = time.monotonic()
    c.burst("POST", services(0, 50))
    c.wait(lambda: all_announced(50), 60, "50 addresses announced, each by one node", interval=1)
    w50 = writes_per_s()
    gw = LanWatch()
    try:
        t_burst = time.monotonic()
        c.burst("POST", services(50, 500))
        by = c.wait(lambda: all_announced(500), 90, "500 addresses announced, each by one node", interval=1)
        time.sleep(2.5)   # the gratuitous schedule runs 2 s after the last take
    finally:
        gw.stop()
    w500 = writes_per_s()
    counts = {n: len([ip for ip in s if ip.startswith("2001:db8::1")]) for n, s in by.items()}
    print("scale: owners %s; apiserver writes/s with 50: %.2f, with 500: %.2f; %.0f s" % (
        counts, w50, w500, time.monotonic() - t_start))
    # spread: the hash gives each of 3 nodes ~167; far from it is a bug
    assert min(counts.values()) >= 100, counts
    # paced: the schedule sends at most 64 frames per 10 ms per node, so
    # never more than 2 x 64 in any 10 ms window, and each address gets a
    # few frames, not a storm
    g = gw.gratuitous(since=t_burst)
    assert g, "no unsolicited NA seen during the burst"
    for mac, ts in g.items():
        ts.sort()
        worst = max(sum(1 for u in ts[i:i + 200] if u < t + 0.010) for i, t in enumerate(ts))
        assert worst <= 128, "%s: %d gratuitous frames within 10 ms" % (mac, worst)
    total = sum(len(ts) for ts in g.values())
    assert total <= 450 * 4 * 2, "%d gratuitous frames for 450 new addresses" % total
    # API economy: nothing per address at rest (node status, leases: the same)
    assert w500 <= w50 * 1.3 + 1, "apiserver writes/s: %.2f with 50 addresses, %.2f with 500" % (w50, w500)
