# SPDX-License-Identifier: GPL-2.0-or-later
"""Moving a node from kube-proxy to ferry (issue 7): `ferry cleanup` removes
kube-proxy's nftables leftovers and ferry's own tables, leaves an operator's
table alone, and ferry then serves the same Services on that node."""
import json
import os

from conftest import CLUSTER  # noqa: F401
from lib import seed

CLUSTER_ARGS = ["--nodes", "2", "--proxy", "kube-proxy"]

APP = seed.app("mig")


def tables(c, node):
    return c.exec(node, "nft", "list", "tables").stdout


def test_kube_proxy_to_ferry(cluster):
    c = cluster
    ferry = os.environ.get("FERRY_BIN") or os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build", "src", "ferry")
    c.apply(json.dumps(APP))
    svc = c.kjson("get", "service", "mig")
    np_ = svc["spec"]["ports"][0]["nodePort"]
    c.wait(lambda: c.curl("client", "http://192.0.2.11:%d/" % np_, check=False), 60, "kube-proxy serving")
    assert "table ip kube-proxy" in tables(c, "node1")

    c.run("agent", "stop", "node1")
    c.exec("node1", "nft", "add", "table", "inet", "operator-fw")
    c.exec("node1", ferry, "cleanup")
    t = tables(c, "node1")
    assert "kube-proxy" not in t and "ferry" not in t
    assert "table inet operator-fw" in t, "an operator's table is never touched"
    assert c.curl("client", "http://192.0.2.11:%d/" % np_, timeout=2, check=False) is None

    c.run("agent", "start", "node1", "--proxy", "ferry")
    body = c.wait(lambda: c.curl("client", "http://192.0.2.11:%d/" % np_, check=False), 60,
                  "ferry serving the same NodePort")
    assert body.startswith("Hello MyApp | Version: v2 | Pod Name: mig-")
    t = tables(c, "node1")
    assert "table ip ferry" in t and "kube-proxy" not in t
    c.exec("node1", "nft", "delete", "table", "inet", "operator-fw")
