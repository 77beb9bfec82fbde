import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import WeftJSON

/// The Kubernetes API's JSON over AsyncHTTPClient: GET, merge PATCH, and the watch streams Informer reads.
public final class KubeClient: Sendable {
    private let http: HTTPClient
    private let credentials: KubeCredentials
    private let token: KubeToken
    /// The most weftd reads of one reply or one watch line: 16 MiB. etcd refuses an object over
    /// 1.5 MiB (--max-request-bytes), so one object never comes near; a list is read in pages of
    /// `Informer.pageSize`, and a page past the cap is asked again smaller. Past it, the request fails
    /// with an error naming the cap instead of growing a buffer without bound.
    static let maxBody = 16 << 20

    public init(credentials: KubeCredentials) throws {
        self.credentials = credentials
        token = KubeToken(token: credentials.token, path: credentials.tokenFile)
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = credentials.caPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            }
            if let certificate = credentials.clientCertificatePEM, let key = credentials.clientKeyPEM {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw KubeError(.invalidConfig, "kube credentials: \(error)")
        }
        if credentials.insecureSkipTLSVerify { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async { try? await http.shutdown() }

    func request(_ path: String, method: HTTPMethod, body: (any Encodable & Sendable)? = nil, contentType: String = "application/json") throws
        -> HTTPClientRequest
    {
        var request = HTTPClientRequest(url: credentials.server + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token = token.current { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            request.body = .bytes(ByteBuffer(bytes: try encoder.encode(body)))
        }
        return request
    }

    /// Sends a request and decodes the JSON object of a 2xx reply; the API's Status message otherwise.
    public func call(
        _ path: String, method: HTTPMethod = .GET, body: (any Encodable & Sendable)? = nil,
        contentType: String = "application/json"
    ) async throws -> [String: Any] {
        try await send(path, method: method, body: body, contentType: contentType, missingIsNil: false).map(Self.object) ?? [:]
    }

    /// GET of one object: nil when the API says it does not exist (404), its Status message otherwise.
    public func object(_ path: String) async throws -> [String: Any]? {
        try await send(path, method: .GET, body: nil, contentType: "application/json", missingIsNil: true).map(Self.object)
    }

    /// GET of one object decoded as `type` (a wrong-typed field refused by name); its Status message
    /// when the API refuses.
    public func get<Object: Decodable>(_ path: String, as type: Object.Type) async throws -> Object {
        let bytes = try await send(path, method: .GET, body: nil, contentType: "application/json", missingIsNil: false) ?? Data()
        return try DecodedJSON.decode(type, from: bytes, "GET \(path)") { KubeError(.kubeAPI, $0) }
    }

    private static func object(_ bytes: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] ?? [:]
    }

    /// The body of a 2xx reply; nil for a 404 when `missingIsNil`; the API's Status message otherwise.
    private func send(
        _ path: String, method: HTTPMethod, body: (any Encodable & Sendable)?, contentType: String,
        missingIsNil: Bool
    ) async throws -> Data? {
        let response = try await execute(path, method: method, deadline: .seconds(15)) {
            try self.request(path, method: method, body: body, contentType: contentType)
        }
        let bytes = try await Self.collect(response, "\(method) \(path)")
        if missingIsNil && response.status == .notFound { return nil }
        guard (200..<300).contains(response.status.code) else {
            throw KubeAPIError(status: Int(response.status.code), "\(method) \(path)", Data(bytes.readableBytesView))
        }
        return Data(bytes.readableBytesView)
    }

    /// A watch's response once the API server accepted it (200); its body is read by the caller (Informer).
    /// `deadline` bounds the whole stream, a last resort behind the watch's own timeoutSeconds.
    func stream(_ path: String, deadline: TimeAmount) async throws -> HTTPClientResponse {
        let response = try await execute(path, method: .GET, deadline: deadline) { try self.request(path, method: .GET) }
        guard response.status == .ok else {
            let bytes = try await Self.collect(response, "watch \(path)")
            throw KubeAPIError(status: Int(response.status.code), "watch \(path)", Data(bytes.readableBytesView))
        }
        return response
    }

    /// One request; a 401 reads the token file again and tries once more (kubelet rotated the token
    /// between our check and the server's).
    private func execute(
        _ path: String, method: HTTPMethod, deadline: TimeAmount,
        _ make: () throws -> HTTPClientRequest
    ) async throws -> HTTPClientResponse {
        do {
            let response = try await http.execute(try make(), timeout: deadline)
            guard response.status == .unauthorized, token.reload() else { return response }
            _ = try? await response.body.collect(upTo: Self.maxBody)
            return try await http.execute(try make(), timeout: deadline)
        } catch {
            throw KubeError(.engine, "\(method) \(credentials.server)\(path): \(error)")
        }
    }

    /// A reply body, refused past `maxBody` with an error that says so.
    static func collect(_ response: HTTPClientResponse, _ what: String) async throws -> ByteBuffer {
        do {
            return try await response.body.collect(upTo: maxBody)
        } catch is NIOTooManyBytesError {
            throw KubeReplyTooLarge(description: "\(what): the reply passes weftd's \(maxBody >> 20) MiB cap")
        }
    }
}

/// The API server's refusal: its HTTP status (410 Gone: the resourceVersion asked for is compacted)
/// and its Status message.
struct KubeAPIError: Error, CustomStringConvertible {
    let status: Int
    let description: String

    /// `body`: the reply, a Status when the API server wrote it (a proxy in front may write anything).
    init(status: Int, _ what: String, _ body: Data) {
        self.status = status
        let message = (try? JSONDecoder().decode(KubeStatus.self, from: body))?.message
        description = "\(what): HTTP \(status): \(message ?? "no message")"
    }
}

/// A reply past `KubeClient.maxBody`: a list page is asked again smaller; anything else fails.
struct KubeReplyTooLarge: Error, CustomStringConvertible {
    let description: String
}
