/// The fake Kubernetes API server's program (Python from the test machine), run by `FakeKubeAPI`.
/// Its one argument is a JSON file: `collections` (the paths listed and watched; anything else is 404
/// unless it is one of them plus an object's key), `objects` (collection path → objects there at the
/// start, no event), `documents` (path → a fixed JSON answer: discovery) and `address`/`port` (0: a free
/// port). It prints the port once it listens.
///
/// The API as clients meet it: lists (paged by `limit`/`continue`, in the order objects were created),
/// watches from a resourceVersion (line-delimited JSON, chunked; a watch with `timeoutSeconds` ends then
/// with a BOOKMARK, as the API server's do), GET, POST (create or replace), DELETE and PATCH of one object
/// at `<collection>/<key>`, the key `namespace/name` or `name` for objects without a namespace. PATCH
/// merges metadata.annotations and spec; on `/status` it is the status subresource, strategic merge only:
/// conditions merge by their "type" (the real API server's patchMergeKey), so a JSON merge patch, which
/// would replace the list, is refused with 415.
///
/// Under `/control/`, never refused nor dropped: `POST|DELETE /control/<collection>[/<key>]` as above,
/// `POST /control/add?collection=P&count=N` (N objects `p000101`… in namespace default),
/// `/control/compact` (versions bumped, every older one gone: a watch from one gets an ERROR 410 event),
/// `/control/gone-http` (the next watch refused with HTTP 410), `/control/bigline?bytes=N` (every later
/// watch first sends one line of N bytes), `/control/accept?token=T` (only that bearer token passes; 401
/// otherwise), `/control/hang` (every later watch sends its headers, then nothing, ever),
/// `/control/outage` with `{"down": bool}` (every other request dropped without an answer, open watches
/// cut, as when the API server goes away behind its address), and `GET /control/requests`: every other
/// request so far, its path and Authorization header.
enum FakeKubeAPIScript {
    static let source = #"""
        import json, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs

        config = json.load(open(sys.argv[1]))
        lock = threading.Condition()
        state = {"rv": 100, "compacted": 0, "gone_http": False, "bigline": 0, "accept": None, "hang": False, "down": False}
        collections = {path: {} for path in config.get("collections", [])}
        documents = config.get("documents", {})
        events, requests = [], []

        def key(obj):
            m = obj["metadata"]
            return m["namespace"] + "/" + m["name"] if m.get("namespace") else m["name"]

        for path, objects in config.get("objects", {}).items():
            for obj in objects:
                obj["metadata"].setdefault("resourceVersion", str(state["rv"]))
                collections.setdefault(path, {})[key(obj)] = obj

        def record(path, kind, obj):
            state["rv"] += 1
            obj["metadata"]["resourceVersion"] = str(state["rv"])
            events.append((state["rv"], path, kind, json.loads(json.dumps(obj))))
            lock.notify_all()

        def locate(path):
            """The collection and key of an object's path (with "/status" when it is the subresource)."""
            for collection in collections:
                if path.startswith(collection + "/"):
                    return collection, path[len(collection) + 1:]
            return None, None

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
            def missing(self, what="not found"):
                self.reply(404, {"kind": "Status", "code": 404, "message": what})
            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            def body(self):
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

            def route(self):
                """The path without /control and the query; None when the request is dropped or refused."""
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path.startswith("/control/"):
                    return url.path[len("/control"):], query, True
                with lock:
                    down = state["down"]
                    if not down:
                        requests.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                        accepted = state["accept"] is None or self.headers.get("Authorization") == "Bearer " + state["accept"]
                if down:
                    self.close_connection = True
                    return None
                if not accepted:
                    self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
                    return None
                return url.path, query, False

            def control(self, path, query):
                with lock:
                    if path == "/add":
                        collection = collections.setdefault(query["collection"][0], {})
                        for _ in range(int(query["count"][0])):
                            obj = {"metadata": {"name": "p%06d" % (state["rv"] + 1), "namespace": "default"}}
                            collection[key(obj)] = obj
                            record(query["collection"][0], "ADDED", obj)
                    elif path == "/compact":
                        state["rv"] += 5  # changes to other kinds, then etcd compacts up to now
                        state["compacted"] = state["rv"]
                    elif path == "/gone-http": state["gone_http"] = True
                    elif path == "/bigline": state["bigline"] = int(query["bytes"][0])
                    elif path == "/accept": state["accept"] = query["token"][0]
                    elif path == "/hang": state["hang"] = True
                    elif path == "/outage":
                        state["down"] = bool(self.body().get("down"))
                        lock.notify_all()
                    else:
                        return False
                self.reply(200, {"down": state["down"]})
                return True

