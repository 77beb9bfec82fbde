import WeftAddress

/// What one new pod adds to a compiled node, when that is only elements: its verdicts (to chains that
/// exist), its addresses in the peer sets whose selectors pick it, its named ports in the port sets of
/// the rules it owns them for. A pod's ADD takes this path: a few elements in one transaction, in
/// microseconds, where compiling every policy against every pod again grows with the cluster.
public struct PodDelta: Equatable, Sendable {
    public var pod: PolicyPod
    /// The chain of each direction a policy selects the pod in.
    public var verdicts: [Direction: String] = [:]
    public var selections: [Direction: [String]] = [:]
    /// Peer sets (compiled names) the pod's addresses join.
    public var addressSets: [String] = []
    public var portEntries: [String: [CompiledPolicies.PortEntry]] = [:]

    public var isEmpty: Bool { verdicts.isEmpty && addressSets.isEmpty && portEntries.isEmpty }
}

extension PolicyCompiler {
    /// The delta of adding `pod` (its addresses in no set or map yet) to `compiled`, or nil when it
    /// takes more than new elements — a policy not compiled here yet, a chain for a new list of
    /// policies, a set gaining its first member of a family (no nft set or rule for it yet) — and a
    /// whole compile is due. Mirrors `compile` exactly: the same pod compiled whole gives the same elements.
    public static func delta(
        adding pod: PolicyPod, policies: [NetworkPolicy], namespaces: [PolicyNamespace], node: String?,
        to compiled: CompiledPolicies
    ) -> PodDelta? {
        var delta = PodDelta(pod: pod)
        if pod.addresses.isEmpty || pod.hostNetwork { return delta }
        let namespaceLabels = Dictionary(namespaces.map { ($0.name, $0.labels) }, uniquingKeysWith: { first, _ in first })
        let families = Set(pod.addresses.map(\.family))
        for policy in policies.sorted(by: { $0.key < $1.key }) {
            let selects = policy.namespace == pod.namespace && policy.podSelector.matches(pod.labels) && (node == nil || pod.nodeName == node)
            guard compiled.policies.contains(policy.key) else {
                if selects { return nil }
                continue  // no sets on this node: the pod is nobody's peer here
            }
            for direction in Direction.allCases where policy.policyTypes.contains(direction) {
                if selects { delta.selections[direction, default: []].append(policy.key) }
                for (index, rule) in (direction == .ingress ? policy.ingress : policy.egress).enumerated() {
                    let base = base(direction, policy, index)
                    let isPeer =
                        rule.peers.isEmpty
                        || rule.peers.contains { peer in
                            if case let .pods(podSelector, namespaceSelector) = peer {
                                return peerMatches(
                                    pod, podSelector: podSelector, namespaceSelector: namespaceSelector, of: policy, namespaceLabels: namespaceLabels)
                            }
                            return false
                        }
                    if !rule.peers.isEmpty && isPeer {
                        guard let members = compiled.addressSets[base], families.allSatisfy({ family in members.contains { $0.first.family == family } }) else {
                            return nil
                        }
                        delta.addressSets.append(base)
                    }
                    let owns = direction == .ingress ? selects : isPeer
                    let names = Set(rule.ports.compactMap { port -> String? in if case let .name(name) = port.value { return name } else { return nil } })
                    guard owns, !names.isEmpty else { continue }
                    let entries = pod.namedPorts.filter { named in
                        names.contains(named.name) && rule.ports.contains { $0.value == .name(named.name) && $0.proto == named.proto }
                    }
                    .flatMap { named in pod.addresses.map { CompiledPolicies.PortEntry(address: $0, proto: named.proto, port: named.port) } }
                    guard !entries.isEmpty else { continue }
                    let set = "\(base)-named"
                    guard let existing = compiled.portSets[set],
                        Set(entries.map(\.address.family)).allSatisfy({ family in existing.contains { $0.address.family == family } })
                    else { return nil }
                    delta.portEntries[set, default: []] += entries
                }
            }
        }
        for (direction, keys) in delta.selections {
            let chain = chainName(direction, keys)
            guard compiled.chains[chain] != nil else { return nil }
            delta.verdicts[direction] = chain
        }
        return delta
    }
}

extension CompiledPolicies {
    /// `compiled` with `delta` in it, as `weftctl policy ls` and the next delta see it.
    public mutating func add(_ delta: PodDelta) {
        let key = "\(delta.pod.namespace)/\(delta.pod.name)"
        if !delta.selections.isEmpty { selections[key] = delta.selections }
        for (direction, chain) in delta.verdicts {
            for address in delta.pod.addresses { verdicts[direction, default: [:]][address] = chain }
        }
        for set in delta.addressSets {
            addressSets[set, default: []] += delta.pod.addresses.map { AddressInterval($0) }
        }
        for (set, entries) in delta.portEntries { portSets[set, default: []].formUnion(entries) }
    }
}
