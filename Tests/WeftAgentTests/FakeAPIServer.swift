import Foundation

/// A stand-in for the Kubernetes API, enough for weftd's kube backend: Nodes listed, fetched,
/// merge-patched (metadata.annotations and spec; status.conditions by strategic merge), deleted and
/// watched from a resourceVersion (line-delimited JSON, chunked), plus `POST /control/nodes` to create
/// one and `POST /control/outage` to drop every other request and cut the watches (and to end that
/// again). Python from the test machine, run in a test namespace.
enum FakeAPIServer {
    static let script = #"""
        import json, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs

        lock = threading.Condition()
        nodes, events, rv = {}, [], [0]
        # POST /control/outage {"down": true}: every request but /control is dropped without an answer and
        # open watches are cut mid-stream, as when the API server goes away behind its address.
        down = [False]

        def record(kind, node):
            rv[0] += 1
            node["metadata"]["resourceVersion"] = str(rv[0])
            events.append((rv[0], kind, json.loads(json.dumps(node))))
            lock.notify_all()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            def body(self):
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            def dropped(self):
                if down[0] and not self.path.startswith("/control/"):
                    self.close_connection = True
                    return True
                return False
            def do_GET(self):
                if self.dropped(): return
                url = urlparse(self.path)
                query = parse_qs(url.query)
                parts = url.path.strip("/").split("/")
                if url.path == "/api/v1/nodes" and query.get("watch") == ["true"]:
                    return self.watch(int((query.get("resourceVersion") or ["0"])[0] or 0))
                with lock:
                    if url.path == "/api/v1/nodes":
                        return self.reply(200, {"kind": "NodeList", "metadata": {"resourceVersion": str(rv[0])}, "items": list(nodes.values())})
                    if len(parts) == 4 and parts[3] in nodes:
                        return self.reply(200, nodes[parts[3]])
                self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
            def watch(self, since):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = since
                while True:
                    if down[0]:
                        self.close_connection = True
                        return
                    with lock:
                        pending = [e for e in events if e[0] > sent]
                        if not pending:
                            lock.wait(1)
                            continue
                    for number, kind, node in pending:
                        line = (json.dumps({"type": kind, "object": node}) + "\n").encode()
                        try:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                            self.wfile.flush()
                        except OSError:
                            return
                        sent = number
            def do_PATCH(self):
                if self.dropped(): return
                parts = self.path.strip("/").split("/")
                status = parts[-1] == "status"
                name = parts[-2] if status else parts[-1]
                patch = self.body()
                with lock:
                    if name not in nodes:
                        return self.reply(404, {"kind": "Status", "code": 404, "message": "node not found"})
                    if status:
                        # The status subresource, strategic merge: conditions merge by their "type" (the real API
                        # server's patchMergeKey); a JSON merge patch would replace the list, so it is refused here.
                        if self.headers.get("Content-Type") != "application/strategic-merge-patch+json":
                            return self.reply(415, {"kind": "Status", "code": 415, "message": "status: strategic merge only here"})
                        conditions = nodes[name].setdefault("status", {}).setdefault("conditions", [])
                        for condition in patch.get("status", {}).get("conditions", []):
                            conditions[:] = [c for c in conditions if c.get("type") != condition.get("type")] + [condition]
                    else:
                        annotations = nodes[name]["metadata"].setdefault("annotations", {})
                        annotations.update(patch.get("metadata", {}).get("annotations", {}))
                        nodes[name].setdefault("spec", {}).update(patch.get("spec", {}))
                    record("MODIFIED", nodes[name])
                    self.reply(200, nodes[name])
            def do_POST(self):
                if self.path == "/control/outage":
                    down[0] = bool(self.body().get("down"))
                    return self.reply(200, {"down": down[0]})
                if self.dropped(): return
                node = self.body()
                with lock:
                    nodes[node["metadata"]["name"]] = node
                    record("ADDED", node)
                    self.reply(201, node)
            def do_DELETE(self):
                if self.dropped(): return
                name = self.path.strip("/").split("/")[-1]
                with lock:
                    node = nodes.pop(name, None)
                    if node:
                        record("DELETED", node)
                    self.reply(200, node or {})

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
        """#

    static func kubeconfig(server: String) -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: test
        clusters:
        - name: fake
          cluster: {server: "\(server)"}
        users:
        - name: weftd
          user: {token: test-token}
        contexts:
        - name: test
          context: {cluster: fake, user: weftd}
        """
    }
}