            def do_GET(self):
                routed = self.route()
                if routed is None: return
                path, query, control = routed
                if control and path == "/requests":
                    with lock: return self.reply(200, {"requests": requests})
                if path in documents:
                    return self.reply(200, documents[path])
                if path in collections:
                    # fieldSelector: metadata.name=X only (weftd asks so for its own Node), as the API server filters.
                    selected = lambda obj: True
                    for selector in query.get("fieldSelector", []):
                        field, _, value = selector.partition("=")
                        if field != "metadata.name":
                            return self.reply(400, {"kind": "Status", "code": 400, "message": "field label not supported: " + field})
                        selected = lambda obj, value=value: obj.get("metadata", {}).get("name") == value
                    if query.get("watch") == ["true"]:
                        timeout = query.get("timeoutSeconds")
                        return self.watch(path, int((query.get("resourceVersion") or ["0"])[0] or 0), int(timeout[0]) if timeout else None, selected)
                    return self.list(path, query, selected)
                collection, name = locate(path)
                with lock:
                    if collection is not None and name in collections[collection]:
                        return self.reply(200, collections[collection][name])
                self.missing()

            def list(self, path, query, selected):
                with lock:
                    names = [n for n, obj in collections[path].items() if selected(obj)]
                    start = int((query.get("continue") or ["0"])[0])
                    limit = int((query.get("limit") or [str(len(names))])[0])
                    page = names[start:start + limit]
                    more = start + limit < len(names)
                    meta = {"resourceVersion": str(state["rv"]), "continue": str(start + limit) if more else ""}
                    self.reply(200, {"metadata": meta, "items": [collections[path][n] for n in page]})

            def watch(self, path, since, timeout, selected):
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
                try:
                    if gone:
                        self.chunk((json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}) + "\n").encode())
                        return self.chunk(b"")
                    if big:
                        piece = b"x" * (1 << 20)
                        self.chunk(b'{"type":"ADDED","object":{"metadata":{"name":"')
                        for _ in range(big >> 20):
                            self.chunk(piece)
                        self.chunk(b'"}}}\n')
                    end = None if timeout is None else time.time() + timeout
                    sent = since
                    while end is None or time.time() < end:
                        with lock:
                            if state["down"]:
                                self.close_connection = True
                                return
                            pending = [e for e in events if e[0] > sent and e[1] == path and selected(e[3])]
                            if not pending:
                                sent = max([sent] + [e[0] for e in events])
                                lock.wait(0.2)
                                continue
                        for number, _, kind, obj in pending:
                            self.chunk((json.dumps({"type": kind, "object": obj}) + "\n").encode())
                            sent = number
                    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(sent)}}}
                    self.chunk((json.dumps(bookmark) + "\n").encode())
                    self.chunk(b"")
                except OSError:
                    return

            def do_POST(self):
                routed = self.route()
                if routed is None: return
                path, query, control = routed
                if control and self.control(path, query): return
                if path not in collections: return self.missing()
                obj = self.body()
                with lock:
                    replaced = key(obj) in collections[path]
                    collections[path][key(obj)] = obj
                    record(path, "MODIFIED" if replaced else "ADDED", obj)
                    self.reply(200 if replaced else 201, obj)

            def do_DELETE(self):
                routed = self.route()
                if routed is None: return
                collection, name = locate(routed[0])
                with lock:
                    obj = collections[collection].pop(name, None) if collection is not None else None
                    if obj is not None:
                        record(collection, "DELETED", obj)
                    self.reply(200, obj or {})

            def do_PATCH(self):
                routed = self.route()
                if routed is None: return
                collection, name = locate(routed[0])
                status = name is not None and name.endswith("/status")
                if status:
                    name = name[:-len("/status")]
                patch = self.body()
                with lock:
                    if collection is None or name not in collections[collection]:
                        return self.missing("object not found")
                    obj = collections[collection][name]
                    if status:
                        if self.headers.get("Content-Type") != "application/strategic-merge-patch+json":
                            return self.reply(415, {"kind": "Status", "code": 415, "message": "status: strategic merge only here"})
                        conditions = obj.setdefault("status", {}).setdefault("conditions", [])
                        for condition in patch.get("status", {}).get("conditions", []):
                            conditions[:] = [c for c in conditions if c.get("type") != condition.get("type")] + [condition]
                    else:
                        obj["metadata"].setdefault("annotations", {}).update(patch.get("metadata", {}).get("annotations", {}))
                        obj.setdefault("spec", {}).update(patch.get("spec", {}))
                    record(collection, "MODIFIED", obj)
                    self.reply(200, obj)

        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer((config.get("address", "127.0.0.1"), config.get("port", 0)), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#
}
