import WeftAddress
import WeftCNI
import WeftIdentity
import WeftNetlink
import WeftNftables
import WeftSystem

/// Masquerade and hostPorts for attachments, as the commands use them (nftables on the node; a test
/// injects its own). Nothing here touches the IPAM store: the caller records hostPorts.
protocol Firewall {
    /// One nftables transaction: the network's rules, the attachment's hostPorts, and (when the table was
    /// rewritten) every other recorded pod's hostPorts from `restoring`. All of it lands or none does; a
    /// hostPort held by another attachment is error 101 naming the holder.
    func commit(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID,
                restoring: () throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]) throws
    /// What follows a commit: route_localnet for 127.0.0.1:hostPort, and UDP flows to the new hostPorts
    /// that conntrack would otherwise keep steering to a previous holder.
    func settle(_ plan: NetworkPlan, localnetDevice: String) throws
    /// Removes the attachment's hostPorts and the UDP flows steered to them. `recorded` is what the store's
    /// record says the attachment holds: each of its keys is looked up alone, whatever the number of pods;
    /// nil (no record: a wiped store, a reclaimed reservation) finds them by their tag in a dump of the maps.
    func remove(_ attachment: AttachmentID, recorded: RecordedHostPorts?) throws
    /// What CHECK finds missing.
    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID) throws -> [String]
    /// Removes the hostPorts of every attachment of `network` whose tag is not in `keep`.
    func collectGarbage(network: String, keep: Set<String>) throws
    /// Deletes every conntrack flow, of any protocol and either direction, naming one of `addresses`:
    /// a pod given an address must not inherit the flows of the pod that had it before.
    func forgetFlows(of addresses: [IPAddress]) throws
}

/// An attachment's hostPorts as its store record holds them.
struct RecordedHostPorts {
    let addresses: [IPAddress]
    let mappings: [PortMapping]
}

/// The kernel's: one `inet weft` table through libnftnl, stale UDP flows through ctnetlink.
struct NodeFirewall: Firewall {
    /// The node's netlink handle: nftables and conntrack share its NETLINK_NETFILTER socket.
    let netlink: NetlinkHandle

    func rules(_ plan: NetworkPlan) -> [NftRule] {
        WeftRuleset.networkRules(network: plan.name, subnets: plan.ranges.map(\.subnet),
                                 clusterNetworks: plan.clusterNetworks, masquerade: plan.ipMasq)
    }

    func commit(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID,
                restoring: () throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]) throws {
        let client = NftClient(handle: netlink)
        let elements = HostPortElements.elements(for: plan.portMappings, podAddresses: podAddresses, owner: attachment.elementTag)
        do {
            try client.install(network: plan.name, networkRules: rules(plan), elements: elements) {
                try restoring().filter { $0.owner.recordName != attachment.recordName }.flatMap { entry in
                    HostPortElements.elements(for: entry.mappings, podAddresses: entry.addresses, owner: entry.owner.elementTag)
                }
            }
        } catch let error as NetlinkError where error.isExists {
            let held = try client.allElements()
            let conflicts = elements.compactMap { wanted -> String? in
                guard let holder = held.first(where: { $0.map == wanted.map && $0.key == wanted.key }) else { return nil }
                return "hostPort \(HostPortElements.describeKey(wanted)) is held by \(AttachmentID.describeElementTag(holder.owner))"
            }
            throw CNIError(.nodeConflict, conflicts.first ?? "a hostPort is already taken",
                           details: conflicts.dropFirst().joined(separator: "; "))
        }
    }

    func settle(_ plan: NetworkPlan, localnetDevice: String) throws {
        if plan.portMappings.contains(where: { $0.hostIP?.family != .v6 }) {
            // 127.0.0.1:hostPort from the node: the DNATed packet leaves through the bridge (the host veth
            // when routed) with a loopback source, which the kernel drops as martian unless route_localnet is on there.
            try Sysctl.write("net/ipv4/conf/\(localnetDevice)/route_localnet", "1")
        }
        let udpPorts = Set(plan.portMappings.filter { $0.proto == .udp }.map(\.hostPort))
        if !udpPorts.isEmpty {
            try Conntrack(handle: netlink).deleteUDP(toPorts: udpPorts, addresses: [])
        }
    }

    func remove(_ attachment: AttachmentID, recorded: RecordedHostPorts?) throws {
        if let recorded, recorded.mappings.isEmpty { return }
        let client = NftClient(handle: netlink)
        let mine: [NftElement]
        if let recorded {
            // Each recorded key asked for alone: removed only when present and tagged as this attachment's
            // (a failed ADD's record may name a port another pod holds).
            mine = try HostPortElements.elements(for: recorded.mappings, podAddresses: recorded.addresses, owner: attachment.elementTag)
                .compactMap { try client.element(in: $0.map, key: $0.key) }
                .filter { $0.owner == attachment.elementTag }
        } else {
            mine = try client.allElements().filter { $0.owner == attachment.elementTag }
        }
        try client.remove(mine)
        // Only UDP flows outlive their pod (TCP ends with the peer's reset), and a conntrack dump walks the
        // kernel's whole table (6 ms here): skip it when the pod had no UDP hostPort.
        let addresses = Set(mine.filter { HostPortElements.proto(of: $0) == .udp }.compactMap(HostPortElements.podAddress(of:)))
        guard !addresses.isEmpty else { return }
        try Conntrack(handle: netlink).deleteUDP(toPorts: [], addresses: addresses)
    }

    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID) throws -> [String] {
        let client = NftClient(handle: netlink)
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
        for element in HostPortElements.elements(for: plan.portMappings, podAddresses: podAddresses, owner: attachment.elementTag)
        where !held.contains(element) {
            problems.append("hostPort \(HostPortElements.describeKey(element)) is missing")
        }
        return problems
    }

    func forgetFlows(of addresses: [IPAddress]) throws {
        guard !addresses.isEmpty else { return }
        try Conntrack(handle: netlink).deleteFlows(naming: Set(addresses))
    }

    func collectGarbage(network: String, keep: Set<String>) throws {
        let client = NftClient(handle: netlink)
        let prefix = AttachmentID.elementTagPrefix(network: network)
        let stale = try client.allElements().filter { $0.owner.hasPrefix(prefix) && !keep.contains($0.owner) }
        try client.remove(stale)
    }
}
