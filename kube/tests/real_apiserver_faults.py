#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Informers against a real kube-apiserver through faults, without the shared
e2e cluster: a private etcd + kube-apiserver in the network namespace
ferry-kbench (bench/kube_real_apiserver.py), and bench_kube_cache watching
with -v 2 (it logs every add/update/delete). After each fault the watcher's
cache, replayed from its log, must equal `kubectl get -o json`, and a relist
must not delete and re-add objects that never changed.

Needs root (a network namespace). Not part of ctest:
    kube/tests/real_apiserver_faults.py K8S_BIN_DIR build/bench/bench_kube_cache
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CTL = os.path.join(HERE, "..", "..", "bench", "kube_real_apiserver.py")
BIN, BENCH = sys.argv[1], sys.argv[2]
NS, D = "ferry-kbench", "/tmp/ferry-kbench"
LOG = "/tmp/ferry-kbench-watcher.log"
LINE = re.compile(r'msg=(add|update|delete) kind=(\w+) ns=("[^"]*"|\S*) name=(\S+)')


def ctl(step, n=200):
    subprocess.run([sys.executable, CTL, BIN, BENCH, step], check=True, env=dict(os.environ, N=str(n)),
                   stdout=subprocess.DEVNULL)


def kubectl(*args, input=None):
    # through 203.0.113.3: a "cut" drops only the watcher's 127.0.0.1 traffic
    return subprocess.run(["ip", "netns", "exec", NS, os.path.join(BIN, "kubectl"), "--kubeconfig",
                           os.path.join(D, "admin.kubeconfig"), "--server", "https://203.0.113.3:6443", *args], check=True, capture_output=True,
                          text=True, input=input).stdout


def log(path=LOG):
    with open(path) as f:
        return f.read()


def watcher_cache(text=None):
    cache = {"Service": set(), "EndpointSlice": set()}
    for m in LINE.finditer(text if text is not None else log()):
        op, kind, ns, name = m.groups()
        key = "%s/%s" % (ns.strip('"'), name)
        (cache[kind].discard if op == "delete" else cache[kind].add)(key)
    return cache


