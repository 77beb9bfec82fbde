import WeftEtcd
import WeftKube

/// Everything that stops weftd or one of its steps, with a message an operator can act on. The kernel's
/// refusals (NetlinkError) and failed system calls (SystemError) keep their own types and are wrapped
/// only where the agent adds what it was doing.
public struct AgentError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A flag or flannel's net-conf JSON says something weftd cannot use.
        case invalidConfig = "invalid configuration"
        /// Every subnet between SubnetMin and SubnetMax is leased.
        case networkFull = "network full"
        /// etcd (or the API server) answered with an error or could not be reached.
        case engine = "subnet engine"
        /// etcd refused the user and password (wrong password, unknown user, auth not enabled): asking
        /// again would be refused again, so weftd stops with this instead of retrying.
        case credentials = "etcd refused the credentials"
        /// The Kubernetes API's list and watch (Informer): a reply or event weftd cannot use.
        case kubeAPI = "Kubernetes API"
        /// This node's subnet is held by another node now: continuing would route its pods twice.
        case leaseLost = "lease lost"
        /// The node cannot carry the fabric: the underlay interface, a peer off-link for host-gw.
        case node = "node"
        /// A file weftd writes or reads (subnet.env, agent.json).
        case file = "file"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

extension AgentError {
    /// `error` as weftd's: itself, or the Kubernetes or etcd client's error with its kind and message
    /// (the kinds share their words, so the text is the same); nil for any other error. weftd decides
    /// on the kind in one place whichever client failed: retry while the engine cannot be reached,
    /// stop on the rest.
    public init?(_ error: any Error) {
        switch error {
        case let error as AgentError: self = error
        case let error as KubeError:
            switch error.kind {
            case .invalidConfig: self.init(.invalidConfig, error.message)
            case .engine: self.init(.engine, error.message)
            case .kubeAPI: self.init(.kubeAPI, error.message)
            case .file: self.init(.file, error.message)
            }
        case let error as EtcdError:
            switch error.kind {
            case .invalidConfig: self.init(.invalidConfig, error.message)
            case .engine: self.init(.engine, error.message)
            case .credentials: self.init(.credentials, error.message)
            }
        default: return nil
        }
    }
}

extension AgentError {
    /// A file weftd writes (through DurableFile): its SystemError becomes weftd's `.file` error.
    static func writingFile<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw AgentError(.file, "\(error)")
        }
    }
}
