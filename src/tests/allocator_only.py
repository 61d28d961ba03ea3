#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`ferry agent --proxy=false --l2=false --bgp=false`, the manifest's
ferry-allocator: it allocates LoadBalancer IPs (status writes, the Lease)
and touches no nftables at all; /livez and /healthz answer on its own
metrics port. In a throw-away network namespace, against
kube/tests/fake_apiserver.py (the objects of memcheck_agent.py).

usage: allocator_only.py FERRY FAKE_APISERVER_PY
Exit 77 (skipped) when not root or nft, ip or unshare is missing."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memcheck_agent as m  # noqa: E402


def tables():
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def events_about(f, name):
    store = f.get("/control/store?prefix=/api/v1/namespaces/default/events")
    return [e.get("reason") for e in store.values()
            if (e.get("involvedObject") or {}).get("name") == name]


def late_write(f, agent):
    """A Service deleted while its status write was on its way: the write
    succeeds, the watch has said it is gone, and no IPAllocated Event is
    written for it (its Event state was dropped at the deletion and would
    otherwise stay for good: the soak's memory growth)."""
    if "IPAllocated" not in events_about(f, "lb-l2"):
        m.log("FAIL: no IPAllocated Event for lb-l2 (the check below would prove nothing)")
        return False
    f.ctl({"op": "late_status", "path": "/api/v1/namespaces/default/services/late/status"})
    f.put(m.SVC, m.service("late", "LoadBalancer", "10.96.0.14", 83, pool="l2-space"))
    gone = lambda: not any(o["metadata"]["name"] == "late"  # noqa: E731
                           for o in f.get("/api/v1/services").get("items", []))
    if not m.wait("the late Service's status write (then its deletion)", gone, agent):
        return False
    time.sleep(3)  # the answer comes a second after the deletion
    if "IPAllocated" in events_about(f, "late"):
        m.log("FAIL: an IPAllocated Event for a Service deleted before its write was answered")
        return False
    return True


def run(ferry, fake_script):
    m.sh("ip", "link", "set", "lo", "up")
    f = m.Fake(fake_script)
    m.populate(f)
    tmp = tempfile.mkdtemp(prefix="ferry-alloc-")
    cmd = [ferry, "agent", "-v", "2", "--master", f.url, "--node-name", "allocator-pod-a",
           "--proxy=false", "--l2=false", "--bgp=false", "--healthz-bind-address=",
           "--metrics-bind-address", "127.0.0.1:10265", "--lb-lease-duration", "15s",
           "--lb-renew-deadline", "10s", "--lb-retry-period", "1s"]
    agent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, "agent.log"), "w"))
    ok, got = True, None
    try:
        ok = m.wait("/livez 200", lambda: m.http("http://127.0.0.1:10265/livez")[0] == 200, agent)
        ok = ok and m.wait("/healthz 200 (the caches listed)",
                           lambda: m.http("http://127.0.0.1:10265/healthz")[0] == 200, agent)
        ok = ok and m.wait("the allocations", lambda: m.ingress(f, "lb-l2") and m.ingress(f, "lb-bgp"),
                           agent)
        got = (m.ingress(f, "lb-l2"), m.ingress(f, "lb-bgp"))
        if ok and tables().strip():
            m.log("FAIL: nftables tables exist:\n" + tables())
            ok = False
        if ok and m.http("http://127.0.0.1:10256/healthz")[0] != 0:
            m.log("FAIL: something listens on 10256")
            ok = False
        if ok and m.http("http://127.0.0.1:10265/proxyMode")[0] != 404:
            m.log("FAIL: /proxyMode is served without a proxy")
            ok = False
        ok = ok and late_write(f, agent)
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=30)
        f.stop()
    log = open(os.path.join(tmp, "agent.log")).read()
    shutil.rmtree(tmp, ignore_errors=True)
    if "Service forwarding is off" not in log:
        m.log("FAIL: the log does not say forwarding is off")
        ok = False
    if not ok or rc != 0:
        sys.stdout.write(log[-8000:])
        m.log("FAIL: exit code %d" % rc)
        return 1
    m.log("ok: allocated", got, "with no nftables")
    return 0


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rc = m.enter_netns(["nft", "ip", "unshare"], "FERRY_ALLOC_NETNS")
    if rc is not None:
        return rc
    return run(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
