import AsyncHTTPClient
import Foundation
import NIOSSL
import WeftAddress

/// How weftd proves itself to etcd and checks etcd, flanneld's flags: `--etcd-cafile`,
/// `--etcd-certfile`/`--etcd-keyfile` (client-certificate auth), `--etcd-username`/`--etcd-password`
/// (etcd's own auth), and `--etcd-allow-insecure` for plain HTTP beyond this machine.
public struct EtcdSecurity: Sendable, Equatable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var username: String?
    public var password: String?
    /// Plain HTTP to a non-loopback endpoint: anyone on the path could read and forge leases, which
    /// become routes on every node, so it needs saying.
    public var allowInsecure = false

    public init(
        caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, username: String? = nil,
        password: String? = nil, allowInsecure: Bool = false
    ) {
        self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
        self.username = username; self.password = password; self.allowInsecure = allowInsecure
    }

    /// Refuses settings that would silently do less than asked: a certificate without its key, a
    /// password without a user, TLS files with only http:// endpoints, plain HTTP off this machine.
    public func validate(endpoints: [String]) throws {
        if (certFile == nil) != (keyFile == nil) {
            throw EtcdError(.invalidConfig, "--etcd-certfile and --etcd-keyfile go together")
        }
        if (username == nil) != (password == nil) {
            throw EtcdError(.invalidConfig, "--etcd-username and --etcd-password go together")
        }
        let plain = endpoints.filter { $0.hasPrefix("http://") }
        if !plain.isEmpty && (caFile != nil || certFile != nil) {
            throw EtcdError(.invalidConfig, "TLS files given but \(plain.joined(separator: ",")) is plain http://: use https://")
        }
        if !allowInsecure, let remote = plain.first(where: { !Self.isLoopback(endpoint: $0) }) {
            throw EtcdError(
                .invalidConfig,
                "\(remote) is plain HTTP to another machine: anyone on the way can read and forge leases; "
                    + "use https:// (with --etcd-cafile, --etcd-certfile, --etcd-keyfile) or say --etcd-allow-insecure")
        }
    }

    /// Whether the URL's host is this machine: localhost, 127.0.0.0/8 or ::1.
    static func isLoopback(endpoint: String) -> Bool {
        guard let host = URL(string: endpoint)?.host?.trimmingBrackets.lowercased() else { return false }
        if host == "localhost" { return true }
        guard let address = IPAddress(host) else { return false }
        return address.isIPv4 ? address.bytes.first == 127 : address == IPAddress("::1")
    }

    /// The client's TLS settings: the CA to check etcd's certificate against (the system's roots
    /// without one) and the client certificate, read now so a bad file stops weftd at start.
    func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
            if let certFile, let keyFile {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
        } catch {
            throw EtcdError(.invalidConfig, "etcd TLS files: \(error)")
        }
        return tls
    }
}

/// The token etcd's auth gives for the user and password (POST /v3/auth/authenticate), sent as the
/// Authorization header. Tokens expire (simple tokens after --auth-token-ttl, 5 minutes by default),
/// so a refused token is forgotten and a new one asked for: never read once and kept.
final class EtcdToken: @unchecked Sendable {  // `token` behind `lock`
    private let lock = NSLock()
    private var token: String?

    var current: String? {
        lock.lock(); defer { lock.unlock() }
        return token
    }

    func store(_ value: String?) {
        lock.lock(); defer { lock.unlock() }
        token = value
    }

    /// Drops `stale` unless another request already replaced it.
    func forget(_ stale: String) {
        lock.lock(); defer { lock.unlock() }
        if token == stale { token = nil }
    }
}
