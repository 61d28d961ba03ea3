# SPDX-License-Identifier: GPL-2.0-or-later
"""The ferry command line, without a cluster: sub-commands, usage errors,
and kube-proxy's --config file (issue 4 and 7)."""
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERRY = os.environ.get("FERRY_BIN") or os.path.join(REPO, "build", "src", "ferry")


def ferry(*args, timeout=20):
    return subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=timeout)


def test_subcommands_and_usage():
    p = ferry("version")
    assert p.returncode == 0 and p.stdout.startswith("ferry ")
    p = ferry("help")
    for cmd in ("agent", "cleanup", "dump", "status", "version"):
        assert "\n  %s " % cmd in p.stdout
    p = ferry("no-such-command")
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = ferry("agent", "--sync-period", "soon")
    assert p.returncode == 2 and "bad duration" in p.stderr


def test_status_without_agent_says_so():
    p = subprocess.run(["unshare", "-n", FERRY, "status"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "no agent answers" in p.stderr


@pytest.fixture
def conf(tmp_path):
    def write(text):
        f = tmp_path / "kube-proxy.yaml"
        f.write_text(text)
        return str(f)
    return write


def test_kube_proxy_config_bad_value_names_the_field(conf):
    path = conf("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                "nftables:\n  syncPeriod: every-now-and-then\n")
    p = ferry("agent", "--config", path)
    assert p.returncode == 2
    assert "syncPeriod" in p.stderr


def test_kube_proxy_config_unknown_fields_reported(conf):
    path = conf("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                "mode: nftables\nclientConnection:\n  kubeconfig: /nonexistent/kubeconfig\n"
                "nftables:\n  masqueradeAll: true\n  noSuchKnob: 3\n")
    # the kubeconfig named in the file is used (and is missing): the agent
    # stops there, after reporting the unknown field by its path
    p = subprocess.run(["unshare", "-n", FERRY, "agent", "--config", path, "--healthz-bind-address", "",
                        "--metrics-bind-address", ""], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert 'nftables.noSuchKnob' in p.stderr, p.stderr
    assert "/nonexistent/kubeconfig" in p.stderr, p.stderr
