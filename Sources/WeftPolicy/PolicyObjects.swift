import WeftAddress

/// The Kubernetes objects NetworkPolicy enforcement reads, as values decoded from the API's JSON (a YAML
/// file decodes to the same values): PolicyPodDecoding.swift, NetworkPolicyDecoding.swift. Only the
/// fields enforcement uses are kept; fields the API adds are ignored.

public enum Direction: String, CaseIterable, Sendable { case ingress = "Ingress", egress = "Egress" }

public struct PolicyNamespace: Equatable, Sendable {
    public let name: String
    public let labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

}

public struct PolicyPod: Equatable, Sendable {
    /// A container port with a name, which a policy may name instead of a number.
    public struct NamedPort: Equatable, Hashable, Sendable {
        public let name: String
        public let port: UInt16
        public let proto: TransportProtocol
    }

    public let namespace: String
    public let name: String
    public let labels: [String: String]
    /// `status.podIPs` (else `status.podIP`): empty before the sandbox has its network.
    public let addresses: [IPAddress]
    public let namedPorts: [NamedPort]
    /// Pods on the node's own network are neither isolated nor told apart from the node.
    public let hostNetwork: Bool
    /// `spec.nodeName`: a node enforces policies for its own pods (others' are only peers).
    public let nodeName: String?
    /// `metadata.uid`: a pod deleted and created again under its name is another pod.
    public var uid: String? = nil
    /// Being deleted (`metadata.deletionTimestamp`) or finished (phase Succeeded or Failed): its sandbox
    /// is going or gone, so the addresses the API still reports for it may already be another pod's.
    public var ending = false

    public init(
        namespace: String, name: String, labels: [String: String] = [:], addresses: [IPAddress] = [],
        namedPorts: [NamedPort] = [], hostNetwork: Bool = false, nodeName: String? = nil
    ) {
        self.namespace = namespace; self.name = name; self.labels = labels
        self.addresses = addresses; self.namedPorts = namedPorts; self.hostNetwork = hostNetwork; self.nodeName = nodeName
    }

    public var key: String { "\(namespace)/\(name)" }

    /// The same pod with other addresses (the ones its ADD announced before the API has them).
    public func with(addresses: [IPAddress]) -> PolicyPod {
        var pod = PolicyPod(
            namespace: namespace, name: name, labels: labels, addresses: addresses, namedPorts: namedPorts,
            hostNetwork: hostNetwork, nodeName: nodeName)
        pod.uid = uid
        pod.ending = ending
        return pod
    }

}

public struct NetworkPolicy: Equatable, Sendable {
    public enum Peer: Equatable, Sendable {
        /// Pods: `podSelector` in the policy's namespace, `namespaceSelector` alone every pod of the
        /// matching namespaces, both the matching pods of the matching namespaces.
        case pods(podSelector: LabelSelector?, namespaceSelector: LabelSelector?)
        /// Addresses: the CIDR without the `except` CIDRs.
        case ipBlock(cidr: IPNetwork, except: [IPNetwork])
    }

    public struct Port: Equatable, Sendable {
        public enum Value: Equatable, Sendable { case any, number(UInt16), name(String) }
        public let proto: TransportProtocol
        public let value: Value
        /// With a number: the range's last port.
        public let endPort: UInt16?
    }

    /// One ingress (`from`) or egress (`to`) rule: empty `peers` is every peer, empty `ports` every port.
    public struct Rule: Equatable, Sendable {
        public let peers: [Peer]
        public let ports: [Port]
    }

    public let namespace: String
    public let name: String
    public let podSelector: LabelSelector
    public let policyTypes: Set<Direction>
    public let ingress: [Rule]
    public let egress: [Rule]

    public var key: String { "\(namespace)/\(name)" }

    public init(namespace: String, name: String, podSelector: LabelSelector, policyTypes: Set<Direction>, ingress: [Rule], egress: [Rule]) {
        self.namespace = namespace; self.name = name; self.podSelector = podSelector
        self.policyTypes = policyTypes; self.ingress = ingress; self.egress = egress
    }
}
