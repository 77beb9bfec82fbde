import WeftAddress
import WeftCNI
import WeftIPAM
import WeftNetlink
import WeftNftables

/// Masquerade and hostPorts for one attachment: nftables through libnftnl, stale UDP flows through ctnetlink.
struct NodeFirewall {
    let network: String
    let owner: String

    init(network: String, containerID: String, ifname: String) {
        self.network = network
        owner = HostPortElements.ownerTag(network: network, containerID: containerID, ifname: ifname)
    }

    static func needed(_ plan: NetworkPlan) -> Bool { plan.ipMasq || !plan.portMappings.isEmpty }

    func rules(_ plan: NetworkPlan) -> [NftRule] {
        WeftRuleset.networkRules(network: plan.name, subnets: plan.ranges.map(\.subnet),
                                 clusterNetworks: plan.clusterNetworks, masquerade: plan.ipMasq)
    }

    /// Installs the network's rules and the pod's hostPorts in one transaction. A hostPort another pod
    /// holds fails it with the owner named, and nothing changes.
    func install(_ plan: NetworkPlan, podAddresses: [IPAddress], store: FileStore, storeOwner: Owner) throws {
        let client = try NftClient()
        let elements = HostPortElements.elements(for: plan.portMappings, podAddresses: podAddresses, owner: owner)
        do {
            // A rewritten table (flushed, lost, or from another version) gets every recorded pod's hostPorts back.
            try client.install(network: plan.name, networkRules: rules(plan), elements: elements) {
                try store.hostPorts().filter { $0.owner != storeOwner }.flatMap { entry in
                    HostPortElements.elements(for: entry.mappings, podAddresses: entry.addresses,
                                              owner: HostPortElements.ownerTag(network: network, containerID: entry.owner.containerID,
                                                                               ifname: entry.owner.ifname))
                }
            }
        } catch let error as NetlinkError where error.errno == EEXIST {
            let held = try client.allElements()
            let conflicts = elements.compactMap { wanted -> String? in
                guard let holder = held.first(where: { $0.map == wanted.map && $0.key == wanted.key }) else { return nil }
                return "hostPort \(HostPortElements.describeKey(wanted)) is held by \(Self.describeOwner(holder.owner))"
            }
            throw CNIError(.nodeConflict, conflicts.first ?? "a hostPort is already taken",
                           details: conflicts.dropFirst().joined(separator: "; "))
        }
        if !plan.portMappings.isEmpty { try store.recordHostPorts(storeOwner, plan.portMappings) }
        if plan.portMappings.contains(where: { $0.hostIP?.family != .v6 }) {
            // 127.0.0.1:hostPort from the node: the DNATed packet leaves through the bridge with a
            // loopback source, which the kernel drops as martian unless route_localnet is on there.
            try Sysctl.write("net/ipv4/conf/\(plan.bridge)/route_localnet", "1")
        }
        let udpPorts = Set(plan.portMappings.filter { $0.proto == .udp }.map(\.hostPort))
        if !udpPorts.isEmpty {
            try Conntrack().deleteUDP(toPorts: udpPorts, addresses: [])
        }
    }

    /// Removes whatever hostPorts the attachment holds (found by their owner tag: no netns or prevResult
    /// needed) and the UDP flows that were steered to it.
    func remove() throws {
        let client = try NftClient()
        let mine = try client.allElements().filter { $0.owner == owner }
        guard !mine.isEmpty else { return }
        try client.remove(mine)
        // Only UDP flows outlive their pod (TCP ends with the peer's reset), and a conntrack dump walks the
        // kernel's whole table (6 ms here): skip it when the pod had no UDP hostPort.
        let udp = mine.filter { HostPortElements.proto(of: $0) == .udp }
        guard !udp.isEmpty else { return }
        let addresses = Set(udp.compactMap { element in
            IPAddress(bytes: Array(element.value.prefix(element.map.hasSuffix("4") ? 4 : 16)))
        })
        try Conntrack().deleteUDP(toPorts: [], addresses: addresses)
    }

    /// What CHECK finds missing: the network's chain and rules, and the pod's hostPort elements.
    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress]) throws -> [String] {
        guard Self.needed(plan) else { return [] }
        let client = try NftClient()
        var problems: [String] = []
        let expectedRules = rules(plan).count
        let present = try client.ruleCount(chain: WeftRuleset.networkChain(plan.name).name)
        if present != expectedRules {
            problems.append("nftables chain \(WeftRuleset.networkChain(plan.name).name) has \(present) rules, expected \(expectedRules)")
        }
        for chain in WeftRuleset.staticChains {
            let wanted = WeftRuleset.staticRules.filter { $0.chain == chain.name }.count
            if try client.ruleCount(chain: chain.name) != wanted {
                problems.append("nftables chain \(chain.name) is missing rules")
            }
        }
        let held = try client.allElements()
        for element in HostPortElements.elements(for: plan.portMappings, podAddresses: podAddresses, owner: owner)
        where !held.contains(element) {
            problems.append("hostPort \(HostPortElements.describeKey(element)) is missing")
        }
        return problems
    }

    /// Removes the hostPorts of every attachment of `network` not in `keep`.
    static func collectGarbage(network: String, keep: Set<String>) throws {
        let client = try NftClient()
        let prefix = "weft/\(network)/"
        let stale = try client.allElements().filter { $0.owner.hasPrefix(prefix) && !keep.contains($0.owner) }
        try client.remove(stale)
    }

    /// "container X interface Y" from an owner tag.
    static func describeOwner(_ tag: String) -> String {
        let parts = tag.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 4 ? "container \(parts[2]) interface \(parts[3]) (network \(parts[1]))" : tag
    }
}

#if canImport(Glibc)
import Glibc
#endif
