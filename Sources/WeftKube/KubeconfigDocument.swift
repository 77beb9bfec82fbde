/// A kubeconfig file (YAML, or JSON, which YAML reads too) as Codable types: the parts weftd uses of
/// the current context's cluster and user. Unknown fields (exec plugins, extensions, preferences) are
/// ignored; a field of the wrong type is refused, naming it.
struct KubeconfigDocument: Decodable {
    var currentContext: String?
    var clusters: [NamedCluster]?
    var users: [NamedUser]?
    var contexts: [NamedContext]?

    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context", clusters, users, contexts
    }

    struct Cluster: Decodable {
        var server: String?
        var certificateAuthorityData: String?
        var certificateAuthority: String?
        var insecureSkipTLSVerify: Bool?

        enum CodingKeys: String, CodingKey {
            case server, certificateAuthorityData = "certificate-authority-data", certificateAuthority = "certificate-authority"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
        }
    }

    struct User: Decodable {
        var clientCertificateData: String?
        var clientCertificate: String?
        var clientKeyData: String?
        var clientKey: String?
        var token: String?
        var tokenFile: String?

        enum CodingKeys: String, CodingKey {
            case clientCertificateData = "client-certificate-data", clientCertificate = "client-certificate"
            case clientKeyData = "client-key-data", clientKey = "client-key", token, tokenFile
        }
    }

    struct Context: Decodable {
        var cluster: String?
        var user: String?
    }

    struct NamedCluster: Decodable { var name: String?; var cluster: Cluster? }
    struct NamedUser: Decodable { var name: String?; var user: User? }
    struct NamedContext: Decodable { var name: String?; var context: Context? }
}
