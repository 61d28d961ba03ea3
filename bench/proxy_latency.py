#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ferry vs the real kube-proxy (nftables mode), same cluster, same run (issue 7).

    FERRY_BIN=build-bench/src/ferry bench/proxy_latency.py [--scales 1000,10000] [--changes 100]

Brings up `e2e/cluster up --nodes 2 --proxy none`, starts ferry on node1 and
kube-proxy on node2 (both with e2e/cluster's settings), a Deployment of real
pods, then for every scale:

1. loads background Services up to the scale: selectorless ClusterIP
   Services, each with one EndpointSlice of the Deployment's pods (10),
   created through the API from the root namespace (keep-alive HTTPS, a few
   threads); a sentinel NodePort Service reachable through both nodes says
   both proxies caught up;
2. network programming latency, `--changes` times: the EndpointSlice of a new
   NodePort Service is written first (a slice without its Service programs
   nothing), then the Service; from the moment the Service POST is sent,
   two threads in the `client` namespace connect to node1:nodePort (ferry)
   and node2:nodePort (kube-proxy) until the connect succeeds; a connect that
   fails at once (RST, ICMP) or times out means "not yet". With
   `--change endpoints` the Services exist beforehand with an empty slice and
   the change is the slice update to the pods;
3. each proxy's own kubeproxy_sync_proxy_rules_duration_seconds (the syncs
   during step 2), peak RSS (VmHWM), then a cold restart of each agent (one
   after the other) timed from the process start to its first
   kubeproxy_sync_proxy_rules_last_timestamp_seconds.

