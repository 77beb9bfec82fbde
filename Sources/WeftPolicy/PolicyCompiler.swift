import WeftAddress
import WeftIdentity

/// What a node enforces for the cluster's NetworkPolicies, in the shape nftables holds it:
/// - named address sets, one per rule with peers (pods by address, ipBlocks as intervals);
/// - named port sets for named ports (address . protocol . port: the target pod's own port for
///   ingress, the peer pod's for egress, so one set serves every pod whatever its numbering);
/// - allow chains, one per distinct list of policies selecting a pod in a direction (pods with the
///   same policies share it), each ending in drop when lowered;
/// - per direction a verdict map from a pod's address to its chain. A pod in no map is selected by no
///   policy of that direction: not isolated, everything allowed.
/// No element or rule is per pod pair: a pod adds its address to sets and to a map, nothing else.
/// Replies of allowed connections are accepted before any of this (conntrack), by the lowering.
public struct CompiledPolicies: Equatable, Sendable {
    public struct PortRange: Hashable, Sendable {
        public let proto: TransportProtocol
        public let first: UInt16
        public let last: UInt16
    }

    public struct PortEntry: Hashable, Sendable {
        public let address: IPAddress
        public let proto: TransportProtocol
        public let port: UInt16
    }

    public enum PeerMatch: Hashable, Sendable { case any, set(String) }
    public enum PortMatch: Hashable, Sendable { case any, ranges([PortRange]), named(String) }

    /// One allow rule of a chain: a packet whose peer and port match is accepted.
    public struct Allow: Hashable, Sendable {
        public let peers: PeerMatch
        public let ports: PortMatch
    }

    public var addressSets: [String: [AddressInterval]] = [:]
    public var portSets: [String: Set<PortEntry>] = [:]
    public var chains: [String: [Allow]] = [:]
    public var verdicts: [Direction: [IPAddress: String]] = [.ingress: [:], .egress: [:]]
    /// Which policies select each pod ("namespace/name" → policy keys), for `weftctl policy ls`.
    public var selections: [String: [Direction: [String]]] = [:]
    /// The policies compiled here (with a node, those selecting at least one of its pods).
    public var policies: Set<String> = []

    public init() {}
}

public enum PolicyCompiler {
    /// Compiles every policy against the pods and namespaces the API lists. Pure and deterministic:
    /// the same objects give the same sets, chains and names, so a resync can diff against the kernel.
    /// With `node`, only that node's pods are targets (each node enforces for its own pods, in both
    /// directions); every pod of the cluster stays a peer, matched by its address.
    /// `isolated`: addresses whose pod cannot be known (an object weftd cannot read): isolated in both
    /// directions whatever the policies say, and no pod's address as a peer.
    public static func compile(
        policies: [NetworkPolicy], pods: [PolicyPod], namespaces: [PolicyNamespace],
        node: String? = nil, isolated: Set<IPAddress> = []
    ) -> CompiledPolicies {
        let namespaceLabels = Dictionary(namespaces.map { ($0.name, $0.labels) }, uniquingKeysWith: { first, _ in first })
        // Host-network pods hold the node's addresses: they are neither targets nor peers (matching one
        // would match the node itself), as upstream leaves them undefined and most implementations do.
        let trusted = isolated.isEmpty ? pods : pods.map { $0.with(addresses: $0.addresses.filter { !isolated.contains($0) }) }
        let live = trusted.filter { !$0.addresses.isEmpty && !$0.hostNetwork }
        var compiled = CompiledPolicies()
        var allows: [String: [Direction: [CompiledPolicies.Allow]]] = [:]
        var selectedBy: [String: (pod: PolicyPod, directions: [Direction: [String]])] = [:]

        for policy in policies.sorted(by: { $0.key < $1.key }) {
            let selected = live.filter {
                $0.namespace == policy.namespace && policy.podSelector.matches($0.labels)
                    && (node == nil || $0.nodeName == node)
            }
            // A policy selecting none of this node's pods needs no sets here.
            if node != nil && selected.isEmpty { continue }
            compiled.policies.insert(policy.key)
            for direction in Direction.allCases where policy.policyTypes.contains(direction) {
                let rules = direction == .ingress ? policy.ingress : policy.egress
                allows[policy.key, default: [:]][direction] = rules.enumerated().flatMap { index, rule in
                    compileRule(
                        rule, index: index, of: policy, direction: direction, selected: selected, live: live,
                        namespaceLabels: namespaceLabels, into: &compiled)
                }
                for pod in selected {
                    selectedBy["\(pod.namespace)/\(pod.name)", default: (pod, [:])].directions[direction, default: []].append(policy.key)
                }
            }
        }
        for (podKey, entry) in selectedBy.sorted(by: { $0.key < $1.key }) {
            compiled.selections[podKey] = entry.directions
            for (direction, keys) in entry.directions {
                let chain = chainName(direction, keys)
                if compiled.chains[chain] == nil {
                    compiled.chains[chain] = keys.flatMap { allows[$0]?[direction] ?? [] }
                }
                for address in entry.pod.addresses { compiled.verdicts[direction, default: [:]][address] = chain }
            }
        }
        for direction in Direction.allCases where !isolated.isEmpty {
            // A chain of no allow: lowered, it drops everything but replies (conntrack's established).
            let chain = chainName(direction, ["(not readable)"])
            compiled.chains[chain] = []
            for address in isolated { compiled.verdicts[direction, default: [:]][address] = chain }
        }
        return compiled
    }

