# SPDX-License-Identifier: GPL-2.0-or-later
"""hostNetwork pods run for real (issues 14 and 16): the e2e kubelet runs a
`hostNetwork: true` pod's container as a process in the node's namespace,
with the image mapped to a local program (here `e2e/python`: python3), the
environment a real kubelet gives (downward API, Secret and ConfigMap keys,
KUBERNETES_SERVICE_*), the ServiceAccount's bound token at the standard path
(rotated), volumes, probes acted upon, restarts and graceful deletion."""
import base64
import json
import os
import time

import pytest

CLUSTER_ARGS = ["--nodes", "1", "--no-agents", "--lb", "none"]
STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
NS = "hp-test"
NODE_IP = "192.0.2.11"
PORT = 18080
FLAGS = "/tmp/e2e-hostpods"   # not below /run: the pod sees /run through an overlay

# The container: prints what it sees once, then serves /ready, /live (500
# while a flag file exists), /token, /exit; SIGTERM is logged.
SCRIPT = r'''
import json, os, signal, sys, http.server
SA = "/var/run/secrets/kubernetes.io/serviceaccount"
FLAGS = os.environ["FLAGS"]
def rd(p):
    with open(p) as f:
        return f.read()
def term(*_):
    print("got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print("INFO " + json.dumps({"env": dict(os.environ), "ns": rd(SA + "/namespace"),
      "ca": rd(SA + "/ca.crt"), "token": rd(SA + "/token"), "cm": rd("/etc/e2e-hp/greeting"),
      "argv": sys.argv}), flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok"
        code = 200
        if self.path in ("/ready", "/live"):
            if os.path.exists(os.path.join(FLAGS, self.path[1:] + "-fail")):
                code = 500
        elif self.path == "/token":
            body = rd(SA + "/token").encode()
        elif self.path == "/exit":
            os._exit(3)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
'''


def pod(name, sa="probe-sa", image="e2e/python:3", script=SCRIPT, grace=5, extra=None, port=PORT):
    """hostNetwork containerPorts are hostPorts: each pod of this module
    needs its own port, or the scheduler keeps the next one Pending."""
    spec = {
        "hostNetwork": True, "serviceAccountName": sa, "terminationGracePeriodSeconds": grace,
        "containers": [{
            "name": "app", "image": image,
            "command": ["python3", "-c", script], "args": ["$(PORT_NUM)"],
            "ports": [{"name": "http", "containerPort": port}],
            "env": [
                {"name": "PORT_NUM", "value": str(port)},
                {"name": "FLAGS", "value": FLAGS},
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE",
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "LIT", "value": "on-$(NODE_NAME)-$$(NODE_NAME)"},
                {"name": "GREETING",
                 "valueFrom": {"configMapKeyRef": {"name": "hp-cm", "key": "greeting"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "hp-secret", "key": "pw"}}},
            ],
            "volumeMounts": [{"name": "cm", "mountPath": "/etc/e2e-hp", "readOnly": True}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"},
                               "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"httpGet": {"path": "/live", "port": port},
                              "periodSeconds": 1, "failureThreshold": 2},
        }],
        "volumes": [{"name": "cm", "configMap": {"name": "hp-cm"}}],
    }
    spec.update(extra or {})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS,
                         "annotations": {"e2e.ferry.dev/token-refresh-seconds": "3"}},
            "spec": spec}


def log_of(name):
    path = os.path.join(STATE, "logs", "pod-%s_%s_app.log" % (NS, name))
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def info(name):
    lines = [x for x in log_of(name).splitlines() if x.startswith("INFO ")]
    return json.loads(lines[-1][5:]) if lines else None


def get(cluster, name):
    return cluster.kjson("-n", NS, "get", "pod", name)


def ready(p):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in p["status"].get("conditions", []))


def restarts(p):
    return sum(s.get("restartCount", 0) for s in p["status"].get("containerStatuses", []))


