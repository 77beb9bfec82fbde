import Foundation
import WeftCNI
import Yams

/// Where the API server is and how to prove who weftd is: in-cluster (the pod's service account)
/// or a kubeconfig file (its current context).
public struct KubeCredentials: Equatable, Sendable {
    public var server: String
    public var token: String?
    /// Where the token came from: kubelet rewrites a projected service-account token (it expires), so
    /// KubeClient reads the file again when it changes and once after a 401.
    public var tokenFile: String?
    public var caPEM: [UInt8]?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var insecureSkipTLSVerify = false

    public init(server: String) { self.server = server }

    static let serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The service account Kubernetes mounts in a pod, and the API address it puts in the environment.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeCredentials {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw KubeError(.invalidConfig, "not in a pod (KUBERNETES_SERVICE_HOST/PORT unset): give --kubeconfig")
        }
        var credentials = KubeCredentials(server: "https://\(host.contains(":") ? "[\(host)]" : host):\(port)")
        credentials.tokenFile = "\(serviceAccount)/token"
        credentials.token = try String(contentsOfFile: "\(serviceAccount)/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        credentials.caPEM = FileManager.default.contents(atPath: "\(serviceAccount)/ca.crt").map { Array($0) }
        return credentials
    }

    /// The current context's cluster and user of a kubeconfig (YAML or JSON).
    public static func kubeconfig(path: String) throws -> KubeCredentials {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KubeError(.file, "cannot read kubeconfig \(path)")
        }
        return try parse(kubeconfig: text, directory: (path as NSString).deletingLastPathComponent)
    }

    public static func parse(kubeconfig text: String, directory: String) throws -> KubeCredentials {
        let config: KubeconfigDocument
        do {
            config = try YAMLDecoder().decode(KubeconfigDocument.self, from: text)
        } catch let error as DecodingError {
            throw KubeError(.invalidConfig, "kubeconfig: \(ConfigDecodingError.describe(error, input: nil))")
        } catch {
            throw KubeError(.invalidConfig, "kubeconfig is not a YAML mapping: \(error)")
        }
        let contextName = config.currentContext
        let context = config.contexts?.first { $0.name == contextName }?.context
        guard let cluster = config.clusters?.first(where: { $0.name == context?.cluster })?.cluster, let server = cluster.server else {
            throw KubeError(.invalidConfig, "kubeconfig: no cluster server for context \(contextName ?? "(none)")")
        }
        let user = config.users?.first { $0.name == context?.user }?.user
        func bytes(data: String?, _ dataKey: String, file: String?) throws -> [UInt8]? {
            if let encoded = data {
                guard let decoded = Data(base64Encoded: encoded) else { throw KubeError(.invalidConfig, "kubeconfig: \(dataKey) is not base64") }
                return Array(decoded)
            }
            guard let path = file else { return nil }
            let full = path.hasPrefix("/") ? path : "\(directory)/\(path)"
            guard let contents = FileManager.default.contents(atPath: full) else { throw KubeError(.file, "kubeconfig: cannot read \(full)") }
            return Array(contents)
        }
        var credentials = KubeCredentials(server: server.hasSuffix("/") ? String(server.dropLast()) : server)
        credentials.caPEM = try bytes(data: cluster.certificateAuthorityData, "certificate-authority-data", file: cluster.certificateAuthority)
        credentials.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify ?? false
        credentials.clientCertificatePEM = try bytes(data: user?.clientCertificateData, "client-certificate-data", file: user?.clientCertificate)
        credentials.clientKeyPEM = try bytes(data: user?.clientKeyData, "client-key-data", file: user?.clientKey)
        let tokenFile = try bytes(data: nil, "", file: user?.tokenFile)
        credentials.token = user?.token ?? tokenFile.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        if user?.token == nil, let path = user?.tokenFile {
            credentials.tokenFile = path.hasPrefix("/") ? path : "\(directory)/\(path)"
        }
        return credentials
    }
}
