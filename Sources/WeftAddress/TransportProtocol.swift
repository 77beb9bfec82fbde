/// The transport protocols Weft matches (hostPorts, NetworkPolicy ports), by their IANA numbers: what
/// nftables' `meta l4proto` and conntrack compare.
public enum TransportProtocol: UInt8, Sendable, CaseIterable {
    case tcp = 6, udp = 17, sctp = 132

    /// Lowercase, as CNI's portMappings and the store's records write it.
    public var name: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .sctp: "sctp"
        }
    }

    /// As the Kubernetes API writes it (a NetworkPolicy's or a container's port): TCP, UDP, SCTP.
    public var kubernetesName: String { name.uppercased() }

    /// From the lowercase name; nil for any other text.
    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    /// From the Kubernetes API's name (exact case, as the API validates it); nil for any other text.
    public init?(kubernetesName: String) {
        guard let found = Self.allCases.first(where: { $0.kubernetesName == kubernetesName }) else { return nil }
        self = found
    }
}
