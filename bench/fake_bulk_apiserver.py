#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Serve N Services and N EndpointSlices (E endpoints each) shaped like a real
API server's (managedFields, last-applied annotations, targetRefs), paged
lists and idle watches, for bench/kube_cache.c without a cluster.

    bench/fake_bulk_apiserver.py N E PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

N, E, PORT = (int(a) for a in sys.argv[1:4])
RV = "123456"


def service(i):
    name, ns = "svc-%05d" % i, "bench-%d" % (i % 20)
    spec = {"clusterIP": "198.19.%d.%d" % (i // 250, i % 250 + 1),
            "clusterIPs": ["198.19.%d.%d" % (i // 250, i % 250 + 1)],
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                      {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}],
            "selector": {"app": name}, "sessionAffinity": "None", "type": "ClusterIP"}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": "00000000-0000-4000-8000-%012d" % i,
                         "resourceVersion": str(1000 + i), "creationTimestamp": "2026-11-26T12:00:00Z",
                         "labels": {"app": name, "tier": "backend"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                             {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                              "spec": {"ports": spec["ports"], "selector": spec["selector"]}})},
                         "managedFields": [{"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubectl",
                                            "operation": "Update", "time": "2026-11-26T12:00:00Z",
                                            "fieldsV1": {"f:spec": {"f:ports": {}, "f:selector": {}}}}]},
            "spec": spec, "status": {"loadBalancer": {}}}


def slice_(i):
    name, ns = "svc-%05d" % i, "bench-%d" % (i % 20)
    eps = [{"addresses": ["198.18.%d.%d" % ((i * E + k) // 250 % 256, (i * E + k) % 250 + 1)],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "node%d" % (k % 50), "zone": "zone-%d" % (k % 3),
            "targetRef": {"kind": "Pod", "name": "%s-%d" % (name, k), "namespace": ns,
                          "uid": "11111111-0000-4000-8000-%012d" % (i * E + k)}} for k in range(E)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name + "-abcde", "namespace": ns, "generateName": name + "-",
                         "uid": "22222222-0000-4000-8000-%012d" % i, "resourceVersion": str(50000 + i),
                         "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                    "kubernetes.io/service-name": name},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-26T12:00:00Z"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name, "controller": True,
                                              "blockOwnerDeletion": True, "uid": "00000000-0000-4000-8000-%012d" % i}]},
            "endpoints": eps,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "https", "port": 8443, "protocol": "TCP"}]}


MAKERS = {"/api/v1/services": ("ServiceList", service),
          "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSliceList", slice_)}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path not in MAKERS:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if q.get("watch"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            threading.Event().wait(int(q.get("timeoutSeconds", "300")))
            self.wfile.write(b"0\r\n\r\n")
            return
        kind, make = MAKERS[u.path]
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or N)
        items = [make(i) for i in range(start, min(N, start + limit))]
        md = {"resourceVersion": RV}
        if start + limit < N:
            md["continue"] = str(start + limit)
        body = json.dumps({"kind": kind, "apiVersion": "v1", "metadata": md, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
srv.daemon_threads = True
srv.serve_forever()
