import WeftAddress
import WeftCNI
import WeftIdentity
import WeftNetlink
import WeftNftables

/// Masquerade and hostPorts for attachments, as the commands use them (nftables on the node; a test
/// injects its own). Nothing here touches the IPAM store (the caller records hostPorts), sysctls or
/// conntrack (the caller does, through Node's `sysctl` and `conntrack`: FirewallSettle).
protocol Firewall {
    /// One nftables transaction: the network's rules, the attachment's hostPorts, and (when the table was
    /// rewritten) every other recorded pod's hostPorts from `restoring`. All of it lands or none does; a
    /// hostPort held by another attachment is error 101 naming the holder.
    func commit(
        _ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID,
        restoring: () throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]) throws
    /// Removes the attachment's hostPorts and returns the pod addresses of the UDP ones removed, whose
    /// flows the caller deletes (FirewallSettle.forgetUDP). `recorded` is what the store's record says the
    /// attachment holds: each of its keys is looked up alone, whatever the number of pods; nil (no record:
    /// a wiped store, a reclaimed reservation) finds them by their tag in a dump of the maps.
    @discardableResult
    func remove(_ attachment: AttachmentID, recorded: RecordedHostPorts?) throws -> Set<IPAddress>
    /// What CHECK finds missing.
    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID) throws -> [String]
    /// Removes the hostPorts of every attachment of `network` whose tag is not in `keep`.
    func collectGarbage(network: String, keep: Set<String>) throws
}

/// The conntrack table of the node, as the commands use it (Conntrack; a test injects its own).
protocol ConnectionTracking {
    /// Deletes every flow, of any protocol and either direction, naming one of `addresses`.
    @discardableResult func deleteFlows(naming addresses: Set<IPAddress>) throws -> Int
    /// Deletes the UDP flows to one of `ports` or to or from one of `addresses`.
    @discardableResult func deleteUDP(toPorts ports: Set<UInt16>, addresses: Set<IPAddress>) throws -> Int
}

extension Conntrack: ConnectionTracking {}

/// What goes with the firewall but is not nftables, through the node's sysctl and conntrack.
enum FirewallSettle {
    /// After a commit: route_localnet for 127.0.0.1:hostPort, and UDP flows to the new hostPorts that
    /// conntrack would otherwise keep steering to a previous holder.
    static func settle(_ plan: NetworkPlan, localnetDevice: String, sysctl: SysctlControl, conntrack: () -> ConnectionTracking) throws {
        if plan.portMappings.contains(where: { $0.hostIP?.family != .v6 }) {
            // 127.0.0.1:hostPort from the node: the DNATed packet leaves through the bridge (the host veth
            // when routed) with a loopback source, which the kernel drops as martian unless route_localnet is on there.
            try sysctl.write("net/ipv4/conf/\(localnetDevice)/route_localnet", "1", optional: false)
        }
        let udpPorts = Set(plan.portMappings.filter { $0.proto == .udp }.map(\.hostPort))
        if !udpPorts.isEmpty {
            try conntrack().deleteUDP(toPorts: udpPorts, addresses: [])
        }
    }

    /// Deletes every flow naming one of `addresses`: a pod given an address must not inherit the flows
    /// of the pod that had it before (an established flow passes NetworkPolicy, a DNATed one keeps its target).
    static func forgetFlows(of addresses: [IPAddress], conntrack: () -> ConnectionTracking) throws {
        guard !addresses.isEmpty else { return }
        try conntrack().deleteFlows(naming: Set(addresses))
    }

    /// Removes the attachment's hostPorts, then the UDP flows steered to them: only UDP flows outlive their
    /// pod (TCP ends with the peer's reset), and a conntrack dump walks the kernel's whole table (6 ms
    /// here), so it is skipped when the pod had no UDP hostPort.
    static func remove(
        _ attachment: AttachmentID, recorded: RecordedHostPorts?, firewall: Firewall,
        conntrack: () -> ConnectionTracking
    ) throws {
        let udpAddresses = try firewall.remove(attachment, recorded: recorded)
        guard !udpAddresses.isEmpty else { return }
        try conntrack().deleteUDP(toPorts: [], addresses: udpAddresses)
    }
}

/// An attachment's hostPorts as its store record holds them.
struct RecordedHostPorts {
    let addresses: [IPAddress]
    let mappings: [PortMapping]
}

/// The kernel's: one `inet weft` table through libnftnl.
struct NodeFirewall: Firewall {
    /// The node's netlink handle: nftables shares its NETLINK_NETFILTER socket with conntrack.
    let netlink: NetlinkHandle

    func rules(_ plan: NetworkPlan) -> [NftRule] {
        WeftRuleset.networkRules(
            network: plan.name, subnets: plan.ranges.map(\.subnet),
            clusterNetworks: plan.clusterNetworks, masquerade: plan.ipMasq)
    }

    func commit(
        _ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID,
        restoring: () throws -> [(owner: AttachmentID, addresses: [IPAddress], mappings: [PortMapping])]
    ) throws {
        let client = HostPortTable(handle: netlink)
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
            throw CNIError(
                .nodeConflict, conflicts.first ?? "a hostPort is already taken",
                details: conflicts.dropFirst().joined(separator: "; "))
        }
    }

    func remove(_ attachment: AttachmentID, recorded: RecordedHostPorts?) throws -> Set<IPAddress> {
        if let recorded, recorded.mappings.isEmpty { return [] }
        let client = HostPortTable(handle: netlink)
        let mine: [HostPortElement]
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
        return Set(mine.filter { HostPortElements.proto(of: $0) == .udp }.compactMap(HostPortElements.podAddress(of:)))
    }

    func problems(_ plan: NetworkPlan, podAddresses: [IPAddress], attachment: AttachmentID) throws -> [String] {
        let client = HostPortTable(handle: netlink)
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

    func collectGarbage(network: String, keep: Set<String>) throws {
        let client = HostPortTable(handle: netlink)
        let prefix = AttachmentID.elementTagPrefix(network: network)
        let stale = try client.allElements().filter { $0.owner.hasPrefix(prefix) && !keep.contains($0.owner) }
        try client.remove(stale)
    }
}