def server_cache():
    out = {}
    for kind, res in (("Service", "services"), ("EndpointSlice", "endpointslices.discovery.k8s.io")):
        items = json.loads(kubectl("get", res, "-A", "-o", "json"))["items"]
        out[kind] = {"%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}
    return out


def converge(what, timeout=120, path=LOG):
    t0 = time.time()
    while time.time() - t0 < timeout:
        a, s = watcher_cache(log(path)), server_cache()
        if a == s:
            print("ok: %-48s converged in %4.1f s (%d services, %d slices)"
                  % (what, time.time() - t0, len(s["Service"]), len(s["EndpointSlice"])), flush=True)
            return
        time.sleep(1)
    diff = {k: (sorted(s[k] - a[k])[:5], sorted(a[k] - s[k])[:5]) for k in s}
    sys.exit("FAIL: %s: watcher != server (missing, extra): %s" % (what, diff))


def svc_yaml(names, ns="bench-0", port=80):
    return "\n---\n".join("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
                          "spec: {ports: [{port: %d}]}" % (n, ns, port) for n in names)


def main():
    ctl("up")
    ctl("load")
    w = subprocess.Popen(["ip", "netns", "exec", NS, BENCH, "--kubeconfig", os.path.join(D, "admin.kubeconfig"),
                          "--watch-seconds", "3600", "--v", "2"], stdout=subprocess.DEVNULL,
                         stderr=open(LOG, "w"))
    try:
        converge("initial list")
        kubectl("apply", "-f", "-", input=svc_yaml(["fresh"]))
        converge("add")
        mark = len(log())
        # Services keep every label (MetalLB selects on them): an unkept
        # annotation is the change that must not be an update
        kubectl("-n", "bench-0", "annotate", "service", "fresh", "unrelated=yes")
        kubectl("-n", "bench-0", "patch", "service", "fresh", "--type", "merge", "-p",
                '{"spec":{"ports":[{"port":81}]}}')
        upd = r"msg=update kind=Service ns=bench-0 name=fresh .*ports=1"
        for _ in range(100):
            if re.search(upd, log()[mark:]):
                break
            time.sleep(0.2)
        time.sleep(1)
        n = len(re.findall(upd, log()[mark:]))
        assert n == 1, "want one update (the port), not one for the annotation: %d" % n
        converge("update (an annotation-only change is no update)")

        ctl("restart")
        kubectl("apply", "-f", "-", input=svc_yaml(["after-restart"]))
        converge("apiserver restart")

        mark = len(log())
        kubectl("apply", "-f", "-", input=svc_yaml(["before-compact"]))
        # writes the watcher does not watch move etcd's revision past the
        # watcher's resourceVersion; compacted there, a resume gets 410
        for i in range(5):
            kubectl("-n", "bench-1", "create", "configmap", "rev-%d" % i)
        ctl("compact")
        ctl("crash")    # SIGKILL: no graceful shutdown, the streams just break
        kubectl("apply", "-f", "-", input=svc_yaml(["after-compact"]))
        converge("etcd compaction + apiserver crash (410 on resume)")
        new = log()[mark:]
        spurious = re.findall(r"msg=(?:delete|add) kind=\w+ ns=bench-\d+ name=svc-\d+", new)
        assert not spurious, "relist delivered spurious changes: %s" % spurious[:5]
        assert "relisting" in new, "expected a 410 and a relist; the watcher said:\n" + "\n".join(
            line for line in new.splitlines() if "level=debug" not in line)
        print("    410 Gone -> relist; spurious delete/add of unchanged objects: none", flush=True)

        # a 60 s cut (packets dropped, nothing closed): the dead connection
        # must be noticed, and everything changed meanwhile delivered after
        mark = len(log())
        t0 = time.time()
        ctl("cut")
        try:
            kubectl("apply", "-f", "-", input=svc_yaml(["cut-%d" % i for i in range(5)]))
            kubectl("-n", "bench-0", "delete", "service", "cut-0")
            noticed = None
            while time.time() - t0 < 60:
                if noticed is None and "watch stream broken" in log()[mark:]:
                    noticed = time.time() - t0
                time.sleep(0.5)
        finally:
            ctl("uncut")
        print("    cut: the dead connection was noticed after %s" %
              ("%.0f s" % noticed if noticed is not None else "more than 60 s"), flush=True)
        converge("a 60 s cut", timeout=120)

        # a bound ServiceAccount token (TokenRequest) in a token file,
        # rotated, the old one revoked (its Secret deleted): the watcher goes
        # on with the new one from its next request
        kubectl("-n", "bench-0", "create", "serviceaccount", "ferry")
        # (no controller-manager here, so no aggregated "view": a role of our own)
        kubectl("create", "clusterrole", "ferry", "--verb", "get,list,watch",
                "--resource", "services,endpointslices.discovery.k8s.io")
        kubectl("create", "clusterrolebinding", "ferry", "--clusterrole", "ferry",
                "--serviceaccount", "bench-0:ferry")

        def bound_token(secret):
            kubectl("-n", "bench-0", "create", "secret", "generic", secret)
            tok = kubectl("-n", "bench-0", "create", "token", "ferry", "--bound-object-kind", "Secret",
                          "--bound-object-name", secret, "--duration", "1h").strip()
            with open(os.path.join(D, "token.tmp"), "w") as f:
                f.write(tok)
            os.replace(os.path.join(D, "token.tmp"), os.path.join(D, "token"))

        bound_token("tok-1")
        with open(os.path.join(D, "sa.kubeconfig"), "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
                    "    server: https://127.0.0.1:6443\n    certificate-authority: %s/ca.crt\n"
                    "users:\n- name: u\n  user:\n    tokenFile: %s/token\n"
                    "contexts:\n- name: c\n  context: {cluster: k, user: u}\n" % (D, D))
        log2 = LOG + ".sa"
        w2 = subprocess.Popen(["ip", "netns", "exec", NS, BENCH, "--kubeconfig", os.path.join(D, "sa.kubeconfig"),
                               "--watch-seconds", "3600", "--v", "2"], stdout=subprocess.DEVNULL,
                              stderr=open(log2, "w"))
        try:
            converge("ServiceAccount token (TokenRequest + RBAC)", path=log2)
            bound_token("tok-2")
            kubectl("-n", "bench-0", "delete", "secret", "tok-1")
            ctl("crash")        # every stream starts again: new requests
            kubectl("apply", "-f", "-", input=svc_yaml(["after-rotation"]))
            converge("token rotated, old token revoked", path=log2)
            text = log(path=log2)
            assert "token file changed" in text and "status=401" not in text, text[-2000:]
        finally:
            w2.terminate()
            w2.wait()

        names = ["burst-%04d" % i for i in range(1000)]
        kubectl("apply", "-f", "-", input=svc_yaml(names))
        kubectl("-n", "bench-0", "delete", "service", *names[:300])
        kubectl("apply", "-f", "-", input=svc_yaml(names[300:600], port=90))
        converge("a burst of 1,600 changes", timeout=300)
        print("all fault scenarios passed")
    finally:
        w.terminate()
        w.wait()
        ctl("down")


main()