def waiting(p):
    for s in p["status"].get("containerStatuses", []):
        w = s.get("state", {}).get("waiting")
        if w:
            return w
    return None


def jwt_claims(tok):
    payload = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def web(cluster):
    os.makedirs(FLAGS, exist_ok=True)
    for f in os.listdir(FLAGS):
        os.remove(os.path.join(FLAGS, f))
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("-n", NS, "create", "serviceaccount", "probe-sa")
    cluster.kubectl("-n", NS, "create", "configmap", "hp-cm", "--from-literal=greeting=hello")
    cluster.kubectl("-n", NS, "create", "secret", "generic", "hp-secret", "--from-literal=pw=s3cret")
    cluster.apply(json.dumps(pod("web")))
    cluster.wait(lambda: ready(get(cluster, "web")), 60, "pod web Ready")
    yield "web"


def test_runs_in_node_namespace_with_node_address(cluster, web):
    p = get(cluster, web)
    assert p["status"]["podIP"] == NODE_IP and p["status"]["hostIP"] == NODE_IP
    assert p["status"]["phase"] == "Running"
    # the node's own address serves it: no pod namespace in between
    assert cluster.curl("client", "http://%s:%d/ready" % (NODE_IP, PORT)) == "ok"
    assert cluster.curl("node1", "http://127.0.0.1:%d/ready" % PORT) == "ok"


def test_env_downward_api_and_volumes(cluster, web):
    i = cluster.wait(lambda: info(web), 10, "the pod's INFO line")
    env = i["env"]
    svc = cluster.kjson("get", "service", "kubernetes")
    assert env["NODE_NAME"] == "node1" and env["POD_NAME"] == web and env["POD_NAMESPACE"] == NS
    assert env["POD_IP"] == NODE_IP and env["HOST_IP"] == NODE_IP
    assert env["LIT"] == "on-node1-$(NODE_NAME)"
    assert env["GREETING"] == "hello" and env["PASSWORD"] == "s3cret"
    assert env["KUBERNETES_SERVICE_HOST"] == svc["spec"]["clusterIP"]
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert i["argv"][1:] == [str(PORT)]            # $(PORT_NUM) expanded in args
    assert i["cm"] == "hello"
    assert i["ns"] == NS
    with open(os.path.join(STATE, "pki", "ca.crt")) as f:
        assert i["ca"].strip() == f.read().strip()
    # the machine's own tree is untouched: mount points live in the pod only
    assert not os.path.exists("/etc/e2e-hp") and not os.path.exists("/run/secrets")


def test_token_is_bound_and_rotates(cluster, web):
    tok = info(web)["token"]
    cl = jwt_claims(tok)
    assert cl["sub"] == "system:serviceaccount:%s:probe-sa" % NS
    assert cl["kubernetes.io"]["pod"]["name"] == web
    # the apiserver accepts it as the ServiceAccount
    review = cluster.run("exec", "cp", "--", "curl", "-sk", "-X", "POST",
                         "-H", "Authorization: Bearer " + tok, "-H", "Content-Type: application/json",
                         "-d", '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
                         "https://192.0.2.3:6443/apis/authentication.k8s.io/v1/selfsubjectreviews")
    assert json.loads(review.stdout)["status"]["userInfo"]["username"] == cl["sub"]
    # rotation (every 3 s by the e2e annotation), seen through the same mount
    first = cluster.curl("client", "http://%s:%d/token" % (NODE_IP, PORT))
    cluster.wait(lambda: cluster.curl("client", "http://%s:%d/token" % (NODE_IP, PORT)) != first,
                 20, "a rotated token")


def test_readiness_probe_sets_ready(cluster, web):
    flag = os.path.join(FLAGS, "ready-fail")
    open(flag, "w").close()
    try:
        cluster.wait(lambda: not ready(get(cluster, web)), 20, "Ready=False")
        assert restarts(get(cluster, web)) == 0
    finally:
        os.remove(flag)
    cluster.wait(lambda: ready(get(cluster, web)), 20, "Ready=True again")


