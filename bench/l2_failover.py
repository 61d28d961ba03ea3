#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Layer-2 failover as a client sees it: ferry's announcer vs MetalLB
v0.15.2's speaker (memberlist on), same script, same run (issue 14).

    bench/l2_failover.py [--runs 20] [--impl ferry,metallb]
        [--modes node-down,agent-kill,agent-stop] [--no-lock]

For each implementation in turn: take /tmp/ferry-cluster.lock (do not wrap
the script in flock(1): it takes the lock itself, so another user gets a
turn between holds), `e2e/cluster up --nodes 3 --lb IMPL`, runs,
`e2e/cluster down`, release. With --no-lock the caller holds the lock.

The Service's pods run on node3 only and the faulted node is always node1
or node2 (the owner of the measured address), so a fault cuts the path
through the announcer and never the pods themselves: the gap is the
announcer's.

A run: from `client`, an HTTP GET every 20 ms, each on a new connection
(timeout 3 s), and beside it e2e/lib/l2probe.py's ArpWatch (an ARP request
every 20 ms, every answer attributed). The fault on the owner:
  node-down   its LAN link is cut (`e2e/cluster node down`): the hard failure
  agent-kill  SIGKILL of the announcer (ferry's agent; MetalLB's speaker
              process, which the e2e kubelet restarts at once as a real one
              would). The node's nftables rules and the client's ARP cache
              outlive it, so the client gap stays ~0 for both: the number
              that matters is how long the address has no answering node
              for a new client (ARP silence) and when the owner changes
  agent-stop  SIGTERM: the graceful stop
Measured per run: client gap = the longest time between two consecutive
completed GETs (a GET that was sent before the fault and completes late
through a SYN retransmission counts when it completes); ARP silence = the
longest time between two answered ARP requests; ARP move = fault to the
first answer from another MAC (none if the owner never changed); requests
answered by two MACs after the fault (must be none; `double_before`
counts those in the 0.3 s before it). Then the node or agent comes back and
the address returns to its owner before the next run.

Lock holds: one for all of ferry's runs (~5 min), one per mode for
MetalLB's (its runs take ~15-40 s each).

Prints a Markdown table (p50/p99/max per mode per implementation) and one
JSON line with every run.
"""
import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "e2e"))
from conftest import CLUSTER, Cluster  # noqa: E402
from lib import metallb  # noqa: E402
from lib.l2probe import CLIENT_IP, PROBE, double_answers, node_macs, owner_by_arp  # noqa: E402
from lib.traffic import LOOP, Lines, longest_gap  # noqa: E402

STATE = os.environ.get("FERRY_E2E_STATE", "/run/ferry-e2e")
LOCK = "/tmp/ferry-cluster.lock"
NODES = 3
POOL = "192.0.2.200-192.0.2.215"   # on the LAN: announced by ARP there
APP_NODE = "node3"
TICK = 0.02



def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class ArpLines(Lines):
    """ArpWatch's probe (e2e/lib/l2probe.py), its rows read while it runs."""

    def __init__(self, ip, seconds):
        super().__init__(["python3", "-c", PROBE, ip, CLIENT_IP, str(int(seconds / TICK)), str(TICK)])


def pct(xs, p):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


