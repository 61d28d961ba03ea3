#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run bench_kube_cache against a real etcd + kube-apiserver of its own.

A private network namespace (ferry-kbench) holds a throw-away etcd and
kube-apiserver (the e2e cluster's binaries) on loopback, so the shared e2e
cluster is never touched. It loads N Services and N EndpointSlices (E
endpoints each) through the API, then runs the benchmark in the namespace.

    [N=10000 E=10 OTHER_PCT=0] bench/kube_real_apiserver.py BIN_DIR BENCH_BINARY [all|up|load|bench|restart|crash|compact|cut|uncut|drop-other|down]

"all" (the default) is up, load, bench, down; the steps alone let a test
drive faults (restart the apiserver, compact etcd) against a watcher.

OTHER_PCT=P labels P% of the Services (and their slices, as the slice
mirroring would) service.kubernetes.io/service-proxy-name=other, which
kube-proxy's selector leaves out. bench_kube_cache lists without a
selector, so it caches them; "drop-other" then deletes those Services (not
the slices: the agent's slice informer keeps its selector, so only the
Service cache differs), and a second "bench" shows what a Service informer
with the selector would have held.
"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from lib import pki  # noqa: E402

NS = "ferry-kbench"
D = "/tmp/ferry-kbench"
BIN, BENCH = (sys.argv[1], sys.argv[2]) if sys.argv[1] != "--load" else (None, None)
N = int(os.environ.get("N", "10000"))
E = int(os.environ.get("E", "10"))
OTHER_PCT = int(os.environ.get("OTHER_PCT", "0"))
OTHER = "service.kubernetes.io/service-proxy-name"


def nsrun(*cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", NS, *cmd], **kw)


def spawn(name, cmd):
    log = open(os.path.join(D, name + ".log"), "w")
    return subprocess.Popen(["ip", "netns", "exec", NS, *cmd], stdout=log, stderr=subprocess.STDOUT)


def api(ctx):
    return http.client.HTTPSConnection("127.0.0.1", 6443, context=ctx, timeout=60)


def load(ctx, first, last, errors):
    c = api(ctx)
    for i in range(first, last):
        ns = "bench-%d" % (i % 20)
        name = "svc-%05d" % i
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns,
               "labels": {"app": name}}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                                            {"name": "https", "port": 443, "targetPort": 8443}]}}
        eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
               "metadata": {"name": name + "-1", "namespace": ns,
                            "labels": {"kubernetes.io/service-name": name,
                                       "endpointslice.kubernetes.io/managed-by": "bench"}},
               "endpoints": [{"addresses": ["198.18.%d.%d" % ((i * E + k) // 250 % 256, (i * E + k) % 250 + 1)],
                              "conditions": {"ready": True, "serving": True, "terminating": False},
                              "nodeName": "node%d" % (k % 50), "zone": "zone-%d" % (k % 3),
                              "targetRef": {"kind": "Pod", "namespace": ns, "name": "%s-%d" % (name, k)}}
                             for k in range(E)],
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                         {"name": "https", "port": 8443, "protocol": "TCP"}]}
        if i % 100 < OTHER_PCT:   # spread evenly over the namespaces and threads
            svc["metadata"]["labels"][OTHER] = "other"
            eps["metadata"]["labels"][OTHER] = "other"
        for path, obj in (("/api/v1/namespaces/%s/services" % ns, svc),
                          ("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % ns, eps)):
            for _ in range(5):   # an overloaded etcd times out: try again
                c.request("POST", path, json.dumps(obj), {"Content-Type": "application/json"})
                r = c.getresponse()
                body = r.read()
                if r.status in (200, 201, 409):
                    break
                time.sleep(1)
            else:
                errors.append((r.status, body[:200]))


def apiserver_cmd():
    return [os.path.join(BIN, "kube-apiserver"), "--etcd-servers", "http://127.0.0.1:2379",
            "--bind-address", "0.0.0.0", "--secure-port", "6443", "--advertise-address", "203.0.113.3",
            "--tls-cert-file", os.path.join(D, "apiserver.crt"),
            "--tls-private-key-file", os.path.join(D, "apiserver.key"),
            "--client-ca-file", os.path.join(D, "ca.crt"),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", os.path.join(D, "sa.pub"),
            "--service-account-signing-key-file", os.path.join(D, "sa.key"),
            "--service-cluster-ip-range", "198.19.0.0/16", "--authorization-mode", "RBAC",
            "--profiling=false", "--v=0", "--max-requests-inflight", "1000",
            "--max-mutating-requests-inflight", "1000"]


def kubectl(*args, **kw):
    return nsrun(os.path.join(BIN, "kubectl"), "--kubeconfig", os.path.join(D, "admin.kubeconfig"), *args, **kw)


def wait_ready():
    for _ in range(180):
        if kubectl("get", "--raw", "/readyz", capture_output=True).returncode == 0:
            return
        time.sleep(1)
    sys.exit("apiserver did not become ready; see %s/kube-apiserver.log" % D)


def save_pid(name, p):
    with open(os.path.join(D, name + ".pid"), "w") as f:
        f.write(str(p.pid))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"   # a zombie is dead
    except OSError:
        return False


def kill(name, sig=15):
    """Stop a process and wait until it is gone (SIGKILL after 30 s)."""
    try:
        with open(os.path.join(D, name + ".pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, sig)
    except OSError:
        return
    for i in range(600):
        if not alive(pid):
            return
        if i == 300:
            os.kill(pid, 9)
        time.sleep(0.1)


def up():
    down()
    os.makedirs(D)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    nsrun("ip", "link", "set", "lo", "up", check=True)
    # the apiserver refuses a loopback advertise address: another one on lo
    nsrun("ip", "addr", "add", "203.0.113.3/32", "dev", "lo", check=True)
    pki.make_ca(D)
    pki.make_sa_keys(D)
    pki.make_cert(D, "apiserver", "kube-apiserver", sans=["127.0.0.1", "203.0.113.3", "localhost"], server=True)
    pki.make_cert(D, "admin", "bench-admin", orgs=["system:masters"])
    pki.kubeconfig(os.path.join(D, "admin.kubeconfig"), "https://127.0.0.1:6443", os.path.join(D, "ca.crt"),
                   os.path.join(D, "admin.crt"), os.path.join(D, "admin.key"), user="admin")
    save_pid("etcd", spawn("etcd", [os.path.join(BIN, "etcd"), "--data-dir", os.path.join(D, "etcd"),
                                    "--listen-client-urls", "http://127.0.0.1:2379",
                                    "--advertise-client-urls", "http://127.0.0.1:2379",
                                    "--listen-peer-urls", "http://127.0.0.1:2380",
                                    "--log-level", "warn", "--quota-backend-bytes", str(4 << 30)]))
    time.sleep(2)
    save_pid("kube-apiserver", spawn("kube-apiserver", apiserver_cmd()))
    wait_ready()
    for k in range(20):
        kubectl("create", "namespace", "bench-%d" % k, capture_output=True, check=True)


def down():
    kill("kube-apiserver")
    kill("etcd")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    shutil.rmtree(D, ignore_errors=True)


def main():
    cmd = sys.argv[3] if len(sys.argv) > 3 else "all"
    if cmd in ("all", "up"):
        up()
    if cmd in ("all", "load"):
        t0 = time.time()
        if nsrun(sys.executable, __file__, "--load", str(N), str(E)).returncode:
            sys.exit("loading failed")
        print("loaded %d Services + %d EndpointSlices (%d endpoints each) in %.0f s"
              % (N, N, E, time.time() - t0), flush=True)
    if cmd in ("all", "bench"):
        out = nsrun("/usr/bin/time", "-f", "wall_s=%e maxrss_kib=%M", BENCH, "--kubeconfig",
                    os.path.join(D, "admin.kubeconfig"), capture_output=True, text=True)
        print(out.stdout + "\n".join(line for line in out.stderr.splitlines() if "level=" not in line))
    if cmd in ("restart", "crash"):
        # crash: SIGKILL, so watchers get no farewell bookmark
        kill("kube-apiserver", 9 if cmd == "crash" else 15)
        save_pid("kube-apiserver", spawn("kube-apiserver", apiserver_cmd()))
        wait_ready()
    if cmd == "compact":
        req = lambda path, body: json.loads(nsrun("curl", "-s", "-X", "POST", "-d", json.dumps(body),
                                                  "http://127.0.0.1:2379" + path, capture_output=True,
                                                  check=True).stdout)
        rev = int(req("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        req("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        print("compacted at revision %d" % rev)
    if cmd in ("cut", "uncut"):
        # drop the apiserver traffic of clients on 127.0.0.1 (the watcher);
        # kubectl goes to 203.0.113.3 and is not affected
        nsrun("nft", "delete", "table", "inet", "cut", capture_output=True)
        if cmd == "cut":
            # nft add rule inet cut in ip daddr 127.0.0.1 tcp dport 6443 drop (and sport)
            nsrun("nft", "-f", "-", check=True, text=True, input=(
                "table inet cut {\n chain in {\n  type filter hook input priority 0;\n"
                "  ip daddr 127.0.0.1 tcp dport 6443 drop\n  ip daddr 127.0.0.1 tcp sport 6443 drop\n }\n}\n"))
    if cmd == "drop-other":
        t0 = time.time()
        kubectl("delete", "services", "--all-namespaces", "-l", OTHER, "--wait=false", check=True,
                stdout=subprocess.DEVNULL)
        print("deleted the Services labelled %s in %.0f s" % (OTHER, time.time() - t0), flush=True)
    if cmd in ("all", "down"):
        down()


def load_main(n, e):
    global E
    E = e
    ctx = ssl.create_default_context(cafile=os.path.join(D, "ca.crt"))
    ctx.load_cert_chain(os.path.join(D, "admin.crt"), os.path.join(D, "admin.key"))
    errors = []
    threads = [threading.Thread(target=load, args=(ctx, k * n // 8, (k + 1) * n // 8, errors)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:   # the benchmark prints the counts it actually cached
        print("not created: %d, first: %s" % (len(errors), errors[0]), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
