#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The real `ferry agent` under valgrind memcheck, from start to SIGTERM.

usage: memcheck_agent.py FERRY FAKE_APISERVER_PY [--no-valgrind]

In a throw-away network namespace (the script re-runs itself under
`unshare -n`): a veth pair with a layer-2 subnet, kube/tests/fake_apiserver.py
serving Nodes, Services, EndpointSlices, Namespaces, MetalLB's ConfigMap and
then its metallb.io resources (a layer-2 pool and a BGP pool with a peer: a
few lines of BGP here), and the agent with a heartbeat key, so that the proxier, the
allocator (Lease, status writes, Events), layer 2 and BGP all run. Waits for
the nft rules, the allocations and the announcements, changes the
configuration and deletes a Service, then SIGTERMs the agent and requires exit
code 0 and a clean memcheck: no definite or indirect leak, no invalid access
(--error-exitcode=99). --no-valgrind runs the binary as it is (the ASan build,
with ASAN_OPTIONS=detect_leaks=1, for the cross-check in docs/memcheck.md).

Exit 77 (skipped) when not root or valgrind, nft or ip is missing.
"""
import json
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77
NODE = "node-a"


def log(*a):
    print("memcheck_agent:", *a, flush=True)


def sh(*cmd):
    subprocess.run(cmd, check=True)


class Fake:
    def __init__(self, script):
        self.p = subprocess.Popen([sys.executable, script, "0"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port

    def ctl(self, cmd):
        req = urllib.request.Request(self.url + "/control", data=json.dumps(cmd).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def put(self, path, obj):
        self.ctl({"op": "put", "path": path, "object": obj})

    def delete(self, path, ns, name):
        self.ctl({"op": "delete", "path": path, "name": "%s/%s" % (ns, name)})

    def get(self, what):
        with urllib.request.urlopen(self.url + what, timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


class BgpPeer:
    """Just enough of a BGP router on 192.0.2.1:179 for the sessions to come
    up: answers OPEN (AS 64512, IPv4 unicast, 4-octet AS), sends KEEPALIVEs,
    counts the UPDATEs it gets. One thread per connection."""

    def __init__(self):
        self.updates = 0
        self.opens = 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("192.0.2.1", 179))
        self.ls.listen(4)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def msg(typ, body=b""):
        return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), typ) + body

    def serve(self, c):
        caps = bytes([1, 4, 0, 1, 0, 1]) + bytes([65, 4]) + struct.pack("!I", 64512)
        opt = bytes([2, len(caps)]) + caps
        buf = b""
        c.settimeout(3)
        try:
            while True:
                try:
                    d = c.recv(4096)
                except socket.timeout:
                    c.sendall(self.msg(4))
                    continue
                if not d:
                    return
                buf += d
                while len(buf) >= 19:
                    n, typ = struct.unpack("!HB", buf[16:19])
                    if len(buf) < n:
                        break
                    buf = buf[n:]
                    if typ == 1:
                        self.opens += 1
                        c.sendall(self.msg(1, struct.pack("!BHH4sB", 4, 64512, 9,
                                                          socket.inet_aton("192.0.2.1"), len(opt)) + opt))
                        c.sendall(self.msg(4))
                    elif typ == 2:
                        self.updates += 1
                    elif typ == 3:
                        return
        except OSError:
            return
        finally:
            c.close()


SVC = "/api/v1/services"
EPS = "/apis/discovery.k8s.io/v1/endpointslices"
MLB = "/apis/metallb.io/v1beta1/"


def service(name, typ, cluster_ip, port, pool=None, local=False, udp=False):
    spec = {"type": typ, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv4"], "sessionAffinity": "None",
            "ports": [{"name": "p", "port": port, "protocol": "UDP" if udp else "TCP",
                       "targetPort": 8080}]}
    md = {"name": name, "namespace": "default", "uid": "uid-" + name}
    if typ != "ClusterIP":
        spec["ports"][0]["nodePort"] = 30000 + port
    if typ == "LoadBalancer":
        spec["externalTrafficPolicy"] = "Local" if local else "Cluster"
        if local:
            spec["healthCheckNodePort"] = 31000 + port
        md["annotations"] = {"metallb.universe.tf/address-pool": pool}
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec, "status": {}}


def slice_for(name, ips, udp=False):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name + "-abc", "namespace": "default", "uid": "uid-eps-" + name,
                         "labels": {"kubernetes.io/service-name": name},
                         "ownerReferences": [{"kind": "Service", "name": name, "uid": "uid-" + name}]},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True, "serving": True,
                                                               "terminating": False},
                           "nodeName": NODE} for ip in ips],
            "ports": [{"name": "p", "port": 8080, "protocol": "UDP" if udp else "TCP"}]}


def mlb(kind, name, spec, version="v1beta1"):
    return {"apiVersion": "metallb.io/" + version, "kind": kind,
            "metadata": {"name": name, "namespace": "metallb-system", "uid": "uid-" + name},
            "spec": spec}


LEGACY = """address-pools:
- name: l2-space
  protocol: layer2
  addresses: [192.0.2.200-192.0.2.210]