class Bench:
    def __init__(self, impl, args):
        self.impl, self.a = impl, args
        self.c = Cluster([])
        self.c.macs = {}

    # ------------------------------------------------------------ set-up
    def setup(self):
        c = self.c
        c.macs = node_macs(c, NODES)
        metallb.apply_pool(lambda *a, input=None: c.kubectl(*a, input=input), "l2bench", [POOL])
        c.apply(json.dumps({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "l2bench"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "l2bench"}},
                     "template": {"metadata": {"labels": {"app": "l2bench"}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": APP_NODE},
                                           "containers": [{"name": "app", "image": "e2e/podserver",
                                                           "ports": [{"containerPort": 80}]}]}}}}))
        c.wait(lambda: len(c.ready_pods("app=l2bench")) == 2, 120, "l2bench's pods ready")
        # Services until node1 and node2 each own one
        self.targets = {}
        for k in range(8):
            name = "l2bench-%d" % k
            c.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                                "spec": {"type": "LoadBalancer", "selector": {"app": "l2bench"},
                                         "ports": [{"port": 80, "targetPort": 80}]}}))
            ip = metallb.wait_external_ip(c.kubectl, name, timeout=60)[0]
            owner = c.wait(lambda: owner_by_arp(c, ip), 30, "one node answering ARP for %s" % ip)
            log("%s %s: owner %s" % (name, ip, owner))
            if owner != APP_NODE and owner not in self.targets:
                self.targets[owner] = ip
            if len(self.targets) == 2:
                break
        if not self.targets:
            raise SystemExit("no Service owned by node1 or node2")

    # ------------------------------------------------------------ faults
    def speaker(self, node):
        pods = [p for p in metallb.speaker_pods(lambda *a: self.c.kubectl(*a))
                if p["spec"].get("nodeName") == node and not p["metadata"].get("deletionTimestamp")]
        return pods[0]["metadata"]["name"] if pods else None

    def speaker_pid(self, node):
        name = self.speaker(node)
        with open(os.path.join(STATE, "pids", "hostpod-%s_%s_speaker.pid" % (metallb.NAMESPACE, name))) as f:
            return name, int(f.read())

    def prepare(self, mode, node):
        if mode == "node-down":
            return
        if self.impl == "ferry":
            with open(os.path.join(STATE, "pids", "agent-%s.pid" % node)) as f:
                self.pid = int(f.read())
        else:
            self.pod, self.pid = self.speaker_pid(node)

    def fault(self, mode, node):
        """Straight to the kernel (no e2e/cluster process start in between),
        so the moment of the fault is known to a few ms."""
        if mode == "node-down":
            subprocess.run(["ip", "-n", "lan", "link", "set", ("v-" + node)[:15], "down"], check=True)
        else:
            os.killpg(self.pid, signal.SIGKILL if mode == "agent-kill" else signal.SIGTERM)

    def repair(self, mode, node):
        c = self.c
        if mode == "node-down":
            c.run("node", "up", node)
        elif self.impl == "ferry":
            c.run("agent", "stop", node)   # waits for the old one's exit
            c.run("agent", "start", node)
        else:
            # a fresh pod: the e2e kubelet, like a real one, backs off a
            # container that keeps exiting (10 s, 20 s, ...)
            c.kubectl("-n", metallb.NAMESPACE, "delete", "pod", self.pod, "--wait=false")
            c.wait(lambda: self.speaker(node) not in (None, self.pod)
                   and metallb.speakers_ready(lambda *a: c.kubectl(*a), NODES), 60,
                   "a new MetalLB speaker on %s" % node)

    # ------------------------------------------------------------ one run
    def one(self, mode, node, ip):
        c, window = self.c, self.a.window
        old_mac = [m for m, n in c.macs.items() if n == node][0]
        loop = Lines(["python3", "-c", LOOP, ip, str(int((window + 3) / TICK)), str(TICK), "3"])
        arp = ArpLines(ip, window + 3)
        c.wait(lambda: [r for r in loop.rows if r[3]] and [r for r in arp.rows if r[2]], 10,
               "the client loop and the ARP probe answered", interval=0.05)
        self.prepare(mode, node)
        time.sleep(0.3)
        tf = time.monotonic()
        self.fault(mode, node)
        tr = time.monotonic()
        # done when the client has had 1 s of answers and the address a new
        # owner's answers for 0.5 s (or at the window's end)
        end = tf + window
        while time.monotonic() < end:
            time.sleep(0.1)
            now = time.monotonic()
            ok = [r[2] for r in loop.rows if r[3] and r[2] > tf]
            moved = [r[3] for r in arp.rows if r[2] and old_mac not in r[2] and r[3] > tf]
            if ok and now - ok[0] > 1 and ok[-1] > now - 0.2 and moved and now - moved[0] > 0.5:
                break
        tend = time.monotonic()
        lrows, arows = loop.stop(), arp.stop()
        t = time.monotonic()
        self.repair(mode, node)
        log("window %.1f s, repair %.1f s" % (tend - tf, time.monotonic() - t))
        done_ok = [r[2] for r in lrows if r[3]]
        answered = [r[3] for r in arows if r[2]]
        moved = [r[3] for r in arows if r[2] and old_mac not in r[2] and r[3] > tf]
        run = {"mode": mode, "node": node, "ip": ip, "fault_ms": round((tr - tf) * 1000),
               "client_gap_ms": round(longest_gap(done_ok, tf - 0.3, tend) * 1000),
               "arp_silence_ms": round(longest_gap(answered, tf - 0.3, tend) * 1000),
               "arp_move_ms": round((moved[0] - tf) * 1000) if moved else None,
               "failed_gets": sum(1 for r in lrows if not r[3]),
               "double": len([r for r in double_answers(arows) if r[3] >= tf]),
               "double_before": len([r for r in double_answers(arows) if r[3] < tf])}
        log("%s %s %s on %s: %s" % (self.impl, mode, ip, node, run))
        return run

    def settle(self, node, ip):
        """Before a run: `node` answers for `ip` again."""
        t = time.monotonic()
        try:
            # twice, a second apart: MetalLB's speakers may answer in pairs
            # for a while after a return
            self.c.wait(lambda: owner_by_arp(self.c, ip) == node and not time.sleep(1)
                        and owner_by_arp(self.c, ip) == node, 40, "%s answering for %s" % (node, ip),
                        interval=0.5)
            log("settled in %.1f s" % (time.monotonic() - t))
            return True
        except AssertionError as e:
            log("not settled: %s" % e)
            return False

    def run_all(self):
        runs = []
        nodes = sorted(self.targets)
        for mode in self.a.modes:
            for i in range(self.a.runs):
                node = nodes[i % len(nodes)]
                ip = self.targets[node]
                if not self.settle(node, ip):
                    continue
                runs.append(self.one(mode, node, ip))
        return runs


