import FoundationEssentials
import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM

/// `weft-ipam`: Weft's address management as an IPAM plugin, configured with host-local's keys,
/// for the reference bridge, macvlan or ptp plugins (`"ipam": {"type": "weft-ipam", …}`).
struct IPAMCommands: PluginCommands {
    let environment: CNIEnvironment
    let config: NetworkConfig
    let version: CNIVersion
    let node: Node

    init(
        environment: CNIEnvironment, config: NetworkConfig, version: CNIVersion, node: Node,
        loadSubnetEnv: @escaping (String) throws -> SubnetEnv
    ) {
        self.environment = environment
        self.config = config
        self.version = version
        self.node = node
    }

    func owner(_ network: String) -> AttachmentID {
        AttachmentID(network: network, containerID: environment.containerID, ifname: environment.ifname)
    }

    func store(_ identity: NetworkIdentity) -> AddressStore { node.store(identity.dataDir, identity.name) }

    func add() throws -> CNIResult {
        let plan = try IPAMPlan.resolve(config)
        let requested = try RequestedAddresses.resolve(config, args: environment.args)
        let dns = try plan.resolvConf.map(ResolvConf.load(path:)) ?? CNIResult.DNS()
        // No datapath here: reclaimed reservations (netns gone) are the datapath plugin's to tear down.
        let addresses = try node.store(plan.dataDir, plan.name)
            .reserve(owner(plan.name), netns: environment.netns, ranges: plan.ranges, requested: requested).addresses
        let ips = addresses.compactMap { address -> CNIResult.IPConfig? in
            guard let range = plan.ranges.first(where: { $0.family == address.family }),
                let assigned = IPNetwork(address: address, prefixLength: range.subnet.prefixLength)
            else { return nil }
            return CNIResult.IPConfig(address: assigned, gateway: range.gateway, interface: nil)
        }
        return CNIResult(interfaces: [], ips: ips, routes: plan.routes, dns: dns)
    }

    func del() throws {
        let identity = try NetworkIdentity(config)
        try store(identity).release(owner(identity.name))
    }

    /// The reservation must be held, with the addresses prevResult names when there is one.
    func check() throws {
        let identity = try NetworkIdentity(config)
        let owner = owner(identity.name)
        let held = try store(identity).addresses(of: owner) ?? []
        guard !held.isEmpty else {
            throw CNIError(.checkFailed, "IPAM holds no reservation for \(owner)")
        }
        let expected = config.prevResult?.result.ips.map(\.address.address) ?? []
        let missing = expected.filter { !held.contains($0) }
        if !missing.isEmpty {
            throw CNIError(
                .checkFailed, "IPAM reservation for \(owner) lacks \(missing.map(\.description).joined(separator: ", "))",
                details: "it holds \(held.map(\.description).joined(separator: ", "))")
        }
    }

    func status() throws {
        try Readiness.check(store: node.store) {
            let plan = try IPAMPlan.resolve(config); return (plan.name, plan.dataDir, plan.ranges)
        }
    }

    func gc(validAttachments: [GCInput.ValidAttachment]) throws {
        let identity = try NetworkIdentity(config)
        let keep = Set(validAttachments.map { AttachmentID(network: identity.name, containerID: $0.containerID, ifname: $0.ifname).recordName })
        let failures = try store(identity).collectGarbage(keep: keep).failures
        if !failures.isEmpty {
            throw CNIError(.ioFailure, "GC could not release \(failures.count) reservation(s)", details: failures.joined(separator: "; "))
        }
    }
}
