import Foundation
import WeftTestSupport

/// A stand-in for the API server as weftd --services reads it: the discovery documents of
/// discovery.k8s.io (v1 and v1beta1, each served or not, as the first argument says: "v1,v1beta1",
/// "v1beta1" or "none"), one Node with its addresses, and the collections /api/v1/services,
/// /apis/discovery.k8s.io/{v1,v1beta1}/endpointslices and /api/v1/endpoints listed and watched from a
/// resourceVersion (a fieldSelector on metadata.name honoured, each request's query kept for
/// `GET /control/requests`). `POST /control/<collection path>` with a JSON object creates or replaces it
/// (ADDED/MODIFIED), `DELETE /control/<collection path>/<namespace>/<name>` deletes it. Python, on
/// 127.0.0.1 at a free port it prints.
final class FakeServicesAPI {
    static let script = #"""
        import json, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs

        served = sys.argv[1].split(",")
        lock = threading.Condition()
        rv = [100]
        collections = {p: {} for p in ["/api/v1/nodes", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices",
                                      "/apis/discovery.k8s.io/v1beta1/endpointslices", "/api/v1/endpoints"]}
        events = []
        requests = []  # each list or watch of a collection: its path and query, parsed
        node = {"metadata": {"name": "node-1", "resourceVersion": "100"}, "status": {"addresses": [
            {"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"},
            {"type": "InternalIP", "address": "127.0.0.1"}]}}

        collections["/api/v1/nodes"]["default/node-1"] = node

        def key(obj):
            m = obj["metadata"]
            return m.get("namespace", "default") + "/" + m["name"]

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
            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            def do_POST(self):
                path = urlparse(self.path).path[len("/control"):]
                obj = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with lock:
                    rv[0] += 1
                    obj["metadata"]["resourceVersion"] = str(rv[0])
                    kind = "MODIFIED" if key(obj) in collections[path] else "ADDED"
                    collections[path][key(obj)] = obj
                    events.append((rv[0], path, kind, obj))
                    lock.notify_all()
                self.reply(200, {})
            def do_DELETE(self):
                parts = urlparse(self.path).path[len("/control"):].rsplit("/", 2)
                path, k = parts[0], parts[1] + "/" + parts[2]
                with lock:
                    obj = collections[path].pop(k, None)
                    if obj is not None:
                        rv[0] += 1
                        events.append((rv[0], path, "DELETED", obj))
                        lock.notify_all()
                self.reply(200, {})
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                for version in ("v1", "v1beta1"):
                    if url.path == "/apis/discovery.k8s.io/" + version:
                        if version not in served:
                            return self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                        return self.reply(200, {"kind": "APIResourceList", "groupVersion": "discovery.k8s.io/" + version,
                            "resources": [{"name": "endpointslices", "namespaced": True, "kind": "EndpointSlice"}]})
                if url.path == "/api/v1/nodes/node-1":
                    with lock:
                        return self.reply(200, collections["/api/v1/nodes"]["default/node-1"])
                if url.path == "/control/requests":
                    with lock:
                        return self.reply(200, {"items": list(requests)})
                if url.path not in collections:
                    return self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                with lock:
                    requests.append({"path": url.path, "query": query})
                # fieldSelector: only metadata.name=X, as weftd asks for its Node.
                selected = lambda obj: True
                for selector in query.get("fieldSelector", []):
                    field, _, value = selector.partition("=")
                    if field != "metadata.name":
                        return self.reply(400, {"kind": "Status", "code": 400, "message": "field label not supported: " + field})
                    selected = lambda obj, value=value: obj["metadata"]["name"] == value
                if query.get("watch") == ["true"]:
                    return self.watch(url.path, int(query["resourceVersion"][0]), selected)
                with lock:
                    self.reply(200, {"metadata": {"resourceVersion": str(rv[0])},
                        "items": [o for o in collections[url.path].values() if selected(o)]})
            def watch(self, path, since, selected):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = since
                while True:
                    with lock:
                        pending = [e for e in events if e[0] > sent and e[1] == path and selected(e[3])]
                        if not pending:
                            sent = max([sent] + [e[0] for e in events])
                            lock.wait(1)
                            continue
                    try:
                        for number, _, kind, obj in pending:
                            self.chunk((json.dumps({"type": kind, "object": obj}) + "\n").encode())
                            sent = number
                    except OSError:
                        return

        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let directory: String
    let daemon: Daemon
    let server: String
    /// Run in this network namespace (and reached there), or in the test's.
    let namespace: String?

    /// Commands run where the server is.
    func inNamespace(_ arguments: [String]) -> [String] {
        namespace.map { ["/usr/sbin/ip", "netns", "exec", $0] + arguments } ?? arguments
    }

    init(serving versions: String, namespace: String? = nil) throws {
        self.namespace = namespace
        directory = "/tmp/weft-test-fakeservices-\(String(UUID().uuidString.prefix(8)).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.script.write(toFile: "\(directory)/server.py", atomically: true, encoding: .utf8)
        let started = try Daemon(
            (namespace.map { ["/usr/sbin/ip", "netns", "exec", $0] } ?? []) + ["/usr/bin/python3", "\(directory)/server.py", versions],
            logPath: "\(directory)/server.log")
        daemon = started
        var port = ""
        _ = waitUntil(timeout: 10) {
            port = started.log.split(separator: "\n").first.map(String.init) ?? ""
            return Int(port) != nil
        }
        guard Int(port) != nil else {
            started.stop(SIGKILL)
            throw TestFailure("fake API server did not start: \(started.log)")
        }
        server = "http://127.0.0.1:\(port)"
    }

    /// Creates or replaces `json` in the collection at `path`.
    func put(_ path: String, _ json: String) throws {
        let reply = try run(
            inNamespace(["/usr/bin/curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", json, "\(server)/control\(path)"]))
        guard reply.status == 0 else { throw TestFailure("put \(path): \(reply.stderr)") }
    }

    /// The queries of the lists and watches of the collection at `path`, in order, each parsed
    /// (a parameter to its values, as Python's parse_qs decodes them).
    func requests(_ path: String) throws -> [[String: [String]]] {
        let reply = try run(inNamespace(["/usr/bin/curl", "-sf", "\(server)/control/requests"]))
        guard reply.status == 0, let items = reply.json?["items"] as? [[String: Any]] else { throw TestFailure("requests: \(reply.stderr)") }
        return items.filter { $0["path"] as? String == path }.compactMap { $0["query"] as? [String: [String]] }
    }

    func delete(_ path: String, _ key: String) throws {
        let reply = try run(inNamespace(["/usr/bin/curl", "-sf", "-X", "DELETE", "\(server)/control\(path)/\(key)"]))
        guard reply.status == 0 else { throw TestFailure("delete \(path)/\(key): \(reply.stderr)") }
    }

    func cleanup() {
        daemon.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