def test_liveness_failure_restarts(cluster, web):
    before = restarts(get(cluster, web))
    flag = os.path.join(FLAGS, "live-fail")
    open(flag, "w").close()
    try:
        cluster.wait(lambda: restarts(get(cluster, web)) > before, 30, "a liveness restart")
    finally:
        os.remove(flag)
    cluster.wait(lambda: ready(get(cluster, web)), 30, "Ready after the restart")
    st = get(cluster, web)["status"]["containerStatuses"][0]
    assert "terminated" in st["lastState"]
    assert "got SIGTERM" in log_of(web)            # a liveness kill is graceful


def test_exit_restarts(cluster, web):
    before = restarts(get(cluster, web))
    cluster.curl("client", "http://%s:%d/exit" % (NODE_IP, PORT), check=False)
    cluster.wait(lambda: restarts(get(cluster, web)) > before, 30, "a restart after exit")
    st = get(cluster, web)["status"]["containerStatuses"][0]
    assert st["lastState"]["terminated"]["exitCode"] == 3
    cluster.wait(lambda: ready(get(cluster, web)), 40, "Ready after the restart")


def test_unknown_image_is_refused(cluster):
    cluster.apply(json.dumps(pod("noimage", image="example.org/nope:1", port=PORT + 1)))
    try:
        cluster.wait(lambda: (waiting(get(cluster, "noimage")) or {}).get("reason") == "ErrImagePull",
                     30, "ErrImagePull")
        assert get(cluster, "noimage")["status"]["phase"] == "Pending"
    finally:
        cluster.kubectl("-n", NS, "delete", "pod", "noimage", "--wait=false")


def test_missing_service_account_is_refused(cluster):
    # admission refuses a pod naming a missing ServiceAccount; make it go
    # away while the pod waits on a scheduling gate, so the kubelet meets it
    cluster.kubectl("-n", NS, "create", "serviceaccount", "short-lived")
    cluster.apply(json.dumps(pod("nosa", sa="short-lived", port=PORT + 2,
                                 extra={"schedulingGates": [{"name": "e2e.ferry.dev/hold"}]})))
    try:
        cluster.kubectl("-n", NS, "delete", "serviceaccount", "short-lived")
        cluster.kubectl("-n", NS, "patch", "pod", "nosa", "--type", "json",
                        "-p", '[{"op":"remove","path":"/spec/schedulingGates"}]')
        w = cluster.wait(lambda: waiting(get(cluster, "nosa")), 30, "a waiting reason")
        cluster.wait(lambda: 'serviceaccount "short-lived" not found' in
                     (waiting(get(cluster, "nosa")) or {}).get("message", ""), 30,
                     "the missing ServiceAccount as the reason (%s)" % w)
        assert "INFO" not in log_of("nosa")       # never started
    finally:
        cluster.kubectl("-n", NS, "delete", "pod", "nosa", "--wait=false")


def test_graceful_delete(cluster, web):
    pid = None
    pidf = os.path.join(STATE, "pids", "hostpod-%s_%s_app.pid" % (NS, web))
    with open(pidf) as f:
        pid = int(f.read())
    t0 = time.time()
    cluster.kubectl("-n", NS, "delete", "pod", web, "--timeout", "30s")
    assert time.time() - t0 < 15
    assert "got SIGTERM" in log_of(web).split("--- e2e kubelet")[-1]
    assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"


def test_sigkill_after_grace(cluster):
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
               "print('INFO {}', flush=True)\ntime.sleep(3600)\n"
    p = pod("stubborn", script=stubborn, grace=2, port=PORT + 3)
    del p["spec"]["containers"][0]["readinessProbe"], p["spec"]["containers"][0]["livenessProbe"]
    cluster.apply(json.dumps(p))
    cluster.wait(lambda: ready(get(cluster, "stubborn")), 60, "pod stubborn Ready")
    t0 = time.time()
    cluster.kubectl("-n", NS, "delete", "pod", "stubborn", "--timeout", "30s")
    took = time.time() - t0
    assert 2 <= took < 10, took


