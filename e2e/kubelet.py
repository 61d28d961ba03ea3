#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A kubelet emulation for one e2e node (test infrastructure).

Runs inside the node's network namespace with the node's own client
certificate (system:node:NAME), so the real Node authorizer and the
NodeRestriction admission plugin judge everything it does. It:
- registers the Node (InternalIP, Ready, capacity, zone label) and keeps it
  Ready (status heartbeat) and alive (Lease in kube-node-lease);
- for every Pod the scheduler binds here: a network namespace with a veth to
  the node, a /32 (and /128) from the node's podCIDR, and e2e/podserver.py
  serving every containerPort on TCP and UDP; reports Running, podIPs and
  Ready (the server listens and no `e2e/cluster pod unready` flag is set);
- handles graceful deletion like kubelet: the pod keeps serving for the
  annotation `e2e.ferry.dev/terminating-seconds` (default 0, at most the
  grace period), then stops and is deleted with grace 0;
- keeps host-gw routes to the other nodes' pod subnets (as a network plugin);
- runs a `hostNetwork: true` pod's containers as real programs in the
  node's namespace (e2e/lib/hostpod.py: the image table, env and downward
  API, the ServiceAccount token, volumes, probes, restarts).
"""
import hashlib
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lib import hostpod, net  # noqa: E402
from lib.kubeapi import ApiError, Client  # noqa: E402

TERMINATING_ANN = "e2e.ferry.dev/terminating-seconds"
VERSION = "v1.37.2"


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now_micro():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def log(msg):
    print("%s kubelet: %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Kubelet:
    def __init__(self, conf):
        self.c = conf
        self.name = conf["node"]
        self.api = Client(conf["server"], conf["ca"], conf["cert"], conf["key"])
        # Routes between nodes are a network plugin's job, not kubelet's: the
        # Node authorizer lets a kubelet read only its own Node, so the host-gw
        # part uses its own identity (bound to system:node-proxier's read rights).
        self.cni = Client(conf["server"], conf["ca"], conf["cni_cert"], conf["cni_key"])
        self.pods_dir = os.path.join(conf["state"], "pods")
        self.lock = threading.RLock()
        self.pods = {}          # uid -> record
        self.stopping = False
        self.pod_cidrs = []
        self.routes = {}        # cidr -> via
        self.hostpods = {}      # uid -> hostpod.HostPod
        self.images = hostpod.image_table(conf)
        self.api_svc = None     # (ClusterIP, port) of the kubernetes Service

    # ------------------------------------------------------------ node
    def node_status(self):
        addrs = [{"type": "InternalIP", "address": self.c["ip"]}]
        if self.c.get("ip6"):
            addrs.append({"type": "InternalIP", "address": self.c["ip6"]})
        addrs.append({"type": "Hostname", "address": self.name})
        res = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
        t = now_rfc3339()
        conds = [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "kubelet emulation is posting ready status",
                  "lastHeartbeatTime": t, "lastTransitionTime": self.ready_since}]
        for ty in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            conds.append({"type": ty, "status": "False", "reason": "KubeletHasSufficient",
                          "lastHeartbeatTime": t, "lastTransitionTime": self.ready_since})
        return {"addresses": addrs, "capacity": res, "allocatable": res, "conditions": conds,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"kubeletVersion": VERSION, "kubeProxyVersion": "",
                             "operatingSystem": "linux", "architecture": "amd64",
                             "containerRuntimeVersion": "e2e://1", "kernelVersion": os.uname().release,
                             "osImage": "e2e netns", "machineID": "", "systemUUID": "",
                             "bootID": "", }}

    def register(self):
        self.ready_since = now_rfc3339()
        k = self.c["node_index"]
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {
                    "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": "zone-%s" % ("a" if k % 2 else "b")}},
                "spec": {}}
        try:
            self.api.post("/api/v1/nodes", node)
            log("registered node %s" % self.name)
        except ApiError as e:
            if e.status != 409:
                raise
            log("node %s already registered" % self.name)
        self.post_status()

    def post_status(self):
        # a JSON merge patch replaces the lists whole: a strategic one merges
        # addresses by type and refuses two InternalIPs (dual-stack)
        self.api.patch("/api/v1/nodes/%s/status" % self.name, {"status": self.node_status()})

    def renew_lease(self):
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + self.name
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        try:
            self.api.patch(path, {"spec": spec})
        except ApiError as e:
            if e.status != 404:
                raise
            self.api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                          {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                           "spec": spec})

    def sync_routes(self):
        """host-gw: a route to every other node's pod subnets via its InternalIP."""
        want = {}
        for n in self.cni.get("/api/v1/nodes")["items"]:
            cidrs = n["spec"].get("podCIDRs") or ([n["spec"]["podCIDR"]] if n["spec"].get("podCIDR") else [])
            if n["metadata"]["name"] == self.name:
                self.pod_cidrs = cidrs
                continue
            ips = [a["address"] for a in n["status"].get("addresses", []) if a["type"] == "InternalIP"]
            for cidr in cidrs:
                v6 = ":" in cidr
                via = next((i for i in ips if (":" in i) == v6), None)
                if via:
                    want[cidr] = via
        for cidr, via in want.items():
            # every time, not only on a change: a link that went down and
            # came back (e2e/cluster node down/up) took the kernel's route
            # with it, which a cache here would never notice
            net.ip("-6" if ":" in cidr else "-4", "route", "replace", cidr, "via", via, check=False)
            self.routes[cidr] = via
        for cidr in list(self.routes):
            if cidr not in want:
                net.ip("-6" if ":" in cidr else "-4", "route", "del", cidr, check=False)
                del self.routes[cidr]

    # ------------------------------------------------------------ pods
    def record_path(self, r):
        return os.path.join(self.pods_dir, "%s_%s.json" % (r["namespace"], r["name"]))

    def save_record(self, r):
        tmp = self.record_path(r) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(r, f)
        os.replace(tmp, self.record_path(r))

    def alloc_ip(self, cidr):
        netw = ipaddress.ip_network(cidr)
        used = set()
        for f in os.listdir(self.pods_dir):
            if f.endswith(".json"):
                try:
                    with open(os.path.join(self.pods_dir, f)) as fh:
                        r = json.load(fh)
                    used.update(x for x in (r.get("ip"), r.get("ip6")) if x)
                except (OSError, ValueError):
                    pass
        for i, host in enumerate(netw.hosts()):
            if i == 0:
                continue  # .1 is the node's gateway address on every pod veth
            if str(host) not in used:
                return str(host)
            if i > 4000:
                break
        raise RuntimeError("pod subnet %s is full" % cidr)

    def ports_of(self, pod):
        ports = set()
        for ctr in pod["spec"].get("containers", []):
            for p in ctr.get("ports", []) or []:
                ports.add(int(p["containerPort"]))
        return sorted(ports) or [80]

    def api_service(self):
        """The `kubernetes` Service's ClusterIP and port, as kubelet puts
        them in every container's environment."""
        if not self.api_svc:
            svc = self.api.get("/api/v1/namespaces/default/services/kubernetes")
            port = next((p["port"] for p in svc["spec"]["ports"] if p.get("name") == "https"),
                        svc["spec"]["ports"][0]["port"])
            self.api_svc = (svc["spec"]["clusterIP"], int(port))
        return self.api_svc

    def log_pod(self, hp, msg):
        log("pod %s/%s: %s" % (hp.ns, hp.name, msg))

    def start_hostpod(self, pod):
        md = pod["metadata"]
        r = {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"], "node": self.name,
             "hostnet": True, "netns": self.name, "ip": self.c["ip"], "ip6": self.c.get("ip6"),
             "ports": [], "started": hostpod.now_rfc3339(), "ready": None}
        hp = hostpod.HostPod(self, pod, r)
        os.makedirs(hp.dir, exist_ok=True)
        with self.lock:
            self.pods[md["uid"]] = r
            self.hostpods[md["uid"]] = hp
            self.save_record(r)
        log("pod %s/%s: hostNetwork, containers %s" % (
            md["namespace"], md["name"], [c.name for c in hp.containers]))
        threading.Thread(target=hp.run, daemon=True).start()

    def start_pod(self, pod):
        if pod["spec"].get("hostNetwork"):
            return self.start_hostpod(pod)
        md = pod["metadata"]
        uid = md["uid"]
        if not self.pod_cidrs:
            spec = self.api.get("/api/v1/nodes/" + self.name)["spec"]
            self.pod_cidrs = spec.get("podCIDRs") or []
        v4 = next((c for c in self.pod_cidrs if ":" not in c), None)
        v6 = next((c for c in self.pod_cidrs if ":" in c), None)
        h = hashlib.sha1(uid.encode()).hexdigest()[:8]
        r = {"name": md["name"], "namespace": md["namespace"], "uid": uid, "node": self.name,
             "netns": "fp-" + h, "veth": "vp" + h, "ports": self.ports_of(pod)}
        with self.lock:
            r["ip"] = self.alloc_ip(v4) if v4 else None
            r["ip6"] = self.alloc_ip(v6) if v6 else None
            self.save_record(r)  # reserve the addresses before the next allocation
        ns, veth = r["netns"], r["veth"]
        net.netns_add(ns)
        net.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        net.ip("link", "set", veth, "up")
        net.ip("link", "set", "eth0", "up", ns=ns)
        if r["ip"]:
            gw = str(ipaddress.ip_network(v4)[1])
            net.ip("addr", "add", gw + "/32", "dev", veth)
            net.ip("route", "add", r["ip"] + "/32", "dev", veth)
            net.ip("addr", "add", r["ip"] + "/32", "dev", "eth0", ns=ns)
            net.ip("route", "add", gw, "dev", "eth0", ns=ns)
            net.ip("route", "add", "default", "via", gw, ns=ns)
        if r["ip6"]:
            gw6 = str(ipaddress.ip_network(v6)[1])
            net.ip("addr", "add", gw6 + "/128", "dev", veth, "nodad")
            net.ip("-6", "route", "add", r["ip6"] + "/128", "dev", veth)
            net.ip("addr", "add", r["ip6"] + "/128", "dev", "eth0", "nodad", ns=ns)
            net.ip("-6", "route", "add", gw6, "dev", "eth0", ns=ns)
            net.ip("-6", "route", "add", "default", "via", gw6, ns=ns)
        args = [sys.executable, os.path.join(HERE, "podserver.py"), "--name", md["name"]]
        for port in r["ports"]:
            args += ["--port", str(port)]
        logdir = os.path.join(self.c["state"], "logs")
        r["pid"] = net.spawn("pod-%s_%s" % (md["namespace"], md["name"]), args,
                             os.path.join(logdir, "pod-%s_%s.log" % (md["namespace"], md["name"])),
                             os.path.join(self.c["state"], "pids"), ns=ns)
        r["started"] = now_rfc3339()
        r["ready"] = None
        with self.lock:
            self.pods[uid] = r
            self.save_record(r)
        log("pod %s/%s started in %s ip=%s ip6=%s ports=%s" % (
            md["namespace"], md["name"], ns, r["ip"], r["ip6"], r["ports"]))
        self.report(r, pod)

    def listening(self, r):
        for port in r["ports"]:
            try:
                with socket.create_connection((r["ip"] or r["ip6"], port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    def want_ready(self, r):
        flag = os.path.join(self.pods_dir, "%s_%s.unready" % (r["namespace"], r["name"]))
        return self.listening(r) and not os.path.exists(flag)

    def report(self, r, pod=None):
        ready = self.want_ready(r) if not r.get("stopped") else False
        if ready == r.get("ready"):
            return
        t = now_rfc3339()
        st = "True" if ready else "False"
        ips = [x for x in (r["ip"], r["ip6"]) if x]
        status = {
            "phase": "Running", "hostIP": self.c["ip"],
            "hostIPs": [{"ip": x} for x in (self.c["ip"], self.c.get("ip6")) if x],
            "podIP": ips[0] if ips else None, "podIPs": [{"ip": x} for x in ips],
            "startTime": r["started"],
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": r["started"]},
                {"type": "Initialized", "status": "True", "lastTransitionTime": r["started"]},
                {"type": "ContainersReady", "status": st, "lastTransitionTime": t},
                {"type": "Ready", "status": st, "lastTransitionTime": t}],
            "containerStatuses": [{
                "name": "app", "ready": ready, "started": True, "restartCount": 0,
                "image": "e2e/podserver", "imageID": "e2e://podserver",
                "containerID": "e2e://" + r["uid"],
                "state": {"running": {"startedAt": r["started"]}}}],
        }
        if pod:
            names = [ctr["name"] for ctr in pod["spec"]["containers"]]
            status["containerStatuses"] = [dict(status["containerStatuses"][0], name=n) for n in names]
            r["containers"] = names
        elif r.get("containers"):
            status["containerStatuses"] = [dict(status["containerStatuses"][0], name=n)
                                           for n in r["containers"]]
        try:
            self.api.patch("/api/v1/namespaces/%s/pods/%s/status" % (r["namespace"], r["name"]),
                           {"status": status})
            r["ready"] = ready
            log("pod %s/%s ready=%s" % (r["namespace"], r["name"], ready))
        except ApiError as e:
            log("pod %s/%s status patch failed: %s" % (r["namespace"], r["name"], e))

    def teardown(self, r):
        pid = r.get("pid")
        if pid:
            net.stop_pid(pid, wait=2)
        hp = self.hostpods.pop(r["uid"], None)
        if hp:
            hp.stopping = True
            hp.cleanup()
        elif not r.get("hostnet"):
            net.netns_del(r["netns"])
        for suffix in (".json", ".unready"):
            try:
                os.remove(os.path.join(self.pods_dir, "%s_%s%s" % (r["namespace"], r["name"], suffix)))
            except OSError:
                pass
        try:
            os.remove(os.path.join(self.c["state"], "pids", "pod-%s_%s.pid" % (r["namespace"], r["name"])))
        except OSError:
            pass
        with self.lock:
            self.pods.pop(r["uid"], None)
        log("pod %s/%s removed" % (r["namespace"], r["name"]))

    def terminate(self, r, pod):
        """Graceful deletion: keep serving for the annotation's seconds, stop,
        then delete with grace 0 (as kubelet's status manager does)."""
        if r.get("terminating"):
            return
        r["terminating"] = True
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        hp = self.hostpods.get(r["uid"])
        if hp:
            threading.Thread(target=self.terminate_hostpod, args=(r, hp, grace), daemon=True).start()
            return
        try:
            linger = float(pod["metadata"].get("annotations", {}).get(TERMINATING_ANN, "0"))
        except ValueError:
            linger = 0
        linger = max(0, min(linger, grace))

        def run():
            end = time.time() + linger
            while time.time() < end and not self.stopping:
                time.sleep(0.1)
            net.stop_pid(r.get("pid"), wait=2)
            r["stopped"] = True
            self.final_delete(r)
        threading.Thread(target=run, daemon=True).start()

    def terminate_hostpod(self, r, hp, grace):
        hp.terminate(grace)
        r["stopped"] = True
        hp.report()
        self.final_delete(r)

    def final_delete(self, r):
        """The stopped pod's object goes (grace 0, this uid only), then its
        node-side state."""
        try:
            self.api.delete("/api/v1/namespaces/%s/pods/%s" % (r["namespace"], r["name"]),
                            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                             "preconditions": {"uid": r["uid"]}})
        except ApiError as e:
            if e.status not in (404, 409):
                log("final delete of %s failed: %s" % (r["name"], e))
        self.teardown(r)

    def handle(self, typ, pod):
        uid = pod["metadata"]["uid"]
        with self.lock:
            r = self.pods.get(uid)
        if typ == "DELETED":
            hp = self.hostpods.get(uid)
            if r and hp and not r.get("terminating"):
                # deleted with grace 0 (--force): still SIGTERM first, as kubelet does
                r["terminating"] = True
                threading.Thread(target=self.terminate_hostpod, daemon=True, args=(
                    r, hp, min(2, pod["spec"].get("terminationGracePeriodSeconds", 2)))).start()
            elif r and not r.get("terminating"):
                threading.Thread(target=self.teardown, args=(r,), daemon=True).start()
            return
        if pod["status"].get("phase") in ("Succeeded", "Failed") and not r:
            return
        if not r:
            if pod["metadata"].get("deletionTimestamp"):
                # never started; just let it go
                try:
                    self.api.delete("/api/v1/namespaces/%s/pods/%s" % (
                        pod["metadata"]["namespace"], pod["metadata"]["name"]),
                        {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
                except ApiError:
                    pass
                return
            try:
                self.start_pod(pod)
            except Exception as e:
                log("starting pod %s failed: %s" % (pod["metadata"]["name"], e))
                traceback.print_exc()
            return
        if pod["metadata"].get("deletionTimestamp"):
            self.terminate(r, pod)

    def adopt(self):
        """After a restart: take back the pods whose records survive."""
        for f in os.listdir(self.pods_dir):
            if not f.endswith(".json"):
                continue
            with open(os.path.join(self.pods_dir, f)) as fh:
                r = json.load(fh)
            if r.get("node") == self.name and r.get("hostnet"):
                # its processes were children of the old kubelet: start afresh
                self.kill_hostpod_leftovers(r)
                os.remove(os.path.join(self.pods_dir, f))
                continue
            if r.get("node") == self.name and r.get("pid"):
                r["ready"] = None
                self.pods[r["uid"]] = r

    def kill_hostpod_leftovers(self, r):
        pids = os.path.join(self.c["state"], "pids")
        prefix = "hostpod-%s_%s_" % (r["namespace"], r["name"])
        for f in os.listdir(pids):
            if f.startswith(prefix) and f.endswith(".pid"):
                net.stop_pid(net.read_pid(pids, f[:-4]), wait=2)
                os.remove(os.path.join(pids, f))

    def pod_watch(self):
        path = "/api/v1/pods"
        sel = {"fieldSelector": "spec.nodeName=" + self.name}
        while not self.stopping:
            try:
                lst = self.api.request("GET", path + "?fieldSelector=spec.nodeName%3D" + self.name)
                seen = set()
                for pod in lst["items"]:
                    seen.add(pod["metadata"]["uid"])
                    self.handle("ADDED", pod)
                with self.lock:
                    gone = [r for uid, r in self.pods.items() if uid not in seen]
                for r in gone:
                    self.teardown(r)
                rv = lst["metadata"]["resourceVersion"]
                for typ, obj in self.api.watch(path, dict(sel, resourceVersion=rv),
                                               lambda: self.stopping):
                    if typ == "BOOKMARK":
                        continue
                    if typ == "ERROR":
                        break
                    self.handle(typ, obj)
            except Exception as e:
                if not self.stopping:
                    log("pod watch: %s; relisting" % e)
                    time.sleep(1)

    def run(self):
        os.makedirs(self.pods_dir, exist_ok=True)
        self.adopt()
        net.wait_for(lambda: self.try_register(), 120, "node registration")
        threading.Thread(target=self.pod_watch, daemon=True).start()
        last_lease = last_status = last_routes = 0
        while not self.stopping:
            t = time.time()
            # each duty on its own: one failing must not starve the others
            for due, duty in ((t - last_lease >= 10, self.renew_lease),
                              (t - last_status >= 20, self.post_status),
                              (t - last_routes >= 2, self.sync_routes), (True, self.report_all)):
                if not due:
                    continue
                try:
                    duty()
                except Exception as e:
                    log("%s: %s" % (duty.__name__, e))
            last_lease = t if t - last_lease >= 10 else last_lease
            last_status = t if t - last_status >= 20 else last_status
            last_routes = t if t - last_routes >= 2 else last_routes
            time.sleep(0.3)

    def report_all(self):
        with self.lock:
            live = [r for r in self.pods.values() if not r.get("terminating") and not r.get("hostnet")]
        for r in live:
            self.report(r)

    def try_register(self):
        try:
            self.register()
            return True
        except Exception as e:
            log("register: %s" % e)
            return False


def main():
    with open(sys.argv[1]) as f:
        conf = json.load(f)
    k = Kubelet(conf)

    def stop(*_):
        k.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("starting for %s" % conf["node"])
    k.run()


if __name__ == "__main__":
    main()
