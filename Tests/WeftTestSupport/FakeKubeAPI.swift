import Foundation

/// The test targets' one stand-in for the Kubernetes API server: any collections listed and watched,
/// objects created, patched and deleted, fixed documents (discovery), and the faults tests provoke
/// (`FakeKubeAPIScript` says what it serves). Runs on `address` (127.0.0.1) at `port` (0: a free one),
/// in network namespace `namespace` when given (and is reached there), else in the test's.
public final class FakeKubeAPI {
    public let directory: String
    public let daemon: Daemon
    /// `http://address:port`.
    public let server: String
    public let namespace: String?

    /// `objects`: collection path → JSON objects there at the start (no event); `documents`: path → the
    /// JSON answered there.
    public init(
        collections: [String], objects: [String: [String]] = [:], documents: [String: String] = [:], namespace: String? = nil,
        address: String = "127.0.0.1", port: Int = 0
    ) throws {
        self.namespace = namespace
        directory = "/tmp/weft-test-fakeapi-\(TestNamespace.uniqueID())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FakeKubeAPIScript.source.write(toFile: "\(directory)/server.py", atomically: true, encoding: .utf8)
        let config: [String: Any] = [
            "collections": collections, "address": address, "port": port,
            "objects": try objects.mapValues { try $0.map(Self.parse) },
            "documents": try documents.mapValues(Self.parse),
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(directory)/config.json"))
        let started = try Daemon(
            Self.inNamespace(namespace, ["/usr/bin/python3", "\(directory)/server.py", "\(directory)/config.json"]),
            logPath: "\(directory)/server.log")
        daemon = started
        var port = ""
        _ = waitUntil(timeout: 30) {
            port = started.log.split(separator: "\n").first.map(String.init) ?? ""
            return Int(port) != nil
        }
        guard Int(port) != nil else {
            started.stop(SIGKILL)
            try? FileManager.default.removeItem(atPath: directory)
            throw TestFailure("fake API server did not start: \(started.log)")
        }
        server = "http://\(address):\(port)"
    }

    private static func parse(_ json: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(json.utf8))
    }

    private static func inNamespace(_ namespace: String?, _ arguments: [String]) -> [String] {
        namespace.map { ["/usr/sbin/ip", "netns", "exec", $0] + arguments } ?? arguments
    }

    /// `arguments` run where the server is.
    public func inNamespace(_ arguments: [String]) -> [String] { Self.inNamespace(namespace, arguments) }

    /// One request from where the server is (curl -sf: an answer of 400 or more is a non-zero status).
    @discardableResult
    public func request(_ method: String, _ path: String, body: String? = nil) throws -> ProgramResult {
        let command = inNamespace(
            ["/usr/bin/curl", "-sf", "-X", method, server + path] + (body.map { ["-H", "Content-Type: application/json", "--data-binary", $0] } ?? []))
        return try runProgram(command[0], Array(command.dropFirst()), environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    }

    /// Creates or replaces `json` in the collection at `path`.
    public func put(_ path: String, _ json: String) throws {
        let reply = try request("POST", "/control\(path)", body: json)
        guard reply.status == 0 else { throw TestFailure("put \(path): \(reply.stderr)") }
    }

    /// Deletes the object `key` (`namespace/name`, or `name`) of the collection at `path`.
    public func delete(_ path: String, _ key: String) throws {
        let reply = try request("DELETE", "/control\(path)/\(key)")
        guard reply.status == 0 else { throw TestFailure("delete \(path)/\(key): \(reply.stderr)") }
    }

    /// `/control/<path>`: the faults and records `FakeKubeAPIScript` lists.
    @discardableResult
    public func control(_ path: String, method: String = "POST", body: String? = nil) throws -> String {
        let reply = try request(method, "/control/\(path)", body: body)
        guard reply.status == 0 else { throw TestFailure("control \(path): \(reply.stderr)") }
        return reply.stdout
    }

    /// Every request so far but the control ones: (path with query, Authorization header).
    public func requests() throws -> [(path: String, authorization: String)] {
        let data = Data(try control("requests", method: "GET").utf8)
        let list = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["requests"] as? [[String: String]] ?? []
        return list.map { ($0["path"] ?? "", $0["authorization"] ?? "") }
    }

    /// The queries of the requests for exactly `path` so far (each name with its values, as the URL had them).
    public func queries(_ path: String) throws -> [[String: [String]]] {
        try requests().compactMap { request in
            guard let url = URLComponents(string: request.path), url.path == path else { return nil }
            return Dictionary(grouping: url.queryItems ?? [], by: \.name).mapValues { $0.compactMap(\.value) }
        }
    }

    public func cleanup() {
        daemon.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A kubeconfig for `server` with a bearer token.
    public static func kubeconfig(server: String) -> String {
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
