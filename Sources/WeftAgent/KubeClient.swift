import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The Kubernetes API's JSON over AsyncHTTPClient: GET, merge PATCH, and watches read line by line.
public final class KubeClient: Sendable {
    private let http: HTTPClient
    private let credentials: KubeCredentials

    public init(credentials: KubeCredentials) throws {
        self.credentials = credentials
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
            throw AgentError(.invalidConfig, "kube credentials: \(error)")
        }
        if credentials.insecureSkipTLSVerify { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async { try? await http.shutdown() }

    func request(_ path: String, method: HTTPMethod, body: [String: Any]? = nil, contentType: String = "application/json") throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: credentials.server + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token = credentials.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        return request
    }

    /// Sends a request and decodes the JSON object of a 2xx reply; the API's Status message otherwise.
    public func call(_ path: String, method: HTTPMethod = .GET, body: [String: Any]? = nil,
                     contentType: String = "application/json") async throws -> [String: Any] {
        try await send(path, method: method, body: body, contentType: contentType, missingIsNil: false) ?? [:]
    }

    /// GET of one object: nil when the API says it does not exist (404), its Status message otherwise.
    public func object(_ path: String) async throws -> [String: Any]? {
        try await send(path, method: .GET, body: nil, contentType: "application/json", missingIsNil: true)
    }

    private func send(_ path: String, method: HTTPMethod, body: [String: Any]?, contentType: String,
                      missingIsNil: Bool) async throws -> [String: Any]? {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(try request(path, method: method, body: body, contentType: contentType), timeout: .seconds(15))
        } catch {
            throw AgentError(.engine, "\(method) \(credentials.server)\(path): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 64 << 20)
        if missingIsNil && response.status == .notFound { return nil }
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        guard (200..<300).contains(response.status.code) else {
            throw AgentError(.engine, "\(method) \(path): \(object["message"] as? String ?? "\(response.status)")")
        }
        return object
    }

    /// A watch (`?watch=true…`): one JSON object per line, as the API server streams them.
    public func watchLines(_ path: String) -> AsyncThrowingStream<[String: Any], Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await self.http.execute(try self.request(path, method: .GET), timeout: .hours(24 * 365))
                    guard response.status == .ok else { throw AgentError(.engine, "watch \(path): \(response.status)") }
                    var lines = JSONLines()
                    for try await chunk in response.body {
                        for object in lines.feed(chunk.readableBytesView) { continuation.yield(object) }
                    }
                    continuation.finish(throwing: AgentError(.engine, "the API server closed the watch"))
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
