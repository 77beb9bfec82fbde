import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import WeftJSON

/// etcd v3 through its JSON gateway (POST /v3/...), over AsyncHTTPClient. Requests (and watches) go
/// to the first endpoint that answers; a connection failure moves on to the next one. With
/// EtcdSecurity: TLS with a CA and a client certificate, and etcd's user/password auth.
public final class EtcdClient: Sendable {
    private let http: HTTPClient
    private let endpoints: [String]
    private let requestTimeout: TimeAmount
    private let security: EtcdSecurity
    private let token = EtcdToken()

    public init(endpoints: [String], security: EtcdSecurity = EtcdSecurity(), requestTimeout: TimeAmount = .seconds(10)) throws {
        let cleaned = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
        guard !cleaned.isEmpty, cleaned.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
            throw EtcdError(.invalidConfig, "--etcd-endpoints needs http:// or https:// URLs (got \(endpoints.joined(separator: ",")))")
        }
        try security.validate(endpoints: cleaned)
        self.endpoints = cleaned
        self.requestTimeout = requestTimeout
        self.security = security
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3))
        configuration.tlsConfiguration = try security.tlsConfiguration()
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async { try? await http.shutdown() }

    /// A request etcd refused for its token (expired, or etcd restarted): asked again with a new one.
    private struct TokenRefused: Error { let token: String }

    /// POSTs `body` to `path` and returns the decoded JSON reply; etcd's errors, and a reply that is not
    /// a `Reply`, come back as EtcdError. `timeout` bounds the whole request (default: the client's),
    /// so a slow etcd cannot hold a renewal past its lease's expiry.
    public func call<Body: Encodable, Reply: Decodable>(
        _ path: String, _ body: Body, as reply: Reply.Type,
        timeout: TimeAmount? = nil
    ) async throws -> Reply {
        do {
            return try await callOnce(path, body, as: reply, timeout: timeout ?? requestTimeout)
        } catch let refused as TokenRefused {
            token.forget(refused.token)
            return try await callOnce(path, body, as: reply, timeout: timeout ?? requestTimeout)
        }
    }

    private func callOnce<Body: Encodable, Reply: Decodable>(
        _ path: String, _ body: Body, as reply: Reply.Type,
        timeout: TimeAmount
    ) async throws -> Reply {
        var lastFailure: Error = EtcdError(.engine, "no etcd endpoint")
        for endpoint in endpoints {
            let response: HTTPClientResponse
            let sent: String?
            do {
                sent = try await authorization(endpoint)
                response = try await http.execute(try request(endpoint + path, body, token: sent), timeout: timeout)
            } catch let error as EtcdError {
                lastFailure = error
                continue
            } catch {
                lastFailure = EtcdError(.engine, "\(endpoint)\(path): \(error)")
                continue
            }
            let bytes = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
            guard response.status == .ok else {
                let message = Self.refusal(bytes) ?? "\(response.status)"
                if let sent, Self.refusesToken(status: response.status, message: message) { throw TokenRefused(token: sent) }
                throw EtcdError(.engine, "etcd \(path): \(message)")
            }
            return try DecodedJSON.decode(reply, from: bytes, "etcd \(path) reply") { EtcdError(.engine, $0) }
        }
        throw lastFailure
    }

    /// The message of a refusal's body, when it is the gateway's JSON error.
    static func refusal(_ body: Data) -> String? {
        guard let reply = try? JSONDecoder().decode(EtcdWire.ErrorReply.self, from: body) else { return nil }
        return reply.message ?? reply.error
    }

    /// etcd's answer to a token it no longer accepts (gRPC Unauthenticated, HTTP 401).
    static func refusesToken(status: HTTPResponseStatus, message: String) -> Bool {
        status == .unauthorized || message.contains("invalid auth token")
    }

    /// The token to send, asking `endpoint` for one when there is none yet; nil without a user.
    private func authorization(_ endpoint: String) async throws -> String? {
        guard let username = security.username, let password = security.password else { return nil }
        if let current = token.current { return current }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(
                try request(
                    endpoint + "/v3/auth/authenticate",
                    EtcdWire.AuthenticateRequest(name: username, password: password), token: nil),
                timeout: requestTimeout)
        } catch {
            throw EtcdError(.engine, "\(endpoint)/v3/auth/authenticate: \(error)")
        }
        let bytes = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        let answer = try? JSONDecoder().decode(EtcdWire.AuthenticateResponse.self, from: bytes)
        guard response.status == .ok, let fresh = answer?.token, !fresh.isEmpty else {
            let message = Self.refusal(bytes) ?? "\(response.status)"
            // etcd answers a wrong password, an unknown user or auth not enabled with a 4xx (gRPC
            // InvalidArgument, FailedPrecondition): final, asking again is refused again. A 5xx (no
            // leader, etcd starting) passes, so it is retried as an unreachable engine.
            let kind: EtcdError.Kind = (400..<500).contains(Int(response.status.code)) ? .credentials : .engine
            throw EtcdError(kind, "\(endpoint): user \(username): \(message)")
        }
        token.store(fresh)
        return fresh
    }

    func request(_ url: String, _ body: some Encodable, token: String?) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // etcd's gateway passes the Authorization header on as the gRPC "token" metadata.
        if let token { request.headers.add(name: "Authorization", value: token) }
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        return request
    }

    // MARK: KV and leases

    public func get(_ key: String) async throws -> (kvs: [EtcdMessages.KeyValue], revision: Int64) {
        EtcdMessages.rangeReply(try await call("/v3/kv/range", EtcdMessages.range(key: key, prefix: false), as: EtcdWire.RangeResponse.self))
    }

    public func list(prefix: String) async throws -> (kvs: [EtcdMessages.KeyValue], revision: Int64) {
        EtcdMessages.rangeReply(try await call("/v3/kv/range", EtcdMessages.range(key: prefix, prefix: true), as: EtcdWire.RangeResponse.self))
    }

    /// Runs a transaction; true when its comparisons held and the success branch ran.
    public func transaction(_ body: EtcdWire.TransactionRequest) async throws -> Bool {
        try await call("/v3/kv/txn", body, as: EtcdWire.TransactionResponse.self).succeeded ?? false
    }

    public func put(_ key: String, _ value: String) async throws {
        _ = try await call(
            "/v3/kv/put", EtcdWire.PutRequest(key: EtcdMessages.base64(key), value: EtcdMessages.base64(value)),
            as: EtcdWire.Ignored.self)
    }

    public func grant(ttl seconds: Int) async throws -> Int64 {
        let reply = try await call("/v3/lease/grant", EtcdWire.LeaseGrantRequest(TTL: String(seconds)), as: EtcdWire.LeaseGrantResponse.self)
        guard let id = reply.ID?.value, id != 0 else {
            throw EtcdError(.engine, "etcd lease grant: \(reply.error ?? "no lease ID in the reply")")
        }
        return id
    }

    /// Renews `lease` once; returns its new TTL, 0 when etcd no longer knows it (it expired).
    public func keepAlive(_ lease: Int64, timeout: TimeAmount? = nil) async throws -> Int64 {
        // The gateway maps the bidirectional stream onto one POST: one request, one reply line.
        let reply = try await call(
            "/v3/lease/keepalive", EtcdWire.LeaseRequest(ID: String(lease)), as: EtcdWire.KeepAliveResponse.self,
            timeout: timeout)
        return (reply.result?.TTL ?? reply.TTL)?.value ?? 0
    }

    public func revoke(_ lease: Int64) async throws {
        _ = try await call("/v3/lease/revoke", EtcdWire.LeaseRequest(ID: String(lease)), as: EtcdWire.Ignored.self)
    }

    // MARK: watch

    /// Streams the changes under `prefix` from `revision` on, one element per watch reply. The stream
    /// ends with an error when the connection drops; the caller re-lists and watches again.
    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<(events: [EtcdMessages.Event], revision: Int64), Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.streamWatch(prefix: prefix, revision: revision, into: continuation)
                    continuation.finish(throwing: EtcdError(.engine, "etcd closed the watch stream"))
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func streamWatch(
        prefix: String, revision: Int64,
        into continuation: AsyncThrowingStream<(events: [EtcdMessages.Event], revision: Int64), Error>.Continuation
    ) async throws {
        let body = EtcdMessages.watch(prefix: prefix, fromRevision: revision)
        var opened: HTTPClientResponse?
        var lastFailure: Error = EtcdError(.engine, "no etcd endpoint")
        var sent: String?
        for endpoint in endpoints where opened == nil {
            do {
                sent = try await authorization(endpoint)
                // No deadline: a watch lasts as long as the agent; cancellation ends it.
                opened = try await http.execute(try request(endpoint + "/v3/watch", body, token: sent), timeout: .hours(24 * 365))
            } catch let error as EtcdError {
                lastFailure = error
            } catch {
                lastFailure = EtcdError(.engine, "\(endpoint)/v3/watch: \(error)")
            }
        }
        guard let response = opened else { throw lastFailure }
        guard response.status == .ok else {
            // A refused token is dropped, so the list that follows the broken watch asks for a new one.
            if let sent, Self.refusesToken(status: response.status, message: "") { token.forget(sent) }
            throw EtcdError(.engine, "etcd watch: \(response.status)")
        }
        // The gateway writes one JSON object per reply, each followed by a newline.
        var lines = JSONLines(maxLine: 16 << 20) { EtcdError(.engine, $0) }
        for try await chunk in response.body {
            for line in try lines.lines(chunk.readableBytesView) where !Self.isBlank(line) {
                let reply = try EtcdMessages.watchReply(line)
                continuation.yield((reply.events, reply.revision))
            }
        }
    }

    /// A line of white space only (a keep-alive between replies) carries no reply.
    static func isBlank(_ line: Data) -> Bool {
        line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
    }
}
