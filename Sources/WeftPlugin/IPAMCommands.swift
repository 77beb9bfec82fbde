import FoundationEssentials
import WeftAddress
import WeftCNI
import WeftIPAM

/// `weft-ipam`: Weft's address management as an IPAM plugin, configured with host-local's keys,
/// for the reference bridge, macvlan or ptp plugins (`"ipam": {"type": "weft-ipam", …}`).
struct IPAMCommands: PluginCommands {
    let environment: CNIEnvironment
    let config: NetworkConfig
    let version: CNIVersion

    init(environment: CNIEnvironment, config: NetworkConfig, version: CNIVersion, loadSubnetEnv: @escaping (String) throws -> SubnetEnv) {
        self.environment = environment
        self.config = config
        self.version = version
    }

    var owner: Owner { Owner(containerID: environment.containerID, ifname: environment.ifname) }

    func store(_ identity: NetworkIdentity) -> FileStore { FileStore(dataDir: identity.dataDir, network: identity.name) }

    func add() throws -> CNIResult {
        let plan = try IPAMPlan.resolve(config)
        let requested = try RequestedAddresses.resolve(config, args: environment.args)
        let dns = try plan.resolvConf.map(ResolvConf.load(path:)) ?? CNIResult.DNS()
        let addresses = try FileStore(dataDir: plan.dataDir, network: plan.name)
            .reserve(owner, netns: environment.netns, ranges: plan.ranges, requested: requested)
        let ips = addresses.compactMap { address -> CNIResult.IPConfig? in
            guard let range = plan.ranges.first(where: { $0.family == address.family }),
                  let assigned = IPNetwork(address: address, prefixLength: range.subnet.prefixLength) else { return nil }
            return CNIResult.IPConfig(address: assigned, gateway: range.gateway, interface: nil)
        }
        return CNIResult(interfaces: [], ips: ips, routes: plan.routes, dns: dns)
    }

    func del() throws {
        try store(try NetworkIdentity(config)).release(owner)
    }

    /// The reservation must be held, with the addresses prevResult names when there is one.
    func check() throws {
        let held = try store(try NetworkIdentity(config)).addresses(of: owner) ?? []
        guard !held.isEmpty else {
            throw CNIError(.checkFailed, "IPAM holds no reservation for \(owner)")
        }
        let expected = config.prevResult?.result.ips.map(\.address.address) ?? []
        let missing = expected.filter { !held.contains($0) }
        if !missing.isEmpty {
            throw CNIError(.checkFailed, "IPAM reservation for \(owner) lacks \(missing.map(\.description).joined(separator: ", "))",
                           details: "it holds \(held.map(\.description).joined(separator: ", "))")
        }
    }

    func status() throws {
        try Readiness.check { let plan = try IPAMPlan.resolve(config); return (plan.name, plan.dataDir, plan.ranges) }
    }

    func gc(validAttachments: [Owner]) throws {
        let failures = try store(try NetworkIdentity(config)).collectGarbage(keep: Set(validAttachments)).failures
        if !failures.isEmpty {
            throw CNIError(.ioFailure, "GC could not release \(failures.count) reservation(s)", details: failures.joined(separator: "; "))
        }
    }
}
