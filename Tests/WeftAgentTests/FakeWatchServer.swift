import Foundation
import WeftTestSupport

/// A stand-in for one Kubernetes collection (/api/v1/pods) as the Informer sees it: lists paginated
/// by `limit`/`continue`, watches from a resourceVersion that end after `timeoutSeconds`, and what a
/// test needs to provoke: `POST /control/add?count=N` (N pods), `POST /control/compact` (versions bumped,
/// every older one gone: 410), `POST /control/gone-http` (the next watch refused with HTTP 410), `POST
/// /control/bigline?bytes=N` (the next watch and every later one sends one line of N bytes), `POST /control/accept?token=T`
/// (only that bearer token passes; 401 otherwise), `POST /control/hang` (every later
/// watch sends its headers, then nothing, ever). `GET /control/requests` is every request: path
/// and Authorization header. Python, run on 127.0.0.1 at a free port it prints.
final class FakeWatchServer {
    static let script = #"""
        import json, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs

        lock = threading.Condition()
        state = {"rv": 100, "compacted": 0, "gone_http": False, "bigline": 0, "accept": None, "hang": False}
        pods, events, requests = {}, [], []

        def add(count):
            for _ in range(count):
                state["rv"] += 1
                name = "p%06d" % state["rv"]
                pod = {"metadata": {"name": name, "namespace": "default", "resourceVersion": str(state["rv"])}}
                pods[name] = pod
                events.append((state["rv"], "ADDED", pod))
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
            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            def do_POST(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                with lock:
                    if url.path == "/control/add": add(int(query["count"][0]))
                    elif url.path == "/control/compact":
                        state["rv"] += 5  # changes to other kinds, then etcd compacts up to now
                        state["compacted"] = state["rv"]
                    elif url.path == "/control/gone-http": state["gone_http"] = True
                    elif url.path == "/control/bigline": state["bigline"] = int(query["bytes"][0])
                    elif url.path == "/control/accept": state["accept"] = query["token"][0]
                    elif url.path == "/control/hang": state["hang"] = True
                self.reply(200, {})
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path == "/control/requests":
                    with lock: return self.reply(200, {"requests": requests})
                with lock:
                    requests.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                    if state["accept"] is not None and self.headers.get("Authorization") != "Bearer " + state["accept"]:
                        return self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
                if url.path != "/api/v1/pods":
                    return self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                if query.get("watch") == ["true"]:
                    return self.watch(int(query["resourceVersion"][0]), int(query.get("timeoutSeconds", ["60"])[0]))
                with lock:
                    names = sorted(pods)
                    start = int((query.get("continue") or ["0"])[0])
                    limit = int((query.get("limit") or [str(len(names))])[0])
                    page = names[start:start + limit]
                    more = start + limit < len(names)
                    meta = {"resourceVersion": str(state["rv"]), "continue": str(start + limit) if more else ""}
                    self.reply(200, {"kind": "PodList", "metadata": meta, "items": [pods[n] for n in page]})
            def watch(self, since, timeout):
                with lock:
                    if state["gone_http"]:
                        state["gone_http"] = False
                        return self.reply(410, {"kind": "Status", "code": 410, "message": "too old resource version (http)"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                with lock:
                    hang = state["hang"]
                while hang:  # a dead connection: no byte, never closed
                    time.sleep(1)
                with lock:
                    big = state["bigline"]  # every watch meets it again, as a resumed watch would
                    gone = since < state["compacted"]
                if gone:
                    self.chunk((json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}) + "\n").encode())
                    return self.chunk(b"")
                if big:
                    piece = b"x" * (1 << 20)
                    self.chunk(b'{"type":"ADDED","object":{"metadata":{"name":"')
                    for _ in range(big >> 20):
                        self.chunk(piece)
                    self.chunk(b'"}}}\n')
                end = time.time() + timeout
                sent = since
                while time.time() < end:
                    with lock:
                        pending = [e for e in events if e[0] > sent]
                        if not pending:
                            lock.wait(0.2)
                            continue
                    for number, kind, pod in pending:
                        self.chunk((json.dumps({"type": kind, "object": pod}) + "\n").encode())
                        sent = number
                with lock:
                    bookmark = {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": str(sent)}}}
                self.chunk((json.dumps(bookmark) + "\n").encode())
                self.chunk(b"")

        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let directory: String
    let daemon: Daemon
    let server: String

    init() throws {
        directory = "/tmp/weft-test-fakewatch-\(String(UUID().uuidString.prefix(8)).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.script.write(toFile: "\(directory)/server.py", atomically: true, encoding: .utf8)
        let started = try Daemon(["/usr/bin/python3", "\(directory)/server.py"], logPath: "\(directory)/server.log")
        daemon = started
        var port = ""
        _ = waitUntil(timeout: 10) {
            port = started.log.split(separator: "\n").first.map(String.init) ?? ""
            return Int(port) != nil
        }
        guard Int(port) != nil else { started.stop(SIGKILL); throw TestFailure("fake watch server did not start: \(started.log)") }
        server = "http://127.0.0.1:\(port)"
    }

    @discardableResult
    func control(_ path: String, method: String = "POST") throws -> String {
        let reply = try run(["/usr/bin/curl", "-sf", "-X", method, "\(server)/control/\(path)"])
        guard reply.status == 0 else { throw TestFailure("control \(path): \(reply.stderr)") }
        return reply.stdout
    }

    /// Every request so far: (path with query, Authorization header).
    func requests() throws -> [(path: String, authorization: String)] {
        let data = Data(try control("requests", method: "GET").utf8)
        let list = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["requests"] as? [[String: String]] ?? []
        return list.map { ($0["path"] ?? "", $0["authorization"] ?? "") }
    }

    func cleanup() {
        daemon.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