Prints a JSON result (and writes it to --out). Always tears the cluster down.
Traffic stays in the e2e namespaces; every loop is bounded in count and time.
"""
import argparse
import concurrent.futures
import ctypes
import http.client
import json
import math
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLUSTER = os.path.join(REPO, "e2e", "cluster")
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
PKI = os.path.join(STATE, "pki")
NODES = (("node1", "ferry", "192.0.2.11"), ("node2", "kube-proxy", "192.0.2.12"))
NS = "default"
APP = "bench-app"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def enter_netns(name):
    """setns(CLONE_NEWNET) moves only the calling thread."""
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


def ns_executor(name):
    """One thread living in network namespace `name`."""
    return concurrent.futures.ThreadPoolExecutor(1, initializer=enter_netns, initargs=(name,))


def cluster(*args, check=True, timeout=900):
    p = subprocess.run([CLUSTER, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise RuntimeError("e2e/cluster %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


# ---------------------------------------------------------------- API

class Api:
    """Keep-alive HTTPS to the apiserver (root namespace, admin certificate)."""

    def __init__(self):
        self.ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(PKI, "admin.crt"), os.path.join(PKI, "admin.key"))
        self.c = None

    def req(self, method, path, body=None, ctype="application/json", ok=(200, 201)):
        last = None
        for attempt in range(8):
            try:
                if self.c is None:
                    self.c = http.client.HTTPSConnection("127.0.0.1", 6443, context=self.ctx,
                                                         timeout=60)
                self.c.request(method, path, None if body is None else json.dumps(body),
                               {"Content-Type": ctype, "Accept": "application/json"})
                r = self.c.getresponse()
                raw = r.read()
                if r.status in ok:
                    return json.loads(raw) if raw else None
                if r.status == 409 and method == "POST" and attempt:
                    return None  # our earlier try went through
                last = "HTTP %d %s" % (r.status, raw[:200])
                if r.status not in (429, 500, 502, 503, 504):
                    raise RuntimeError("%s %s: %s" % (method, path, last))
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
                if self.c:
                    self.c.close()
                self.c = None
            time.sleep(0.5 * (attempt + 1))
        raise RuntimeError("%s %s: %s" % (method, path, last))


def svc_body(name, node_port=None):
    port = {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}
    spec = {"ports": [port]}
    if node_port:
        spec["type"] = "NodePort"
        port["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"bench.ferry.dev/role": "bench"}}, "spec": spec}


def slice_body(name, pods):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name + "-1",
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by": "bench.ferry.dev"}},
            "endpoints": endpoints(pods),
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}


def endpoints(pods):
    return [{"addresses": [ip], "nodeName": node,
             "conditions": {"ready": True, "serving": True, "terminating": False},
             "targetRef": {"kind": "Pod", "namespace": NS, "name": pod}}
            for pod, ip, node in pods]


SVC_PATH = "/api/v1/namespaces/%s/services" % NS
EPS_PATH = "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % NS


def deploy_pods(api, replicas):
    api.req("POST", "/apis/apps/v1/namespaces/%s/deployments" % NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}}, "spec": {
                     "topologySpreadConstraints": [{
                         "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                         "whenUnsatisfiable": "DoNotSchedule",
                         "labelSelector": {"matchLabels": {"app": APP}}}],
                     "containers": [{"name": "app", "image": "e2e/podserver",
                                     "ports": [{"containerPort": 80}]}]}}}})
    deadline = time.time() + 300
    while time.time() < deadline:
        items = api.req("GET", "/api/v1/namespaces/%s/pods?labelSelector=app%%3D%s" % (NS, APP))["items"]
        ready = [(p["metadata"]["name"], p["status"]["podIP"], p["spec"]["nodeName"]) for p in items
                 if p["status"].get("podIP") and any(
                     c["type"] == "Ready" and c["status"] == "True"
                     for c in p["status"].get("conditions", []))]
        if len(ready) == replicas:
            return sorted(ready)
        time.sleep(1)
    raise RuntimeError("pods of %s not ready in 300 s" % APP)


def load_background(first, last, pods, threads):
    """Services bg-FIRST..bg-(LAST-1), each with its EndpointSlice."""
    errors, done = [], [0]
    lock = threading.Lock()

    def work(k):
        api = Api()
        try:
            for i in range(first + k, last, threads):
                name = "bg-%05d" % i
                api.req("POST", SVC_PATH, svc_body(name))
                api.req("POST", EPS_PATH, slice_body(name, pods))
                with lock:
                    done[0] += 1
                    if done[0] % 1000 == 0:
                        log("  %d/%d background Services" % (done[0], last - first))
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("loading failed: %s" % errors[:3])
    return time.monotonic() - t0


# ---------------------------------------------------------------- probes

def connect_until(ip, port, deadline, pause, conn_timeout):
    """Runs in a thread inside `client`: connect until one succeeds.
    Returns (monotonic time of success or None, attempts, attempts that timed out)."""
    n = slow = 0
    while time.monotonic() < deadline:
        n += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(conn_timeout)
        try:
            s.connect((ip, port))
            return time.monotonic(), n, slow
        except socket.timeout:
            slow += 1
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(pause)
    return None, n, slow


def both_reachable(probers, port, timeout, a):
    deadline = time.monotonic() + timeout
    futs = [ex.submit(connect_until, ip, port, deadline, 0.05, 0.5) for ex, ip in probers]
    return [f.result()[0] for f in futs]


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def latency_phase(api, probers, pods, a, tag, base_port, rng):
    """`a.changes` changes; returns per-proxy lists of latencies (s, from the
    write that makes traffic possible; None = timed out) and API write times."""
    names = ["probe-%s-%03d" % (tag, i) for i in range(a.changes)]
    if a.change == "endpoints":
        for i, name in enumerate(names):
            api.req("POST", EPS_PATH, slice_body(name, []))
            api.req("POST", SVC_PATH, svc_body(name, base_port + i))
        # a refused connect to the last of them on both nodes: all are programmed
        time.sleep(2)
    lat = [[] for _ in probers]
    ack = [[] for _ in probers]
    api_ms = []
    slow = [0 for _ in probers]
    for i, name in enumerate(names):
        port = base_port + i
        if a.change == "create":
            api.req("POST", EPS_PATH, slice_body(name, pods))
        t0 = time.monotonic()
        deadline = t0 + a.timeout
        futs = [ex.submit(connect_until, ip, port, deadline, a.pause, a.conn_timeout)
                for ex, ip in probers]
        if a.change == "create":
            api.req("POST", SVC_PATH, svc_body(name, port))
        else:
            api.req("PATCH", EPS_PATH + "/" + name + "-1", {"endpoints": endpoints(pods)},
                    ctype="application/merge-patch+json")
        t_ack = time.monotonic()
        api_ms.append((t_ack - t0) * 1000)
        for k, f in enumerate(futs):
            t, _, s = f.result()
            slow[k] += s
            lat[k].append(None if t is None else t - t0)
            ack[k].append(None if t is None else t - t_ack)
        if (i + 1) % 20 == 0:
            log("  %d/%d changes" % (i + 1, a.changes))
        time.sleep(rng.uniform(0, a.gap))
    return lat, ack, api_ms, slow


def summary(xs, full=True):
    ok = [x for x in xs if x is not None]
    r = {"n": len(xs), "timeouts": len(xs) - len(ok)} if full else {}
    if ok:
        r.update(p50_ms=round(pct(ok, 50) * 1000, 1), p99_ms=round(pct(ok, 99) * 1000, 1),
                 max_ms=round(max(ok) * 1000, 1), min_ms=round(min(ok) * 1000, 1),
                 mean_ms=round(sum(ok) / len(ok) * 1000, 1))
    return r


# ---------------------------------------------------------------- metrics

def http_get(path):
    c = http.client.HTTPConnection("127.0.0.1", 10249, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        key, _, val = line.rpartition(" ")
        try:
            out[key] = float(val)
        except ValueError:
            pass
    return out


def metrics(ex):
    st, body = ex.submit(http_get, "/metrics").result()
    if st != 200:
        raise RuntimeError("metrics: HTTP %d" % st)
    return parse_metrics(body)


def fam(m, name, extra=""):
    """IPv4 series of a metric (kube-proxy and ferry label by ip_family)."""
    for key in ('%s{%sip_family="IPv4"}' % (name, extra), "%s{%s}" % (name, extra.rstrip(",")),
                name if not extra else None):
        if key and key in m:
            return m[key]
    return None


def sync_hist(m):
    n = "kubeproxy_sync_proxy_rules_duration_seconds"
    buckets = {}
    for key, v in m.items():
        if key.startswith(n + "_bucket{") and 'ip_family="IPv6"' not in key:
            le = key.split('le="')[1].split('"')[0]
            buckets[le] = v
    return {"sum": fam(m, n + "_sum") or 0.0, "count": fam(m, n + "_count") or 0.0,
            "buckets": buckets}


def hist_delta(h0, h1):
    cnt = h1["count"] - h0["count"]
    s = h1["sum"] - h0["sum"]
    # the share of syncs in each bucket; only buckets that gained
    les = sorted(h1["buckets"], key=lambda x: float("inf") if x == "+Inf" else float(x))
    prev, dist = 0.0, []
    for le in les:
        c = h1["buckets"][le] - h0["buckets"].get(le, 0)
        if c > prev:
            dist.append(("<=" + le, int(c - prev)))
        prev = c
    return {"syncs": int(cnt), "mean_ms": round(s / cnt * 1000, 1) if cnt else None,
            "buckets": dist}


def proc_status(pid):
    r = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                r[k] = round(int(v.split()[0]) / 1024, 1)  # MiB
    return r


def agent_pid(node, prefix="agent-"):
    with open(os.path.join(STATE, "pids", prefix + node + ".pid")) as f:
        return int(f.read())


OURS = {}


def still_ours():
    """The cluster is the one this run brought up (its apiserver's pid file
    still names our apiserver): only then may we tear it down."""
    try:
        return OURS.get("apiserver") is not None and agent_pid("kube-apiserver", "") == OURS["apiserver"]
    except (OSError, ValueError):
        return False


def start_wall(pid):
    """A process's start as wall-clock time. Not /proc/stat's btime: it is
    whole seconds (up to 1 s early); /proc/uptime has 10 ms."""
    with open("/proc/%d/stat" % pid) as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def cold_start(node, proxy, ex, timeout):
    """Restart the agent; seconds from its process start to its first sync."""
    cluster("agent", "restart", node, "--proxy", proxy)
    pid = agent_pid(node)
    t_start = start_wall(pid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = metrics(ex)
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(0.05)
            continue
        ts = fam(m, "kubeproxy_sync_proxy_rules_last_timestamp_seconds")
        # kube-proxy sets the timestamp just before it observes the duration
        if ts and (sync_hist(m)["count"] or time.time() > ts + 5):
            h = sync_hist(m)
            return {"pid": pid, "start_to_first_sync_s": round(ts - t_start, 2),
                    # the first sync's own duration, when it is the only one seen
                    "first_sync_ms": round(h["sum"] * 1000, 1) if h["count"] == 1 else None,
                    "syncs_seen": int(h["count"])}
        time.sleep(0.05)
    return {"pid": pid, "start_to_first_sync_s": None}


# ---------------------------------------------------------------- report

def table(res):
    """The RESULTS.md table of a result."""
    P = ("ferry", "kube-proxy")
    out = ["| Services | | ferry | kube-proxy | kube-proxy / ferry |", "|---|---|---|---|---|"]

    def row(scale, what, vals, ratio=True):
        r = ""
        if ratio and all(isinstance(v, (int, float)) and v for v in vals):
            r = "%.1f×" % (vals[1] / vals[0])
        out.append("| %s | %s | %s | %s | %s |" % (scale, what, *(
            "–" if v is None else v for v in vals), r))

    for s in res["scales"]:
        n = "{:,}".format(s["services"])
        pr = [s["proxies"][p] for p in P]
        for q in ("p50", "p99"):
            row(n, "programming latency %s (ms)" % q, [x["latency"].get(q + "_ms") for x in pr])
        for q in ("p50", "p99"):
            row(n, "… from the API's answer, %s (ms)" % q,
                [x["latency_from_ack"].get(q + "_ms") for x in pr], ratio=False)
        row(n, "changes not through within the timeout", [x["latency"]["timeouts"] for x in pr],
            ratio=False)
        row(n, "syncs during the changes / mean (ms)",
            ["%d / %s" % (x["sync_during_changes"]["syncs"], x["sync_during_changes"]["mean_ms"])
             for x in pr], ratio=False)
        row(n, "sync mean since the agent started (ms)", [x["sync_lifetime"]["mean_ms"] for x in pr])
        row(n, "cold start: process start to first sync (s)",
            [x["cold_start"]["start_to_first_sync_s"] for x in pr])
        row(n, "cold start: first sync duration (ms)", [x["cold_start"]["first_sync_ms"] for x in pr])
        row(n, "peak RSS, running since the previous scale (MiB)",
            [x["rss_MiB_before_restart"].get("VmHWM") for x in pr])
        row(n, "peak RSS after the cold start (MiB)",
            [x["cold_start"]["rss_MiB_after_cold_start"].get("VmHWM") for x in pr])
        row(n, "catch-up after the load (s)", [s["sentinel_catchup_s"][p] for p in P])
    return "\n".join(out)


# ---------------------------------------------------------------- main

def settings(node_ex):
    r = {}
    ferry_pid = agent_pid("node1")
    with open("/proc/%d/cmdline" % ferry_pid) as f:
        r["ferry_cmdline"] = f.read().replace("\0", " ").strip()
    with open("/proc/%d/cmdline" % agent_pid("node2")) as f:
        r["kube_proxy_cmdline"] = f.read().replace("\0", " ").strip()
    try:
        st, body = node_ex["node2"].submit(http_get, "/configz").result()
        if st == 200:
            kp = json.loads(body).get("kubeproxy.config.k8s.io", {})
            r["kube_proxy_config"] = {k: kp.get(k) for k in ("mode", "syncPeriod", "minSyncPeriod")}
            r["kube_proxy_config"]["nftables"] = kp.get("nftables")
    except Exception as e:  # noqa: BLE001 -- informational
        r["kube_proxy_config"] = repr(e)
    return r


def run(a):
    res = {"args": vars(a), "scales": []}
    rng = random.Random(a.seed)
    log("cluster up --nodes 2 --proxy none")
    t = time.monotonic()
    up = cluster("up", "--nodes", "2", "--proxy", "none", check=False)
    if up.returncode:
        if "in use" not in up.stderr:  # our own half-made cluster
            cluster("down", check=False, timeout=300)
        raise RuntimeError("cluster up failed: %s%s" % (up.stdout[-2000:], up.stderr[-2000:]))
    OURS["apiserver"] = agent_pid("kube-apiserver", "")
    log("  up in %.0f s" % (time.monotonic() - t))
    for node, proxy, _ in NODES:
        cluster("agent", "start", node, "--proxy", proxy)
    api = Api()
    client = [ns_executor("client"), ns_executor("client")]
    probers = [(client[k], ip) for k, (_, _, ip) in enumerate(NODES)]
    node_ex = {node: ns_executor(node) for node, _, _ in NODES}
    pods = deploy_pods(api, a.replicas)
    log("pods: %s" % ", ".join("%s@%s" % (ip, n) for _, ip, n in pods))
    have, sentinel = 0, 0
    for si, scale in enumerate(a.scales):
        log("scale %d: loading %d background Services" % (scale, scale - have))
        load_s = load_background(have, scale, pods, a.threads)
        rate = (scale - have) / load_s
        have = scale
        # both proxies caught up when a Service created after the load is reachable
        sentinel += 1
        name = "sentinel-%d" % sentinel
        t0 = time.monotonic()
        api.req("POST", EPS_PATH, slice_body(name, pods))
        api.req("POST", SVC_PATH, svc_body(name, 30000 + sentinel))
        reach = both_reachable(probers, 30000 + sentinel, a.catchup_timeout, a)
        catchup = [None if x is None else round(x - t0, 2) for x in reach]
        log("  loaded in %.0f s (%.0f Services+slices/s); sentinel reachable after %s s "
            "(ferry, kube-proxy)" % (load_s, rate, catchup))
        if None in reach:
            raise RuntimeError("a proxy did not catch up in %d s" % a.catchup_timeout)
        time.sleep(a.settle)
        if si == 0:
            res["settings"] = settings(node_ex)
        m0 = {n: metrics(node_ex[n]) for n, _, _ in NODES}
        log("scale %d: %d changes (%s)" % (scale, a.changes, a.change))
        lat, ack, api_ms, slow = latency_phase(api, probers, pods, a, "s%d" % si, 30100 + si * 100, rng)
        m1 = {n: metrics(node_ex[n]) for n, _, _ in NODES}
        r = {"services": scale, "load_s": round(load_s, 1), "load_rate_per_s": round(rate, 1),
             "sentinel_catchup_s": dict(zip([p for _, p, _ in NODES], catchup)),
             "api_write_ms": {"p50": round(pct(api_ms, 50), 1), "p99": round(pct(api_ms, 99), 1)},
             "proxies": {}}
        for k, (node, proxy, _) in enumerate(NODES):
            r["proxies"][proxy] = {
                "latency": summary(lat[k]), "connect_timeouts_while_waiting": slow[k],
                # from the API's answer to the write (<= 0: live before the answer came)
                "latency_from_ack": summary(ack[k], full=False),
                "sync_during_changes": hist_delta(sync_hist(m0[node]), sync_hist(m1[node])),
                "sync_lifetime": hist_delta({"sum": 0, "count": 0, "buckets": {}},
                                            sync_hist(m1[node])),
                "rss_MiB_before_restart": proc_status(agent_pid(node)),
                "latencies_ms": [None if x is None else round(x * 1000, 1) for x in lat[k]]}
        f, kp = (r["proxies"][p]["latency"] for p in ("ferry", "kube-proxy"))
        if "p50_ms" in f and "p50_ms" in kp:
            r["ratio_kube_proxy_over_ferry"] = {
                "p50": round(kp["p50_ms"] / f["p50_ms"], 1), "p99": round(kp["p99_ms"] / f["p99_ms"], 1)}
        log("  %s" % json.dumps({p: v["latency"] for p, v in r["proxies"].items()}))
        for node, proxy, _ in NODES:
            log("scale %d: cold start %s" % (scale, proxy))
            cs = cold_start(node, proxy, node_ex[node], a.catchup_timeout)
            time.sleep(a.settle)
            cs["rss_MiB_after_cold_start"] = proc_status(cs["pid"])
            r["proxies"][proxy]["cold_start"] = cs
            log("  %s" % json.dumps(cs))
        res["scales"].append(r)
        if a.out:
            with open(a.out, "w") as fh:
                json.dump(res, fh, indent=1)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1000,10000", help="background Service counts, ascending")
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--change", choices=["create", "endpoints"], default="create")
    ap.add_argument("--replicas", type=int, default=10, help="pods = endpoints per slice")
    ap.add_argument("--threads", type=int, default=4, help="API writers while loading")
    ap.add_argument("--timeout", type=float, default=60, help="per change, seconds")
    ap.add_argument("--catchup-timeout", type=float, default=900)
    ap.add_argument("--pause", type=float, default=0.002, help="between connect attempts, s")
    ap.add_argument("--conn-timeout", type=float, default=0.2, help="one connect attempt, s")
    ap.add_argument("--gap", type=float, default=2.0, help="random pause 0..GAP s between changes")
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="/tmp/proxy_latency.json")
    ap.add_argument("--table", metavar="JSON", help="only print the RESULTS.md table of a result")
    a = ap.parse_args()
    if a.table:
        with open(a.table) as f:
            print(table(json.load(f)))
        return
    a.scales = [int(x) for x in a.scales.split(",")]
    if a.changes > 100:
        sys.exit("--changes at most 100 (one NodePort block of 100 per scale)")
    os.environ.setdefault("FERRY_BIN", os.path.join(REPO, "build-bench", "src", "ferry"))
    st = cluster("status", check=False)
    busy = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True).returncode == 0
    if "down" not in st.stdout + st.stderr or busy:
        sys.exit("e2e cluster in use (status: %s; pytest running: %s): try later"
                 % ((st.stdout + st.stderr).strip()[:200], busy))
    try:
        res = run(a)
    finally:
        if still_ours():
            log("cluster down")
            cluster("down", check=False, timeout=300)
        elif OURS:
            log("the cluster is no longer the one this run brought up: not tearing it down")
    print(json.dumps(res, indent=1))
    print(table(res))


if __name__ == "__main__":
    main()
