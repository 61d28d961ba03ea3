# SPDX-License-Identifier: GPL-2.0-or-later
"""hostNetwork pods for the e2e kubelet (test infrastructure).

A pod with `hostNetwork: true` runs its containers as processes in the
node's network namespace (the kubelet's own), each in a private mount
namespace that carries the pod's volumes at their mountPaths (the
ServiceAccount token at /var/run/secrets/kubernetes.io/serviceaccount, where
client-go's InClusterConfig reads it). The image names a local binary
through IMAGES; the environment is a real kubelet's (literal values with
$(VAR) expansion, the downward API, Secret and ConfigMap keys,
KUBERNETES_SERVICE_HOST/PORT of the `kubernetes` Service). Probes (httpGet,
tcpSocket, exec) are acted upon, exited containers restart with back-off
(restartPolicy Always/OnFailure), deletion sends SIGTERM and SIGKILL after
the grace period. See docs/e2e.md, "hostNetwork pods".
"""
import base64
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

from lib.kubeapi import ApiError
from lib.net import pid_alive

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# e2e only: rotate the projected token after this many seconds instead of
# 80% of its lifetime (the API's minimum lifetime is 10 minutes)
TOKEN_REFRESH_ANN = "e2e.ferry.dev/token-refresh-seconds"
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# what containerd and CRI-O give a container that asks for nothing
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")


def image_table(conf):
    """Image repository (tag and digest ignored) -> what runs: `entrypoint`
    (the image's ENTRYPOINT), `cmd` (its CMD) and `bin`, the executables a
    manifest's `command` may name. Paths come from the cluster's conf."""
    ml = conf.get("metallb")
    ferry = conf.get("ferry_bin")
    py = sys.executable
    t = {
        # a tiny image for tests: python3 and sh
        "e2e/python": {"entrypoint": [py], "cmd": [],
                       "bin": {"python3": py, "python": py, "sh": "/bin/sh"}},
    }
    if ml:
        for name in ("speaker", "controller"):
            b = os.path.join(ml, "bin", name)
            t["quay.io/metallb/" + name] = {"entrypoint": [b], "cmd": [],
                                            "bin": {"/" + name: b, name: b}}
    if ferry:
        t["ferry"] = t["ghcr.io/ferry-proxy/ferry"] = {
            "entrypoint": [ferry], "cmd": [],
            "bin": {"ferry": ferry, "/usr/bin/ferry": ferry, "/usr/local/bin/ferry": ferry}}
    return t


def image_repo(image):
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image = image[:colon]
    if image.startswith("docker.io/"):
        image = image[len("docker.io/"):]
    return image


def now_rfc3339(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t or time.time()))


class StartError(Exception):
    """The pod cannot start: reason is what `kubectl get pods` shows."""

    def __init__(self, reason, message):
        super().__init__("%s: %s" % (reason, message))
        self.reason = reason
        self.message = message


