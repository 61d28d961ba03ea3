# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal Kubernetes API client for the test infrastructure (stdlib only):
TLS with client certificates, JSON requests, and line-delimited watch streams.
"""
import http.client
import json
import socket
import ssl
import urllib.parse


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body[:300]))
        self.status = status
        self.body = body


class Client:
    def __init__(self, server, ca, cert=None, key=None, token=None, timeout=30):
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        if cert:
            self.ctx.load_cert_chain(cert, key)
        self.token = token
        self.timeout = timeout

    def _conn(self, timeout=None):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                           timeout=timeout or self.timeout)

    def _headers(self, ctype="application/json"):
        h = {"Accept": "application/json", "Content-Type": ctype}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def request(self, method, path, body=None, ctype="application/json", ok=(200, 201, 202)):
        c = self._conn()
        try:
            data = json.dumps(body) if body is not None else None
            c.request(method, path, body=data, headers=self._headers(ctype))
            r = c.getresponse()
            raw = r.read().decode()
            if r.status not in ok:
                raise ApiError(r.status, raw)
            return json.loads(raw) if raw else None
        finally:
            c.close()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body):
        return self.request("POST", path, body)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body, kind="merge"):
        ctype = {"merge": "application/merge-patch+json",
                 "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[kind]
        return self.request("PATCH", path, body, ctype=ctype)

    def delete(self, path, body=None):
        return self.request("DELETE", path, body)

    def watch(self, path, params, stop, timeout_s=300):
        """Yield (type, object) from a watch until the stream ends or stop() is true.
        Raises ApiError on a non-200 answer."""
        q = dict(params, watch="true", timeoutSeconds=str(timeout_s),
                 allowWatchBookmarks="true")
        c = self._conn(timeout=timeout_s + 30)
        try:
            c.request("GET", path + "?" + urllib.parse.urlencode(q), headers=self._headers())
            r = c.getresponse()
            if r.status != 200:
                raise ApiError(r.status, r.read().decode())
            while not stop():
                try:
                    line = r.readline()
                except (socket.timeout, OSError):
                    return
                if not line:
                    return
                ev = json.loads(line)
                yield ev["type"], ev["object"]
        finally:
            c.close()