    static func compileRule(
        _ rule: NetworkPolicy.Rule, index: Int, of policy: NetworkPolicy, direction: Direction,
        selected: [PolicyPod], live: [PolicyPod], namespaceLabels: [String: [String: String]],
        into compiled: inout CompiledPolicies
    ) -> [CompiledPolicies.Allow] {
        let base = base(direction, policy, index)
        // The peers: every one when none is listed; else the pods and blocks listed, as one set.
        var peers = CompiledPolicies.PeerMatch.any
        var peerPods = live
        if !rule.peers.isEmpty {
            peerPods = []
            var intervals: [AddressInterval] = []
            for peer in rule.peers {
                switch peer {
                case let .pods(podSelector, namespaceSelector):
                    let matching = live.filter { pod in
                        peerMatches(pod, podSelector: podSelector, namespaceSelector: namespaceSelector, of: policy, namespaceLabels: namespaceLabels)
                    }
                    peerPods += matching
                    intervals += matching.flatMap { $0.addresses.map { AddressInterval($0) } }
                case let .ipBlock(cidr, except):
                    intervals += AddressIntervals.block(cidr, except: except)
                }
            }
            compiled.addressSets[base] = AddressIntervals.merge(intervals)
            peers = .set(base)
        }
        if rule.ports.isEmpty { return [CompiledPolicies.Allow(peers: peers, ports: .any)] }

        var result: [CompiledPolicies.Allow] = []
        let ranges = rule.ports.compactMap { port -> CompiledPolicies.PortRange? in
            switch port.value {
            case .any: return CompiledPolicies.PortRange(proto: port.proto, first: 0, last: 65535)
            case let .number(number): return CompiledPolicies.PortRange(proto: port.proto, first: number, last: port.endPort ?? number)
            case .name: return nil
            }
        }
        if !ranges.isEmpty { result.append(CompiledPolicies.Allow(peers: peers, ports: .ranges(ranges))) }
        // Named ports resolve at the pod that owns the port: the target for ingress, the peer for egress
        // (an ipBlock peer has no named ports, so it matches none).
        let owners = direction == .ingress ? selected : peerPods
        var entries = Set<CompiledPolicies.PortEntry>()
        for port in rule.ports {
            guard case let .name(name) = port.value else { continue }
            for pod in owners {
                for named in pod.namedPorts where named.name == name && named.proto == port.proto {
                    for address in pod.addresses { entries.insert(CompiledPolicies.PortEntry(address: address, proto: named.proto, port: named.port)) }
                }
            }
        }
        if rule.ports.contains(where: { if case .name = $0.value { return true } else { return false } }) {
            compiled.portSets["\(base)-named"] = entries
            result.append(CompiledPolicies.Allow(peers: direction == .ingress ? peers : .any, ports: .named("\(base)-named")))
        }
        return result
    }

    static func peerMatches(
        _ pod: PolicyPod, podSelector: LabelSelector?, namespaceSelector: LabelSelector?, of policy: NetworkPolicy,
        namespaceLabels: [String: [String: String]]
    ) -> Bool {
        // A namespace weftd does not know (not listed, or not readable) matches no namespaceSelector: its
        // labels are unknown, and reading them as none would match `NotIn` and `DoesNotExist`.
        let inNamespace =
            namespaceSelector.map { selector in namespaceLabels[pod.namespace].map(selector.matches) ?? false } ?? (pod.namespace == policy.namespace)
        return inNamespace && (podSelector ?? .everything).matches(pod.labels)
    }

    static func base(_ direction: Direction, _ policy: NetworkPolicy, _ index: Int) -> String {
        "\(direction == .ingress ? "in" : "eg")-\(hash(policy.key))-\(index)"
    }

    /// A chain's name: the direction and a hash of the policies, which fits nftables' name limit.
    static func chainName(_ direction: Direction, _ policies: [String]) -> String {
        "\(direction == .ingress ? "in" : "eg")-\(hash(policies.joined(separator: "\n")))"
    }

    static func hash(_ text: String) -> String { FNV1a.hex64(Array(text.utf8)) }
}