def expand(s, env):
    """Kubernetes' $(VAR) expansion: $$ is a literal $, unknown names stay."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, s)


def write_atomic(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".e2e-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Container:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.proc = None
        self.pid = None
        self.started_at = None
        self.restarts = 0
        self.last_term = None       # {"exitCode", "reason", "startedAt", "finishedAt"}
        self.next_start = 0.0       # earliest restart (back-off)
        self.backoff = 0.0
        self.ready = False
        self.started = False        # startup probe passed (or none)
        self.probe_state = {}       # kind -> {"ok": n, "fail": n, "next": t}
        self.waiting = ("ContainerCreating", "")
        self.done = False           # exited for good (restartPolicy)
        self.ok = False             # an init container that exited 0


class HostPod:
    """One hostNetwork pod: volumes, processes, probes, status."""

    def __init__(self, kubelet, pod, record):
        self.k = kubelet
        self.api = kubelet.api
        self.pod = pod
        self.r = record
        md = pod["metadata"]
        self.ns, self.name, self.uid = md["namespace"], md["name"], md["uid"]
        self.dir = os.path.join(kubelet.pods_dir, "%s_%s.d" % (self.ns, self.name))
        self.logs = os.path.join(kubelet.c["state"], "logs")
        self.pid_dir = os.path.join(kubelet.c["state"], "pids")
        self.containers = [Container(c) for c in pod["spec"]["containers"]]
        self.inits = [Container(c) for c in pod["spec"].get("initContainers") or []]
        self.ips = [x for x in (kubelet.c["ip"], kubelet.c.get("ip6")) if x]
        self.tokens = {}            # volume/source key -> (issued, refresh_after)
        self.vol_next = 0.0
        self.vols_ok = False        # every volume written once: containers may start
        self.error = None           # StartError keeping the pod from starting
        self.retry_at = 0.0
        self.last_status = None
        self.stop_at = None         # deletion: SIGKILL deadline
        self.stopping = False
        self.started = now_rfc3339()

    def log(self, msg):
        self.k.log_pod(self, msg)

    # ------------------------------------------------------------ images
    def resolve(self, c):
        spec = c.spec
        img = spec.get("image", "")
        entry = self.k.images.get(image_repo(img))
        if not entry:
            raise StartError("ErrImagePull", 'image "%s" is not in the e2e image table '
                             '(e2e/lib/hostpod.py image_table; docs/e2e.md)' % img)
        for b in entry["entrypoint"] + list(entry["bin"].values()):
            if not os.access(b, os.X_OK):
                raise StartError("ErrImagePull", 'image "%s": %s is not built' % (img, b))
        return entry

    def argv(self, c, entry, env):
        spec = c.spec
        cmd = [expand(x, env) for x in spec.get("command") or []]
        args = [expand(x, env) for x in spec.get("args") or []]
        if cmd:
            exe = entry["bin"].get(cmd[0])
            if not exe:
                raise StartError("RunContainerError", 'exec: "%s": executable file not found in '
                                 'image %s' % (cmd[0], spec.get("image")))
            return [exe] + cmd[1:] + args
        return entry["entrypoint"] + (args if spec.get("args") is not None else entry["cmd"])

    # ------------------------------------------------------------ env
    def field(self, path):
        md, spec = self.pod["metadata"], self.pod["spec"]
        m = re.match(r"metadata\.(labels|annotations)\['(.*)'\]$", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        vals = {
            "metadata.name": self.name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
            "spec.nodeName": self.k.name,
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
            "status.podIP": self.ips[0], "status.hostIP": self.ips[0],
            "status.podIPs": ",".join(self.ips), "status.hostIPs": ",".join(self.ips),
        }
        if path not in vals:
            raise StartError("CreateContainerConfigError", "unsupported fieldRef %s" % path)
        return vals[path]

    def key_of(self, kind, ref):
        """A Secret's or ConfigMap's key; None when optional and absent."""
        obj = self.get_obj(kind, ref["name"], ref.get("optional"))
        if obj is None:
            return None
        data = obj.get("data") or {}
        if ref["key"] not in data and kind == "configmaps" and ref["key"] in (obj.get("binaryData") or {}):
            return base64.b64decode(obj["binaryData"][ref["key"]]).decode(errors="replace")
        if ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise StartError("CreateContainerConfigError", "couldn't find key %s in %s %s/%s" % (
                ref["key"], kind[:-1], self.ns, ref["name"]))
        v = data[ref["key"]]
        return base64.b64decode(v).decode(errors="replace") if kind == "secrets" else v

    def get_obj(self, kind, name, optional=False):
        try:
            return self.api.get("/api/v1/namespaces/%s/%s/%s" % (self.ns, kind, name))
        except ApiError as e:
            if e.status == 404 and optional:
                return None
            if e.status == 404:
                raise StartError("CreateContainerConfigError", '%s "%s" not found' % (kind[:-1], name))
            raise

    def environment(self, c):
        env = {"PATH": PATH, "HOSTNAME": self.k.name, "HOME": "/root"}
        host, port = self.k.api_service()
        if host:
            env.update({
                "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
                "KUBERNETES_PORT": "tcp://%s:%d" % (fmt_host(host), port),
                "KUBERNETES_PORT_%d_TCP" % port: "tcp://%s:%d" % (fmt_host(host), port),
                "KUBERNETES_PORT_%d_TCP_PROTO" % port: "tcp",
                "KUBERNETES_PORT_%d_TCP_PORT" % port: str(port),
                "KUBERNETES_PORT_%d_TCP_ADDR" % port: host})
        for src in c.spec.get("envFrom") or []:
            kind, ref = (("configmaps", src["configMapRef"]) if "configMapRef" in src
                         else ("secrets", src.get("secretRef") or {}))
            obj = self.get_obj(kind, ref.get("name", ""), ref.get("optional"))
            for k, v in ((obj or {}).get("data") or {}).items():
                if kind == "secrets":
                    v = base64.b64decode(v).decode(errors="replace")
                env[src.get("prefix", "") + k] = v
        for e in c.spec.get("env") or []:
            vf = e.get("valueFrom")
            if vf is None:
                env[e["name"]] = expand(e.get("value", ""), env)
            elif "fieldRef" in vf:
                env[e["name"]] = self.field(vf["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
                kind = "secrets" if "secretKeyRef" in vf else "configmaps"
                v = self.key_of(kind, vf.get("secretKeyRef") or vf.get("configMapKeyRef"))
                if v is not None:
                    env[e["name"]] = v
            else:
                raise StartError("CreateContainerConfigError",
                                 "env %s: valueFrom %s is not emulated" % (e["name"], list(vf)))
        return env

    # ------------------------------------------------------------ volumes
    def vol_path(self, name):
        return os.path.join(self.dir, "volumes", name)

    def token(self, key, src, dest):
        """A bound token (TokenRequest) for the pod's ServiceAccount, renewed
        at 80% of its lifetime (or the e2e annotation's seconds)."""
        issued, refresh = self.tokens.get(key, (0, 0))
        if time.time() < refresh and os.path.exists(dest):
            return
        sa = self.pod["spec"].get("serviceAccountName") or "default"
        ttl = int(src.get("expirationSeconds") or 3607)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": ttl,
                         "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                            "name": self.name, "uid": self.uid}}}
        if src.get("audience"):
            body["spec"]["audiences"] = [src["audience"]]
        try:
            tr = self.api.post("/api/v1/namespaces/%s/serviceaccounts/%s/token" % (self.ns, sa), body)
        except ApiError as e:
            if e.status == 404:
                raise StartError("ContainerCreating", 'MountVolume.SetUp failed: serviceaccount '
                                 '"%s" not found' % sa)
            raise
        write_atomic(dest, tr["status"]["token"].encode(), 0o644)
        every = ttl * 0.8
        ann = (self.pod["metadata"].get("annotations") or {}).get(TOKEN_REFRESH_ANN)
        if ann:
            try:
                every = max(1.0, float(ann))
            except ValueError:
                pass
        self.tokens[key] = (time.time(), time.time() + every)
        if issued:
            self.log("token %s rotated" % key)

    def keys_to_files(self, base, data, items, mode, binary=False):
        """Secret/ConfigMap keys as files (all keys, or `items` renamed)."""
        if items:
            pick = [(it["key"], it["path"], it.get("mode", mode)) for it in items]
        else:
            pick = [(k, k, mode) for k in data]
        for key, path, m in pick:
            if key not in data:
                raise StartError("ContainerCreating", "MountVolume.SetUp failed: key %s missing" % key)
            v = data[key]
            raw = base64.b64decode(v) if binary else v.encode()
            write_atomic(os.path.join(base, path), raw, m)

    def source_files(self, key, kind, ref, base, mode, items=None):
        obj = self.get_obj(kind, ref.get("name") or ref.get("secretName", ""), ref.get("optional"))
        if obj is None:
            return
        if kind == "secrets":
            self.keys_to_files(base, obj.get("data") or {}, items, mode, binary=True)
        else:
            self.keys_to_files(base, obj.get("data") or {}, items, mode)
            if obj.get("binaryData"):
                self.keys_to_files(base, obj["binaryData"], items, mode, binary=True)

    def downward_files(self, base, items, mode):
        for it in items or []:
            if "fieldRef" not in it:
                raise StartError("ContainerCreating", "downwardAPI %s: only fieldRef" % it.get("path"))
            write_atomic(os.path.join(base, it["path"]),
                         self.field(it["fieldRef"]["fieldPath"]).encode(), it.get("mode", mode))

    def sync_volumes(self):
        """Write every volume's files; again every 10 s (tokens when due),
        as kubelet refreshes Secret, ConfigMap and projected volumes."""
        for v in self.pod["spec"].get("volumes") or []:
            name = v["name"]
            base = self.vol_path(name)
            os.makedirs(base, exist_ok=True)
            if "projected" in v:
                mode = v["projected"].get("defaultMode", 0o644)
                for i, s in enumerate(v["projected"].get("sources") or []):
                    if "serviceAccountToken" in s:
                        st = s["serviceAccountToken"]
                        self.token("%s/%d" % (name, i), st, os.path.join(base, st["path"]))
                    elif "configMap" in s:
                        self.source_files(name, "configmaps", s["configMap"], base, mode,
                                          s["configMap"].get("items"))
                    elif "secret" in s:
                        self.source_files(name, "secrets", s["secret"], base, mode,
                                          s["secret"].get("items"))
                    elif "downwardAPI" in s:
                        self.downward_files(base, s["downwardAPI"].get("items"), mode)
            elif "secret" in v:
                s = v["secret"]
                self.source_files(name, "secrets", s, base, s.get("defaultMode", 0o644), s.get("items"))
            elif "configMap" in v:
                s = v["configMap"]
                self.source_files(name, "configmaps", s, base, s.get("defaultMode", 0o644),
                                  s.get("items"))
            elif "downwardAPI" in v:
                self.downward_files(base, v["downwardAPI"].get("items"),
                                    v["downwardAPI"].get("defaultMode", 0o644))
            elif "emptyDir" in v or "hostPath" in v:
                pass
            else:
                raise StartError("ContainerCreating", "volume %s: type %s is not emulated" % (
                    name, [k for k in v if k != "name"]))
        self.vol_next = time.time() + 10
        self.vols_ok = True

    def mounts(self, c):
        """(source, mountPath, readOnly) for the container's volumeMounts."""
        vols = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        out = []
        for m in c.spec.get("volumeMounts") or []:
            v = vols.get(m["name"])
            if v is None:
                raise StartError("CreateContainerConfigError", "volumeMount %s: no such volume" % m["name"])
            if "hostPath" in v:
                src = v["hostPath"]["path"]
                if v["hostPath"].get("type") == "DirectoryOrCreate":
                    os.makedirs(src, exist_ok=True)
                if not os.path.exists(src):
                    raise StartError("ContainerCreating", "hostPath %s does not exist" % src)
            else:
                src = self.vol_path(m["name"])
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
            out.append((src, m["mountPath"], bool(m.get("readOnly"))))
        return out

    def mount_script(self, c):
        """Shell run by `unshare -m` before exec: bind every volume at its
        mountPath. A mountPath whose folder does not exist on the machine gets
        it from an overlay of its nearest existing ancestor (the overlay is
        built aside and moved into place last, so sources below that ancestor
        are bound before it is covered); the machine's own tree is never
        changed."""
        lines = ["set -e"]
        mounts = self.mounts(c)
        # overlay roots: nearest existing ancestor of every missing mountPath
        roots = set()
        for src, dst, ro in mounts:
            real = os.path.realpath(dst)
            if not os.path.exists(real):
                a = real
                while not os.path.exists(a):
                    a = os.path.dirname(a)
                if a == "/":
                    raise StartError("CreateContainerConfigError",
                                     "mountPath %s: its top-level folder does not exist" % dst)
                roots.add(a)
        roots = sorted(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))
        stage = {}
        for i, root in enumerate(roots):
            d = os.path.join(self.dir, "ovl-%s-%d" % (c.name, i))
            shutil.rmtree(d, ignore_errors=True)
            for sub in ("up", "work", "mnt"):
                os.makedirs(os.path.join(d, sub))
            stage[root] = os.path.join(d, "mnt")
            lines.append("mount -t overlay e2e-%s -o lowerdir=%s,upperdir=%s/up,workdir=%s/work %s" % (
                self.name[:20], shlex.quote(root), shlex.quote(d), shlex.quote(d),
                shlex.quote(stage[root])))
        for src, dst, ro in sorted(mounts, key=lambda m: m[1].count("/")):
            real = os.path.realpath(dst)
            root = next((r for r in roots if real.startswith(r + "/")), None)
            tgt = stage[root] + real[len(root):] if root else real
            if os.path.isdir(src):
                lines.append("mkdir -p %s" % shlex.quote(tgt))
            else:
                lines.append("mkdir -p %s && touch %s" % (shlex.quote(os.path.dirname(tgt)),
                                                          shlex.quote(tgt)))
            lines.append("mount --bind %s %s" % (shlex.quote(src), shlex.quote(tgt)))
            if ro:
                lines.append("mount -o remount,bind,ro %s" % shlex.quote(tgt))
        for root in roots:
            lines.append("mount --move %s %s" % (shlex.quote(stage[root]), shlex.quote(root)))
        sc = self.security(c)
        if sc["ro_root"]:
            # this mount namespace's view of / only; volumes stay as mounted
            lines.append("mount -o remount,bind,ro /")
        wd = c.spec.get("workingDir")
        if wd:
            lines.append("cd %s" % shlex.quote(wd))
        if sc["caps"] is None:
            lines.append('exec "$@"')
        else:
            caps = ",".join(["-all"] + ["+" + x.lower() for x in sorted(sc["caps"])])
            lines.append('exec setpriv --bounding-set=%s --inh-caps=%s %s-- "$@"' % (
                caps, caps, "--no-new-privs " if sc["nnp"] else ""))
        return "\n".join(lines)

    def security(self, c):
        """What the container runtime would enforce from securityContext:
        the capability set (the runtime's defaults, + add, - drop; every
        capability when privileged), no_new_privs and a read-only root. For a
        root process the bounding and inheritable sets are what it keeps.
        Pod-level seccomp and user settings are not emulated."""
        sc = c.spec.get("securityContext") or {}
        if sc.get("privileged"):
            return {"caps": None, "nnp": False, "ro_root": False}
        caps = set(DEFAULT_CAPS)
        cs = sc.get("capabilities") or {}
        drop = {x.upper().removeprefix("CAP_") for x in cs.get("drop") or []}
        caps = set() if "ALL" in drop else caps - drop
        for x in cs.get("add") or []:
            x = x.upper().removeprefix("CAP_")
            if x == "ALL":
                return {"caps": None, "nnp": sc.get("allowPrivilegeEscalation") is False,
                        "ro_root": bool(sc.get("readOnlyRootFilesystem"))}
            caps.add(x)
        return {"caps": caps, "nnp": sc.get("allowPrivilegeEscalation") is False,
                "ro_root": bool(sc.get("readOnlyRootFilesystem"))}

    # ------------------------------------------------------------ processes
    def log_path(self, c):
        return os.path.join(self.logs, "pod-%s_%s_%s.log" % (self.ns, self.name, c.name))

    def pid_name(self, c):
        return "hostpod-%s_%s_%s" % (self.ns, self.name, c.name)

    def start(self, c):
        entry = self.resolve(c)
        env = self.environment(c)
        argv = self.argv(c, entry, env)
        script = self.mount_script(c)
        logf = open(self.log_path(c), "ab")
        logf.write(("--- e2e kubelet %s: start (restart %d): %s\n" % (
            now_rfc3339(), c.restarts, " ".join(argv))).encode())
        logf.flush()
        c.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                                   "sh"] + argv, stdout=logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        logf.close()
        c.pid = c.proc.pid
        with open(os.path.join(self.pid_dir, self.pid_name(c) + ".pid"), "w") as f:
            f.write(str(c.pid))
        c.started_at = time.time()
        c.ready = False
        c.started = not c.spec.get("startupProbe")
        c.probe_state = {}
        c.waiting = None
        self.log("container %s started pid=%d: %s" % (c.name, c.pid, " ".join(argv)))

    def exited(self, c):
        """Exit status if the container's process ended, else None."""
        if c.proc is not None:
            rc = c.proc.poll()
            return None if rc is None else rc
        if c.pid and not pid_alive(c.pid):
            return 255   # adopted after a kubelet restart: the status is lost
        return None if c.pid else 0

    def kill(self, c, sig):
        if c.pid:
            try:
                os.killpg(c.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def on_exit(self, c, rc, reason=None):
        t = time.time()
        c.last_term = {"exitCode": rc if rc >= 0 else 128 - rc,
                       "reason": reason or ("Completed" if rc == 0 else "Error"),
                       "startedAt": now_rfc3339(c.started_at), "finishedAt": now_rfc3339(t)}
        self.log("container %s exited rc=%s (%s)" % (c.name, rc, c.last_term["reason"]))
        c.proc, c.pid, c.ready = None, None, False
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and rc == 0):
            c.done = True
            return
        # kubelet: the first restart at once, then 10 s doubling to 5 min;
        # a container that ran 10 min starts over
        if c.started_at and t - c.started_at > BACKOFF_RESET:
            c.backoff = 0
        c.next_start = t + c.backoff
        c.backoff = BACKOFF_FIRST if not c.backoff else min(BACKOFF_MAX, c.backoff * 2)
        c.restarts += 1
        c.waiting = ("CrashLoopBackOff", "back-off %ds restarting failed container=%s pod=%s" % (
            c.next_start - t, c.name, self.name)) if c.next_start > t else None

    # ------------------------------------------------------------ probes
    def port_of(self, c, port):
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError("no port named %s" % port)

    def probe_once(self, c, pr):
        timeout = pr.get("timeoutSeconds", 1)
        try:
            if "httpGet" in pr:
                h = pr["httpGet"]
                host = h.get("host") or self.ips[0]
                port = self.port_of(c, h["port"])
                if h.get("scheme", "HTTP").upper() == "HTTPS":
                    conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                       context=ssl._create_unverified_context())
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                hdrs = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
                hdrs.setdefault("User-Agent", "kube-probe/1.37")
                try:
                    conn.request("GET", h.get("path", "/"), headers=hdrs)
                    return 200 <= conn.getresponse().status < 400
                finally:
                    conn.close()
            if "tcpSocket" in pr:
                t = pr["tcpSocket"]
                with socket.create_connection((t.get("host") or self.ips[0],
                                               self.port_of(c, t["port"])), timeout=timeout):
                    return True
            if "exec" in pr:
                if not c.pid:
                    return False
                p = subprocess.run(["nsenter", "-t", str(c.pid), "-m", "--"] + pr["exec"]["command"],
                                   capture_output=True, timeout=timeout + 1)
                return p.returncode == 0
        except (OSError, ValueError, http.client.HTTPException, subprocess.TimeoutExpired):
            return False
        return True   # grpc: not emulated, counted as passing (docs/e2e.md)

    def probe(self, c, kind):
        """Run the probe when due; returns True/False once it reaches its
        success/failure threshold, None while it has not."""
        pr = c.spec.get(kind)
        st = c.probe_state.setdefault(kind, {"ok": 0, "fail": 0, "next": c.started_at +
                                             pr.get("initialDelaySeconds", 0), "result": None})
        if time.time() < st["next"]:
            return st["result"]
        st["next"] = time.time() + pr.get("periodSeconds", 10)
        if self.probe_once(c, pr):
            st["ok"], st["fail"] = st["ok"] + 1, 0
            if st["ok"] >= pr.get("successThreshold", 1):
                st["result"] = True
        else:
            st["ok"], st["fail"] = 0, st["fail"] + 1
            if st["fail"] >= pr.get("failureThreshold", 3):
                st["result"] = False
        return st["result"]

    def check(self, c):
        if not c.started:
            res = self.probe(c, "startupProbe")
            if res is False:
                self.restart_unhealthy(c, "startup")
                return
            if not res:
                return
            c.started = True
        if c.spec.get("livenessProbe") and self.probe(c, "livenessProbe") is False:
            self.restart_unhealthy(c, "liveness")
            return
        if c.spec.get("readinessProbe"):
            c.ready = bool(self.probe(c, "readinessProbe"))
        else:
            c.ready = True

    def restart_unhealthy(self, c, kind):
        self.log("container %s failed its %s probe: restarting" % (c.name, kind))
        grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        self.kill(c, signal.SIGTERM)
        end = time.time() + grace
        while self.exited(c) is None and time.time() < end:
            time.sleep(0.1)
        if self.exited(c) is None:
            self.kill(c, signal.SIGKILL)
            while self.exited(c) is None:
                time.sleep(0.05)
        rc = self.exited(c)
        self.on_exit(c, rc, reason="Error" if rc else "Completed")
        # a liveness restart is not a crash: no back-off before it
        c.next_start = time.time()
        c.waiting = None

    # ------------------------------------------------------------ status
    def status(self):
        t = now_rfc3339()
        statuses = []
        for c in self.containers:
            s = {"name": c.name, "image": c.spec.get("image", ""), "imageID": "e2e://" + image_repo(
                c.spec.get("image", "")), "ready": c.ready, "restartCount": c.restarts,
                "started": bool(c.pid) and c.started}
            if c.pid:
                s["state"] = {"running": {"startedAt": now_rfc3339(c.started_at)}}
                s["containerID"] = "e2e://%s/%s" % (self.uid, c.name)
            elif c.done and c.last_term:
                s["state"] = {"terminated": c.last_term}
            else:
                w = self.error or (StartError(*c.waiting) if c.waiting else None)
                s["state"] = {"waiting": {"reason": w.reason, "message": w.message} if w
                              else {"reason": "ContainerCreating"}}
            if c.last_term:
                s["lastState"] = {"terminated": c.last_term}
            statuses.append(s)
        inits = []
        for c in self.inits:
            s = {"name": c.name, "image": c.spec.get("image", ""), "ready": c.ok,
                 "restartCount": c.restarts, "imageID": "e2e://" + image_repo(c.spec.get("image", ""))}
            if c.ok or (c.done and c.last_term):
                s["state"] = {"terminated": c.last_term}
            elif c.pid:
                s["state"] = {"running": {"startedAt": now_rfc3339(c.started_at)}}
            else:
                w = self.error or (StartError(*c.waiting) if c.waiting else None)
                s["state"] = {"waiting": {"reason": w.reason, "message": w.message} if w
                              else {"reason": "PodInitializing"}}
            if c.last_term and not c.ok:
                s["lastState"] = {"terminated": c.last_term}
            inits.append(s)
        initialized = all(c.ok for c in self.inits)
        if not initialized:
            for s in statuses:
                s["state"] = {"waiting": {"reason": "PodInitializing"}}
        ready = all(c.ready for c in self.containers)
        running = any(c.pid for c in self.containers)
        if any(c.done and not c.ok for c in self.inits):
            phase = "Failed"
        elif all(c.done for c in self.containers):
            phase = "Failed" if any(c.last_term and c.last_term["exitCode"] for c in self.containers) \
                else "Succeeded"
        elif not initialized:
            phase = "Pending"
        else:
            phase = "Running" if running or any(c.restarts for c in self.containers) else "Pending"
        st = "True" if ready else "False"
        ips = [{"ip": x} for x in self.ips]
        return {"phase": phase, "hostIP": self.ips[0], "hostIPs": ips, "podIP": self.ips[0],
                "podIPs": ips, "startTime": self.started,
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Initialized", "status": "True" if initialized else "False"},
                    {"type": "ContainersReady", "status": st},
                    {"type": "Ready", "status": st}],
                "containerStatuses": statuses, "initContainerStatuses": inits, "_t": t}

    def report(self):
        s = self.status()
        t = s.pop("_t")
        key = json.dumps(s, sort_keys=True)
        if key == self.last_status:
            return
        for cond in s["conditions"]:
            cond["lastTransitionTime"] = t
        try:
            self.api.patch("/api/v1/namespaces/%s/pods/%s/status" % (self.ns, self.name),
                           {"status": s})
            self.last_status = key
            self.r["ready"] = all(c.ready for c in self.containers)
        except ApiError as e:
            if e.status != 404:
                self.log("status patch failed: %s" % e)

    # ------------------------------------------------------------ life
    def step(self):
        """One pass of the pod's loop: volumes, starts, exits, probes. A
        reason that keeps the pod from starting stays shown until a retry
        (every 5 s) gets past it."""
        now = time.time()
        try:
            progressed = False
            if now >= self.vol_next:
                self.sync_volumes()
                progressed = True
            if not all(c.ok for c in self.inits):
                progressed |= self.step_init(now)
            for c in (self.containers if all(c.ok for c in self.inits) else []):
                if c.pid:
                    rc = self.exited(c)
                    if rc is not None:
                        self.on_exit(c, rc)
                    else:
                        self.check(c)
                elif not c.done and now >= c.next_start and self.vols_ok and \
                        not (self.error and now < self.retry_at):
                    self.start(c)
                    progressed = True
            if progressed and self.error:
                self.log("past: %s" % self.error)
                self.error = None
        except StartError as e:
            if str(e) != str(self.error):
                self.log("cannot start: %s" % e)
            self.error = e
            self.retry_at = self.vol_next = now + 5
        except ApiError as e:
            self.log("API: %s" % e)
            self.vol_next = now + 2
        self.report()

    def step_init(self, now):
        """Init containers one after the other, each to exit 0; a failed one
        is retried with back-off (restartPolicy Never: the pod fails)."""
        c = next(x for x in self.inits if not x.ok)
        if c.spec.get("restartPolicy") == "Always":
            raise StartError("CreateContainerConfigError",
                             "init container %s: sidecar containers are not emulated" % c.name)
        if c.pid:
            rc = self.exited(c)
            if rc == 0:
                c.last_term = {"exitCode": 0, "reason": "Completed",
                               "startedAt": now_rfc3339(c.started_at), "finishedAt": now_rfc3339()}
                c.proc, c.pid, c.ok = None, None, True
                self.log("init container %s completed" % c.name)
            elif rc is not None:
                self.on_exit(c, rc)
                if c.done:   # restartPolicy Never: the pod has failed
                    for x in self.containers:
                        x.done = True
            return False
        if not c.done and now >= c.next_start and self.vols_ok and \
                not (self.error and now < self.retry_at):
            self.start(c)
            return True
        return False

    def run(self):
        while not self.stopping and not self.k.stopping:
            self.step()
            time.sleep(0.2)

    def terminate(self, grace):
        """Graceful deletion: SIGTERM every container, SIGKILL after grace."""
        self.stopping = True
        every = self.inits + self.containers
        for c in every:
            self.kill(c, signal.SIGTERM)
        end = time.time() + grace
        while time.time() < end and any(self.exited(c) is None for c in every if c.pid):
            time.sleep(0.1)
        for c in every:
            if c.pid and self.exited(c) is None:
                self.log("container %s: SIGKILL after %ss" % (c.name, grace))
                self.kill(c, signal.SIGKILL)
                while self.exited(c) is None:
                    time.sleep(0.05)
            if c.pid:
                self.on_exit(c, self.exited(c))

    def cleanup(self):
        for c in self.inits + self.containers:
            if c.pid and self.exited(c) is None:
                self.kill(c, signal.SIGKILL)
            try:
                os.remove(os.path.join(self.pid_dir, self.pid_name(c) + ".pid"))
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def fmt_host(h):
    return "[%s]" % h if ":" in h else h


