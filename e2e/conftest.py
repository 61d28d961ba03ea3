# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared fixtures: one cluster per test module (starting the control plane
costs seconds), brought up with the module's CLUSTER_ARGS and always torn
down, even when a test fails."""
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "cluster")
sys.path.insert(0, HERE)
from lib import net  # noqa: E402
from lib.kubeapi import ApiError, Client  # noqa: E402

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")


class Cluster:
    """The e2e/cluster contract, as tests use it."""

    def __init__(self, args):
        self.args = args

    def api(self):
        """The admin's REST client (through the root namespace's forwarder)."""
        pki = os.path.join(STATE, "pki")
        return Client("https://127.0.0.1:6443", os.path.join(pki, "ca.crt"),
                      os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))

    def burst(self, method, paths_bodies, workers=8):
        """Many requests at once, as a deployment tool sends them: a burst
        whose density does not depend on kubectl's one-at-a-time pace. A
        request the overloaded apiserver times out is retried."""
        api = self.api()

        def one(pb):
            for attempt in range(5):
                try:
                    return api.request(method, pb[0], pb[1],
                                       ctype="application/merge-patch+json" if method == "PATCH"
                                       else "application/json")
                except ApiError as e:
                    if e.status not in (429, 500, 503, 504) or attempt == 4:
                        raise
                except OSError:
                    if attempt == 4:
                        raise
                time.sleep(0.5 * (attempt + 1))
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            return list(ex.map(one, paths_bodies))

    def run(self, *args, check=True, timeout=120, input=None):
        return self._run([sys.executable, CLUSTER, *args], "e2e/cluster " + " ".join(args),
                         check, timeout, input)

    @staticmethod
    def _run(argv, what, check, timeout, input=None):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode:
            raise AssertionError("%s failed (%d):\n%s%s" % (what, p.returncode, p.stdout, p.stderr))
        return p

    # An overloaded machine makes the apiserver time out now and then; a
    # client retries those, as kubectl's users do.
    TRANSIENT = ("Error from server (Timeout)", "TLS handshake timeout", "connection refused",
                 "the server was unable to return a response", "i/o timeout")

    # Tests call kubectl and exec thousands of times: they run the
    # commands themselves, not through e2e/cluster (a Python start each).
    def kubectl_argv(self, *args):
        with open(os.path.join(STATE, "cluster.json")) as f:
            kubectl = os.path.join(json.load(f)["bin"], "kubectl")
        return [kubectl, "--kubeconfig", os.path.join(STATE, "admin.kubeconfig"), *args]

    def kubectl(self, *args, check=True, input=None, timeout=120):
        for attempt in range(3):
            p = self._run(self.kubectl_argv(*args), "", False, timeout, input)
            if p.returncode == 0 or not any(t in p.stderr for t in self.TRANSIENT):
                break
            time.sleep(1 + attempt)
        if check and p.returncode:
            raise AssertionError("kubectl %s failed (%d):\n%s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def kjson(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json"))

    def apply(self, yaml_text, timeout=120):
        return self.kubectl("apply", "-f", "-", input=yaml_text, timeout=timeout)

    @staticmethod
    def exec_argv(name, *cmd):
        """`e2e/cluster exec NAME -- CMD...` as an argv, for Popen."""
        ns = net.netns_of(STATE, name)
        if not ns:
            raise AssertionError("no namespace or pod named %s" % name)
        return ["ip", "netns", "exec", ns, *cmd]

    def exec(self, name, *cmd, check=True, timeout=60):
        return self._run(self.exec_argv(name, *cmd), "exec %s -- %s" % (name, " ".join(cmd)),
                         check, timeout)

    def curl(self, where, url, timeout=3, check=True):
        """HTTP GET from inside namespace `where`; returns the body or None."""
        p = self.exec(where, "curl", "-sS", "-m", str(timeout), url, check=False,
                      timeout=timeout + 10)
        if p.returncode:
            if check:
                raise AssertionError("curl %s from %s failed: %s" % (url, where, p.stderr))
            return None
        return p.stdout.strip()

    def pods(self, selector):
        return self.kjson("get", "pods", "-l", selector)["items"]

    def ready_pods(self, selector):
        """Running pods with an IP, Ready, and not on their way out."""
        return [p for p in self.pods(selector) if p["status"].get("phase") == "Running"
                and p["status"].get("podIP")
                and not p["metadata"].get("deletionTimestamp")
                and any(x["type"] == "Ready" and x["status"] == "True"
                        for x in p["status"].get("conditions", []))]

    def wait(self, fn, timeout=60, what="condition", interval=0.3):
        t0 = time.monotonic()
        try:
            return net.wait_for(fn, timeout, what, interval)
        except TimeoutError as e:
            raise AssertionError(str(e)) from None
        finally:
            slow("wait for " + what, time.monotonic() - t0)


def cluster_up(args):
    """Bring a cluster up for a module; yield it; always tear it down."""
    c = Cluster(args)
    t0 = time.monotonic()
    p = subprocess.run([CLUSTER, "up", *args], capture_output=True, text=True, timeout=900)
    slow("cluster up " + " ".join(args), time.monotonic() - t0, p.stdout)
    if p.returncode:
        if "in use" not in p.stderr:  # never tear down someone else's cluster
            subprocess.run([CLUSTER, "down"], capture_output=True)
        raise AssertionError("cluster up failed:\n%s%s" % (p.stdout, p.stderr))
    try:
        yield c
    finally:
        subprocess.run([CLUSTER, "down"], capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def cluster(request):
    yield from cluster_up(getattr(request.module, "CLUSTER_ARGS", []))


# Where the suite's time goes, per module (set-up and tear-down included:
# a module's cluster is most of it), printed at the end of every run so
# that the 30-minute budget can be kept with figures, not guesses; and
# every wait and bring-up that took far longer than usual, with its test.
_module_seconds = {}
_slow = []
SLOW_S = 20


def slow(what, seconds, detail=""):
    if seconds >= SLOW_S:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        _slow.append("%6.1f s  %s: %s%s" % (seconds, test, what,
                                             ("\n" + detail.rstrip()) if detail else ""))


def pytest_runtest_logreport(report):
    mod = report.nodeid.split("::")[0]
    _module_seconds[mod] = _module_seconds.get(mod, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _module_seconds:
        return
    tr = terminalreporter
    tr.section("time per module (set-up, tests, tear-down)")
    for mod, s in sorted(_module_seconds.items(), key=lambda x: -x[1]):
        tr.write_line("%8.1f s  %s" % (s, mod))
    tr.write_line("%8.1f s  total" % sum(_module_seconds.values()))
    if _slow:
        tr.section("waits and bring-ups over %d s" % SLOW_S)
        for line in _slow:
            tr.write_line(line)