def with_lock(fn, nolock):
    if nolock:
        return fn()
    with open(LOCK, "a") as f:
        log("waiting for %s" % LOCK)
        fcntl.flock(f, fcntl.LOCK_EX)
        log("holding %s" % LOCK)
        try:
            return fn()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def bench(impl, a):
    def go():
        t0 = time.time()
        b = Bench(impl, a)
        log("e2e/cluster up --nodes %d --lb %s" % (NODES, impl))
        p = b.c.run("up", "--nodes", str(NODES), "--lb", impl, check=False, timeout=900)
        try:
            if p.returncode:
                raise SystemExit("cluster up failed:\n%s%s" % (p.stdout, p.stderr))
            b.setup()
            return b.run_all()
        finally:
            if "in use" not in (p.stderr or ""):
                b.c.run("down", check=False, timeout=300)
            log("%s: %.0f s of cluster time" % (impl, time.time() - t0))
    return with_lock(go, a.no_lock)


def table(results, runs):
    keys = (("client_gap_ms", "client gap"), ("arp_silence_ms", "ARP silence"), ("arp_move_ms", "ARP move"))
    out = ["| mode | implementation | runs | " + " | ".join("%s p50 / p99 / max (ms)" % t for _, t in keys)
           + " | failed GETs | two MACs |", "|---" * (5 + len(keys)) + "|"]
    for mode in ("node-down", "agent-kill", "agent-stop"):
        for impl, rs in results.items():
            rs = [r for r in rs if r["mode"] == mode]
            if not rs:
                continue
            cells = []
            for k, _ in keys:
                xs = sorted(r[k] for r in rs if r[k] is not None)
                nmiss = len(rs) - len(xs)
                cell = "%d / %d / %d" % (pct(xs, 50), pct(xs, 99), xs[-1]) if xs else "-"
                cells.append(cell + (" (%d without)" % nmiss if nmiss else ""))
            out.append("| %s | %s | %d | %s | %d | %d |" % (mode, impl, len(rs), " | ".join(cells),
                                                           sum(r["failed_gets"] for r in rs),
                                                           sum(r["double"] for r in rs)))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--impl", default="ferry,metallb")
    ap.add_argument("--modes", default="node-down,agent-kill,agent-stop")
    ap.add_argument("--window", type=float, default=0,
                    help="seconds after a fault to wait for recovery (default 5 ferry, 15 metallb)")
    ap.add_argument("--no-lock", action="store_true", help="the caller holds %s" % LOCK)
    a = ap.parse_args()
    a.modes = a.modes.split(",")
    results = {}
    for impl in a.impl.split(","):
        # MetalLB's runs are slow (seconds of memberlist detection, then the
        # rejoin before the next run): one mode per cluster and lock hold
        # keeps every hold under ~10 minutes
        for modes in [a.modes] if impl == "ferry" else [[m] for m in a.modes]:
            b_args = argparse.Namespace(**vars(a))
            b_args.modes = modes
            b_args.window = a.window or (5.0 if impl == "ferry" else 15.0)
            results.setdefault(impl, []).extend(bench(impl, b_args))
    cmd = "bench/l2_failover.py --runs %d --impl %s --modes %s" % (a.runs, a.impl, ",".join(a.modes))
    print("\n`%s`\n" % cmd)
    print(table(results, a.runs))
    print(json.dumps({"runs": a.runs, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