- name: bgp-space
  protocol: bgp
  addresses: [203.0.113.0/28]
peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
"""


def populate(f):
    f.put("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": NODE, "uid": "uid-node",
                                         "labels": {"kubernetes.io/hostname": NODE}},
                            "spec": {"podCIDR": "10.244.0.0/24"},
                            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
                                       "conditions": [{"type": "Ready", "status": "True"}]}})
    for ns in ("default", "metallb-system"):
        f.put("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": ns, "uid": "uid-ns-" + ns,
                                                  "labels": {"kubernetes.io/metadata.name": ns}}})
    f.put("/api/v1/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "config", "namespace": "metallb-system"},
                                 "data": {"config": LEGACY}})
    # the CRDs exist but are empty at first: the ConfigMap is the configuration
    for plural in ("ipaddresspools", "l2advertisements", "bgpadvertisements", "communities",
                   "bfdprofiles"):
        f.ctl({"op": "serve", "path": MLB + plural})
    f.ctl({"op": "serve", "path": "/apis/metallb.io/v1beta2/bgppeers"})
    f.put(SVC, service("web", "ClusterIP", "10.96.0.10", 80))
    f.put(EPS, slice_for("web", ["10.244.0.5", "10.244.0.6"]))
    f.put(SVC, service("dns", "NodePort", "10.96.0.11", 53, udp=True))
    f.put(EPS, slice_for("dns", ["10.244.0.7"], udp=True))
    f.put(SVC, service("lb-l2", "LoadBalancer", "10.96.0.12", 81, pool="l2-space"))
    f.put(EPS, slice_for("lb-l2", ["10.244.0.8"]))
    f.put(SVC, service("lb-bgp", "LoadBalancer", "10.96.0.13", 82, pool="bgp-space", local=True))
    f.put(EPS, slice_for("lb-bgp", ["10.244.0.9"]))


def to_resources(f):
    f.put(MLB + "ipaddresspools", mlb("IPAddressPool", "l2-space",
                                      {"addresses": ["192.0.2.200-192.0.2.210"]}))
    f.put(MLB + "ipaddresspools", mlb("IPAddressPool", "bgp-space", {"addresses": ["203.0.113.0/28"]}))
    f.put(MLB + "l2advertisements", mlb("L2Advertisement", "l2", {"ipAddressPools": ["l2-space"]}))
    f.put(MLB + "communities", mlb("Community", "communities",
                                   {"communities": [{"name": "no-advertise", "value": "65535:65282"}]}))
    f.put(MLB + "bgpadvertisements", mlb("BGPAdvertisement", "bgp",
                                         {"ipAddressPools": ["bgp-space"], "aggregationLength": 32,
                                          "communities": ["no-advertise"]}))
    f.put("/apis/metallb.io/v1beta2/bgppeers", mlb("BGPPeer", "router",
                                                   {"peerAddress": "192.0.2.1", "peerASN": 64512,
                                                    "myASN": 64513, "holdTime": "9s"}, "v1beta2"))


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def wait(what, cond, agent, secs=90):
    end = time.time() + secs
    while time.time() < end:
        if agent.poll() is not None:
            log("the agent exited while waiting for", what, "rc", agent.returncode)
            return False
        if cond():
            log("seen:", what)
            return True
        time.sleep(0.5)
    log("timed out waiting for", what)
    return False


def nft_table():
    r = subprocess.run(["nft", "list", "table", "ip", "ferry"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def ingress(f, name):
    objs = f.get("/api/v1/services").get("items", [])
    for o in objs:
        if o["metadata"]["name"] == name:
            return [i.get("ip") for i in o.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
    return []


def run(ferry, fake_script, use_valgrind):
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    sh("ip", "addr", "add", "192.0.2.10/24", "dev", "v0")
    sh("ip", "link", "set", "v0", "up")
    sh("ip", "link", "set", "v1", "up")
    sh("ip", "addr", "add", "192.0.2.1/32", "dev", "v1")
    # what kube-proxy leaves behind, for the clean-up after the first sync
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input="""
table ip nat {
  chain KUBE-SERVICES { }
  chain PREROUTING { type nat hook prerouting priority dstnat; jump KUBE-SERVICES; }
}
table ip filter {
  chain KUBE-FORWARD { }
  chain FORWARD { type filter hook forward priority filter; jump KUBE-FORWARD; }
}
table ip kube-proxy {
  chain services { }
}
""")
    tmp = tempfile.mkdtemp(prefix="ferry-memcheck-")
    key = os.path.join(tmp, "l2.key")
    with open(key, "w") as kf:
        kf.write("memcheck-heartbeat-key-0123456789abcdef\n")
    vglog = os.path.join(tmp, "valgrind.log")
    f = Fake(fake_script)
    peer = BgpPeer()
    populate(f)
    cmd = []
    if use_valgrind:
        cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
               "--show-leak-kinds=definite,indirect", "--error-exitcode=99",
               "--track-origins=yes", "--num-callers=30", "--log-file=" + vglog]
    cmd += [ferry, "agent", "-v", "2", "--master", f.url, "--node-name", NODE,
            "--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
            "--l2-key-file", key, "--l2-interfaces", "v0", "--min-sync-period", "100ms",
            "--lb-lease-duration", "15s", "--lb-renew-deadline", "10s", "--lb-retry-period", "1s"]
    log(" ".join(cmd))
    agent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "agent.log"), "w"))
    ok = True
    try:
        status = lambda: http("http://127.0.0.1:10249/status")[1]
        ok = ok and wait("/healthz 200", lambda: http("http://127.0.0.1:10256/healthz")[0] == 200, agent)
        ok = ok and wait("the rules for 10.96.0.10", lambda: "10.96.0.10" in nft_table(), agent)
        ok = ok and wait("the allocations", lambda: ingress(f, "lb-l2") and ingress(f, "lb-bgp"), agent)
        ok = ok and wait("the layer-2 announcement", lambda: "state=announced" in status(), agent)
        ok = ok and wait("the BGP session up, the UPDATE sent", lambda: "Established" in status()
                         and peer.updates > 0, agent)
        if ok:
            log("the ConfigMap's allocations:", ingress(f, "lb-l2"), ingress(f, "lb-bgp"))
            # the metallb.io resources take over from the ConfigMap
            # someone else's table moves the ruleset generation: the next
            # sync reads the rules back (tables_intact)
            sh("nft", "add", "table", "inet", "someone-else")
            to_resources(f)
            n = peer.opens
            ok = wait("the resources in use, a new session", lambda: "source=crds" in status()
                      and "router  " in status() and peer.opens > n and "Established" in status(), agent)
        if ok:
            f.delete(SVC, "default", "web")
            f.delete(EPS, "default", "web-abc")
            f.delete(SVC, "default", "lb-l2")
            ok = wait("the deleted Service's rules gone", lambda: "10.96.0.10" not in nft_table(), agent)
            # no local endpoint left: the BGP route is withdrawn
            n = peer.updates
            f.delete(EPS, "default", "lb-bgp-abc")
            ok = ok and wait("the withdrawal", lambda: peer.updates > n, agent)
            time.sleep(3)   # a few BGP connect retries, layer-2 beats
        log("status at the end:\n" + status())
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
        try:
            rc = agent.wait(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()
            rc = agent.wait()
            log("the agent did not stop within 60 s of SIGTERM")
            ok = False
        f.stop()
    with open(os.path.join(tmp, "agent.log")) as al:
        agent_log = al.read()
    vg = open(vglog).read() if use_valgrind and os.path.exists(vglog) else ""
    if not ok or rc != 0:
        sys.stdout.write(agent_log[-20000:])
    if vg:
        sys.stdout.write(vg)
    log("agent exit code", rc)
    # the exit code says it already; the report's own words, in case it does not
    bad = [m for m in ("Invalid read", "Invalid write", "Invalid free", "uninitialised",
                       "definitely lost: [1-9]", "indirectly lost: [1-9]") if re.search(m, vg)]
    if bad:
        log("FAIL: the valgrind report says", bad)
    shutil.rmtree(tmp, ignore_errors=True)
    if rc == 99:
        log("FAIL: memcheck found errors or definite/indirect leaks (above)")
    elif rc != 0:
        log("FAIL: exit code %d, want 0" % rc)
    if not ok:
        log("FAIL: the agent did not reach every state (log above)")
    return 0 if ok and rc == 0 and not bad else 1


def enter_netns(tools, marker):
    """Root and `tools`, then this script again in a fresh network
    namespace (`marker`, an environment variable, says it is there).
    None: go on, in it; else the exit code (77: skipped; the child's)."""
    if os.geteuid() != 0:
        log("skipped: needs root (a network namespace, nftables)")
        return SKIP
    for tool in tools:
        if not shutil.which(tool):
            log("skipped: %s is missing" % tool)
            return SKIP
    if os.environ.get(marker) != "1":
        env = dict(os.environ, **{marker: "1"})
        return subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env).returncode
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    use_valgrind = "--no-valgrind" not in sys.argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rc = enter_netns((["valgrind"] if use_valgrind else []) + ["nft", "ip", "unshare"],
                     "FERRY_MEMCHECK_NETNS")
    if rc is not None:
        return rc
    return run(os.path.abspath(args[0]), os.path.abspath(args[1]), use_valgrind)


if __name__ == "__main__":
    sys.exit(main())
