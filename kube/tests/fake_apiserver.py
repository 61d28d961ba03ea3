#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake Kubernetes API server for the kube/ unit tests (stdlib only).

Serves paged lists and chunked watch streams of Services over HTTP/1.1 on
127.0.0.1, and takes commands from the test on POST /control:
  {"op": "put", "object": {...}}          add or modify, emit an event
  {"op": "delete", "name": N}             delete, emit an event
    (put/delete take an optional "path": the object's collection, which they
    also serve; such an object shows only there, one without in every served
    collection, and a merge PATCH of its /status applies to it and emits an event)
  {"op": "quiet_put"|"quiet_delete", ...} change state, emit nothing (a missed event)
  {"op": "compact"}                       forget history: watches get ERROR 410
  {"op": "cut"}                           close every watch mid-event
  {"op": "bookmark"}                      send a BOOKMARK to every watch
  {"op": "raw", "data": "..."}            write raw bytes into every watch
  {"op": "fail_lists", "count": N}        answer the next N lists with 500
  {"op": "gone_watches", "count": N}      answer the next N watches with 410 at once
  {"op": "stats"}                         counters as JSON
  {"op": "conflicts", "count": N}         answer the next N PUTs with 409
  {"op": "forget", "prefix": P}           drop stored objects under P (event expiry)
  {"op": "serve", "path": P}              also list/watch the objects at collection P
                                          (and P's per-namespace form); else 404
  {"op": "forbid"|"permit", "path": P}    answer GETs of exactly P (any query) 403, or stop
  {"op": "late_status", "path": P}        the next merge PATCH of P (an object's /status)
                                          is applied, then the object deleted (an event),
                                          then answered 200 a second later
Any other path is a plain object store for the write tests: POST to a
collection, GET/PUT (resourceVersion checked: 409)/PATCH (merge, JSON
patch; a metadata.resourceVersion in a merge patch is a precondition: 409)/DELETE
on an object; GET /control/store?prefix=P the stored objects under P; GET /control/log lists the writes seen, GET /control/requests every GET
(path with query, Authorization header).
Prints the port on stdout, then serves until stdin closes.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Condition()
state = {"rv": 1000, "compacted": 0, "objects": {}, "log": [], "cut": 0,
         "fail_lists": 0, "gone_watches": 0, "lists": 0, "watches": 0, "raw": [], "bookmarks": 0,
         "gen": 0, "store": {}, "writes": [], "conflicts": 0, "requests": [],
         "serve": {"/api/v1/services"}, "forbid": set(), "colls": {}, "late_status": set()}


def collection(path):
    """The namespace filter ("" for all) when path is a served collection, else None."""
    if path in state["serve"]:
        return ""
    parts = path.split("/")
    if "namespaces" in parts:
        i = parts.index("namespaces")
        if i + 3 == len(parts) and "/".join(parts[:i] + parts[i + 2:]) in state["serve"]:
            return parts[i + 1]
    return None


def base_collection(path):
    """The cluster-wide form of a served collection path (the path itself when not namespaced)."""
    parts = path.split("/")
    if "namespaces" in parts:
        i = parts.index("namespaces")
        if i + 3 == len(parts):
            return "/".join(parts[:i] + parts[i + 2:])
    return path


def selects(o, ns, name, coll=None, want=None):
    md = o.get("metadata", {})
    return (not ns or md.get("namespace") == ns) and (not name or md.get("name") == name) and \
        (coll is None or coll == want)


def merge(dst, patch):
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = v


def json_patch(obj, ops):
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        cur = obj
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(cur, list):
                if last == "-":
                    cur.append(op["value"])
                else:
                    cur.insert(int(last), op["value"]) if op["op"] == "add" else cur.__setitem__(int(last), op["value"])
            else:
                cur[last] = op["value"]
        elif op["op"] == "remove":
            del cur[int(last) if isinstance(cur, list) else last]
        elif op["op"] == "test":
            if (cur[int(last)] if isinstance(cur, list) else cur.get(last)) != op["value"]:
                raise ValueError("test failed")


def make_service(i):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc-%d" % i, "namespace": "ns-%d" % (i % 7),
                         "uid": "uid-%d" % i, "annotations": {"note": "a%d" % i}},
            "spec": {"type": "ClusterIP", "clusterIP": "198.18.%d.%d" % (i // 250, i % 250 + 1),
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}


def key(o, coll=None):
    md = o.get("metadata", {})
    k = "%s/%s" % (md.get("namespace", ""), md.get("name", ""))
    return k if coll is None else coll + "|" + k


def put(o, quiet=False, coll=None):
    state["rv"] += 1
    o.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
    k = key(o, coll)
    typ = "MODIFIED" if k in state["objects"] else "ADDED"
    state["objects"][k] = o
    state["colls"][k] = coll
    if coll is not None:
        state["serve"].add(coll)
    if not quiet:
        state["log"].append((state["rv"], typ, o, coll))


def delete(k, quiet=False, coll=None):
    if coll is not None:
        k = coll + "|" + k
    o = state["objects"].pop(k, None)
    if o is None:
        return
    state["colls"].pop(k, None)
    state["rv"] += 1
    o = json.loads(json.dumps(o))
    o["metadata"]["resourceVersion"] = str(state["rv"])
    if not quiet:
        state["log"].append((state["rv"], "DELETED", o, coll))


def status_patch(path, body):
    """A merge PATCH of .../NAME/status of an object put with a path: applied, an event. None if no such object."""
    if not path.endswith("/status") or not isinstance(body, dict):
        return None
    parts = path[:-len("/status")].split("/")
    coll, name = base_collection("/".join(parts[:-1])), parts[-1]
    ns = ""
    if "namespaces" in parts:
        ns = parts[parts.index("namespaces") + 1]
    k = "%s|%s/%s" % (coll, ns, name)
    if k not in state["objects"]:
        return None
    o = json.loads(json.dumps(state["objects"][k]))
    merge(o, {"status": body.get("status", {})})
    put(o, coll=coll)
    return o


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": msg, "reason": reason, "code": code})

    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(n) or b"{}")

    def store_op(self, method):
        path = urlparse(self.path).path
        body = self.body() if method in ("POST", "PUT", "PATCH") else None
        with lock:
            state["writes"].append([method, path, self.headers.get("Content-Type", "")])
            st = state["store"]
            if method == "GET":
                if path not in st:
                    return self.status(404, "NotFound", "%s not found" % path)
                return self.send_json(200, st[path])
            if method == "POST":
                k = path + "/" + body.get("metadata", {}).get("name", "")
                if k in st:
                    return self.status(409, "AlreadyExists", "%s already exists" % k)
                state["rv"] += 1
                body.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
                st[k] = body
                return self.send_json(201, body)
            if method == "PATCH" and self.headers.get("Content-Type", "") == "application/merge-patch+json":
                o = status_patch(path, body)
                if o is not None:
                    return self.send_json(200, o)
            base = path[:-len("/status")] if path.endswith("/status") and path not in st else path
            if base not in st:
                return self.status(404, "NotFound", "%s not found" % path)
            if method == "DELETE":
                del st[base]
                return self.send_json(200, {"kind": "Status", "status": "Success"})
            if method == "PUT":
                if state["conflicts"] > 0 or body.get("metadata", {}).get("resourceVersion") != \
                        st[base]["metadata"]["resourceVersion"]:
                    state["conflicts"] = max(0, state["conflicts"] - 1)
                    return self.status(409, "Conflict", "the object has been modified; please apply "
                                       "your changes to the latest version and try again")
                obj = body
            else:
                want = body.get("metadata", {}).get("resourceVersion") if isinstance(body, dict) else None
                if want is not None and want != st[base]["metadata"]["resourceVersion"]:
                    return self.status(409, "Conflict", "the object has been modified; please apply "
                                       "your changes to the latest version and try again")
                obj = json.loads(json.dumps(st[base]))
                ctype = self.headers.get("Content-Type", "")
                try:
                    if ctype == "application/json-patch+json":
                        json_patch(obj, body)
                    elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                        merge(obj, body)
                    else:
                        return self.status(415, "UnsupportedMediaType", "bad patch type " + ctype)
                except (ValueError, KeyError, IndexError):
                    return self.status(422, "Invalid", "patch does not apply")
            state["rv"] += 1
            obj.setdefault("metadata", {})["resourceVersion"] = str(state["rv"])
            st[base] = obj
            return self.send_json(200, obj)

    def do_PUT(self):
        self.store_op("PUT")

    def do_PATCH(self):
        path = urlparse(self.path).path
        with lock:
            late = path in state["late_status"]
            state["late_status"].discard(path)
        if not late:
            return self.store_op("PATCH")
        # A status write that succeeds while its object is deleted: applied,
        # the object deleted (a watch event), the answer a second later.
        body = self.body()
        with lock:
            o = status_patch(path, body)
            if o is not None:
                coll = base_collection(path[:-len("/status")].rsplit("/", 1)[0])
                delete(key(o), coll=coll)
            state["gen"] += 1
            lock.notify_all()
        time.sleep(1.0)
        if o is None:
            return self.status(404, "NotFound", "%s not found" % path)
        self.send_json(200, o)

    def do_DELETE(self):
        self.store_op("DELETE")

    def do_POST(self):
        if urlparse(self.path).path != "/control":
            return self.store_op("POST")
        cmd = self.body()
        with lock:
            op = cmd.get("op")
            if op in ("put", "quiet_put"):
                put(cmd["object"], quiet=op == "quiet_put", coll=cmd.get("path"))
            elif op in ("delete", "quiet_delete"):
                delete(cmd["name"], quiet=op == "quiet_delete", coll=cmd.get("path"))
            elif op == "compact":
                state["compacted"] = state["rv"]
                state["log"] = []
            elif op == "cut":
                state["cut"] += 1
            elif op == "bookmark":
                state["bookmarks"] += 1
            elif op == "raw":
                state["raw"].append(cmd["data"])
            elif op == "fail_lists":
                state["fail_lists"] = cmd["count"]
            elif op == "gone_watches":
                state["gone_watches"] = cmd["count"]
            elif op == "conflicts":
                state["conflicts"] = cmd["count"]
            elif op == "late_status":
                state["late_status"].add(cmd["path"])
            elif op == "serve":
                state["serve"].add(cmd["path"])
            elif op == "forbid":
                state["forbid"].add(cmd["path"])
            elif op == "permit":
                state["forbid"].discard(cmd["path"])
            elif op == "forget":
                for k in [k for k in state["store"] if k.startswith(cmd["prefix"])]:
                    del state["store"][k]
            state["gen"] += 1
            lock.notify_all()
            out = {k: state[k] for k in ("rv", "lists", "watches", "fail_lists")}
            out["objects"] = len(state["objects"])
        self.send_json(200, out)

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/control/store":
            with lock:
                return self.send_json(200, {k: v for k, v in state["store"].items()
                                            if k.startswith(q.get("prefix", ""))})
        if u.path == "/control/requests":
            with lock:
                return self.send_json(200, state["requests"])
        with lock:
            state["requests"].append([self.path, self.headers.get("Authorization", "")])
        if u.path == "/control/log":
            with lock:
                return self.send_json(200, state["writes"])
        with lock:
            ns = collection(u.path)
            want = base_collection(u.path)
            forbidden = u.path in state["forbid"]
        if forbidden:
            return self.status(403, "Forbidden", 'cannot list resource at "%s" (injected)' % u.path)
        if ns is None:
            return self.store_op("GET")
        fs = q.get("fieldSelector", "")
        name = fs[len("metadata.name="):] if fs.startswith("metadata.name=") else ""
        if q.get("watch"):
            return self.watch(q, ns, name, want)
        with lock:
            state["lists"] += 1
            if state["fail_lists"] > 0:
                state["fail_lists"] -= 1
                return self.status(500, "InternalError", "injected failure")
            keys = sorted(k for k, o in state["objects"].items()
                          if selects(o, ns, name, state["colls"].get(k), want))
            start = int(q.get("continue", "0") or 0)
            limit = int(q.get("limit", "0") or 0) or len(keys)
            page = [state["objects"][k] for k in keys[start:start + limit]]
            cont = str(start + limit) if start + limit < len(keys) else ""
            rv = str(state["rv"])
        md = {"resourceVersion": rv}
        if cont:
            md["continue"] = cont
        self.send_json(200, {"kind": "ServiceList", "apiVersion": "v1", "metadata": md, "items": page})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, q, ns="", name="", want=None):
        rv = int(q.get("resourceVersion") or 0)
        with lock:
            state["watches"] += 1
            if state["gone_watches"] > 0:
                state["gone_watches"] -= 1
                return self.status(410, "Expired", "too old resource version: %d (injected)" % rv)
            if rv < state["compacted"]:
                return self.status(410, "Expired", "too old resource version: %d (%d)" % (rv, state["compacted"]))
            cut, bookmarks, raw = state["cut"], state["bookmarks"], len(state["raw"])
            compacted = state["compacted"]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                with lock:
                    if state["compacted"] != compacted:
                        ev = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "too old resource version", "reason": "Expired",
                              "code": 410}}
                        self.chunk(json.dumps(ev).encode() + b"\n")
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    if state["cut"] != cut:
                        # half an event, then the connection drops
                        self.wfile.write(b"40\r\n{\"type\":\"MODIFIED\",\"object\":{\"metadata\"")
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    evs = [e for e in state["log"] if e[0] > rv]
                    out = b""
                    for e in evs:
                        if selects(e[2], ns, name, e[3], want):
                            out += json.dumps({"type": e[1], "object": e[2]}).encode() + b"\n"
                        rv = e[0]
                    while state["bookmarks"] > bookmarks:
                        bookmarks += 1
                        out += json.dumps({"type": "BOOKMARK", "object": {"kind": "Service", "apiVersion": "v1",
                                          "metadata": {"resourceVersion": str(state["rv"])}}}).encode() + b"\n"
                    while len(state["raw"]) > raw:
                        out += state["raw"][raw].encode()
                        raw += 1
                    if not out:
                        lock.wait(timeout=1)
                        continue
                # split the events at odd places, as TCP does
                for i in range(0, len(out), 777):
                    self.chunk(out[i:i + 777])
        except (BrokenPipeError, ConnectionResetError):
            return


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    for i in range(n):
        put(make_service(i), quiet=True)
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients hanging up mid-request are part of the tests

    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
