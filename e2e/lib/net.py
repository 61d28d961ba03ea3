# SPDX-License-Identifier: GPL-2.0-or-later
"""Small wrappers over ip(8), sysctl and processes inside network namespaces.

Test infrastructure only. Everything that creates a namespace, a link or a
process records it under the state folder so that `e2e/cluster down` can undo
it even after a crash.
"""
import json
import os
import signal
import subprocess
import time


def run(*args, check=True, ns=None, capture=False, timeout=60, input=None):
    """Run a command (optionally inside namespace `ns`); return stdout text."""
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p.stdout


def ip(*args, ns=None, check=True):
    return run("ip", *args, ns=ns, check=check)


def netns_list():
    out = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pod_record(state, name):
    """A pod's record from e2e/lib/kubelet's state (its netns, ip, node...)
    by NAME or NAMESPACE/NAME, or None."""
    d = os.path.join(state, "pods")
    ns, _, n = name.rpartition("/")
    for f in sorted(os.listdir(d)):
        if not f.endswith(".json"):
            continue
        with open(os.path.join(d, f)) as fh:
            r = json.load(fh)
        if r["name"] == n and (not ns or r["namespace"] == ns):
            return r
    return None


POD_NS_PREFIX = "fp-"


def netns_of(state, name):
    """The namespace `e2e/cluster exec NAME` enters: one the cluster made
    (lan, node1, client...) or a pod's, by NAME or NAMESPACE/NAME."""
    if not name.startswith(POD_NS_PREFIX) and os.path.exists(os.path.join("/run/netns", name)):
        return name
    r = pod_record(state, name)
    return r and r["netns"]


def netns_add(name):
    if name in netns_list():
        netns_del(name)
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", ns=name)


def netns_pids(name):
    out = run("ip", "netns", "pids", name, check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def netns_del(*names):
    """Kill every process in the namespaces, then remove them (all at once:
    a cluster's tear-down removes dozens)."""
    if not names:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for n in names for p in netns_pids(n)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if pids:
            deadline = time.time() + 3
            while time.time() < deadline and any(pid_alive(p) for p in pids):
                time.sleep(0.05)
    run("ip", "-force", "-batch", "-", input="".join("netns del %s\n" % n for n in names), check=False)


def sysctl(ns, **kv):
    args = ["%s=%s" % (k.replace("__", "/").replace("_", "."), v) for k, v in kv.items()]
    run("sysctl", "-q", "-w", *args, ns=ns)


def sysctls(ns, pairs):
    """Set sysctls given as ("net.ipv4.ip_forward", "1") pairs."""
    run("sysctl", "-q", "-w", *["%s=%s" % p for p in pairs], ns=ns)


def spawn(name, cmd, log_path, pid_dir, ns=None, env=None, netns_only=False):
    """Start a long-running process detached in its own session; record its pid.

    `ip netns exec` also gives the process a private mount namespace; with
    netns_only the process enters only the network namespace (nsenter), so
    namespaces it adds with `ip netns add` are visible to everyone."""
    full = list(cmd)
    if ns and netns_only:
        full = ["nsenter", "--net=/run/netns/" + ns] + full
    elif ns:
        full = ["ip", "netns", "exec", ns] + full
    logf = open(log_path, "ab")
    p = subprocess.Popen(full, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env)
    logf.close()
    with open(os.path.join(pid_dir, name + ".pid"), "w") as f:
        f.write(str(p.pid))
    return p.pid


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive for our purposes
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(pid_dir, name):
    try:
        with open(os.path.join(pid_dir, name + ".pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def stop_pid(pid, sig=signal.SIGTERM, wait=10.0):
    """Signal a process group leader and wait for it; SIGKILL after `wait`."""
    stop_pids([pid], sig, wait)


def stop_pids(pids, sig=signal.SIGTERM, wait=10.0):
    """Signal process group leaders and wait for them together (a cluster's
    processes each take a moment to exit); SIGKILL to those left after
    `wait`."""
    pids = [p for p in pids if p is not None and pid_alive(p)]
    for s, w in ((sig, wait), (signal.SIGKILL, 3.0)):
        for pid in pids:
            try:
                os.killpg(pid, s)
            except ProcessLookupError:
                try:
                    os.kill(pid, s)
                except ProcessLookupError:
                    pass
        deadline = time.time() + w
        while pids and time.time() < deadline:
            for pid in [p for p in pids if not pid_alive(p)]:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                pids.remove(pid)
            if pids:
                time.sleep(0.05)
        if not pids:
            return


def wait_for(fn, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # keep trying until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out after %ss waiting for %s%s" % (
        timeout, what, (": %s" % last) if last else ""))