def test_init_container_runs_first(cluster):
    init = "open('/etc/e2e-init/hello', 'w').write('from init')\n"
    main = ("import json, time\nprint('INFO ' + json.dumps({'init': open('/etc/e2e-init/hello').read()}),"
            " flush=True)\ntime.sleep(3600)\n")
    p = pod("withinit", script=main, port=PORT + 4)
    ctr = p["spec"]["containers"][0]
    del ctr["readinessProbe"], ctr["livenessProbe"]
    ctr["volumeMounts"].append({"name": "shared", "mountPath": "/etc/e2e-init"})
    p["spec"]["volumes"].append({"name": "shared", "emptyDir": {}})
    p["spec"]["initContainers"] = [{
        "name": "prepare", "image": "e2e/python:3", "command": ["python3", "-c", init],
        "volumeMounts": [{"name": "shared", "mountPath": "/etc/e2e-init"}]}]
    cluster.apply(json.dumps(p))
    try:
        cluster.wait(lambda: ready(get(cluster, "withinit")), 60, "pod withinit Ready")
        assert info("withinit") == {"init": "from init"}
        st = get(cluster, "withinit")["status"]
        assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
        assert os.path.exists(os.path.join(STATE, "logs", "pod-%s_withinit_prepare.log" % NS))
    finally:
        cluster.kubectl("-n", NS, "delete", "pod", "withinit", "--wait=false")


# What the process may do, printed once: its capability sets, no_new_privs,
# and whether the root filesystem takes a write.
CAPS_SCRIPT = r'''
import json, os, time
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
path = "/var/tmp/e2e-hp-ro-" + os.environ["HOSTNAME"] + "-" + str(os.getpid())
try:
    open(path, "w").close()
    os.remove(path)
    wrote = "ok"
except OSError as e:
    wrote = e.strerror
print("INFO " + json.dumps({"eff": int(st["CapEff"], 16), "bnd": int(st["CapBnd"], 16),
      "nnp": st.get("NoNewPrivs", "").strip(), "write": wrote}), flush=True)
time.sleep(3600)
'''
CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
            "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13,
            "SYS_CHROOT": 18, "SYS_ADMIN": 21, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}


def mask(*names):
    return sum(1 << CAP_BITS[n] for n in names)


@pytest.mark.parametrize("sc,want", [
    # a container that asks for nothing gets the runtime's default set
    (None, {"eff": mask("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                        "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                        "AUDIT_WRITE"), "nnp": "0", "write": "ok"}),
    # ferry's own securityContext (manifests/ferry.yaml)
    ({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
      "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
     {"eff": mask("NET_ADMIN", "NET_RAW"), "nnp": "1", "write": "Read-only file system"}),
], ids=["default", "ferry-manifest"])
def test_security_context_is_enforced(cluster, sc, want):
    """A real runtime gives a container only the capabilities it asked for:
    a manifest that forgets one must fail here as it would on a node."""
    name = "caps-" + ("default" if sc is None else "ferry")
    p = pod(name, script=CAPS_SCRIPT, port=PORT + 5 + (sc is not None))
    ctr = p["spec"]["containers"][0]
    del ctr["readinessProbe"], ctr["livenessProbe"]
    if sc is not None:
        ctr["securityContext"] = sc
    cluster.apply(json.dumps(p))
    try:
        got = cluster.wait(lambda: info(name), 60, "pod %s's report" % name)
        assert {k: got[k] for k in want} == want, got
        assert got["bnd"] == got["eff"]
    finally:
        cluster.kubectl("-n", NS, "delete", "pod", name, "--wait=false")
