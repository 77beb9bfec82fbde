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
