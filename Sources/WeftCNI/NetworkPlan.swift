import WeftAddress

/// Everything ADD needs to know about the network, resolved from the config and (when the
/// config names no subnet) flannel's subnet.env, with every value validated.
public struct NetworkPlan: Sendable, Equatable {
    public static let defaultBridge = "cni0"
    public static let defaultDataDir = "/run/weft/ipam"

    public var name: String
    public var bridge: String
    public var isGateway: Bool
    public var isDefaultGateway: Bool
    public var hairpinMode: Bool
    public var promiscMode: Bool
    public var mtu: Int?
    public var ipMasq: Bool
    public var dataDir: String
    /// One range per address family; a pod gets one address from each.
    public var ranges: [AddressRange]
    /// Routes installed in the pod, gateway filled in.
    public var routes: [CNIResult.Route]
    /// Destinations left unmasqueraded with ipMasq: the cluster's pod networks.
    public var clusterNetworks: [IPNetwork]
    /// hostPorts from `runtimeConfig.portMappings`.
    public var portMappings: [PortMapping]
    /// The result's `dns`, from `runtimeConfig.dns`.
    public var dns: CNIResult.DNS = CNIResult.DNS()
    /// The pod's rates: `runtimeConfig.bandwidth`, else the network's `bandwidth`, direction by direction.
    public var bandwidth: BandwidthLimits?
    /// Which datapath wires the pod.
    public var datapath: Datapath = .bridge
    /// `networkPolicy`: weftd installs the pod's verdicts during ADD.
    public var networkPolicy: NetworkPolicySetting?
}

/// The parts of a plan that need no subnet and no datapath key: enough for DEL and GC, which must work
/// when flanneld is gone and whatever else the config now says.
public struct NetworkIdentity: Sendable, Equatable {
    public var name: String
    public var dataDir: String

    public init(_ config: NetworkConfig) throws {
        try Validation.networkName(config.name)
        let dir = config.ipam?.dataDir ?? config.dataDir ?? NetworkPlan.defaultDataDir
        guard dir.hasPrefix("/"), !dir.split(separator: "/").contains("..") else {
            throw CNIError(.invalidConfig, "dataDir \"\(Validation.printable(dir))\" must be an absolute path without \"..\"")
        }
        dataDir = dir
        name = config.name
    }
}

extension NetworkPlan {
    /// Resolves the plan. `loadSubnetEnv` is called only when the config gives no subnet of its own.
    public static func resolve(_ config: NetworkConfig, loadSubnetEnv: (String) throws -> SubnetEnv) throws -> NetworkPlan {
        let identity = try NetworkIdentity(config)
        if let delegate = config.delegate {
            if let type = delegate.type, type != "bridge" {
                throw CNIError(
                    .unsupportedField, "delegate.type \"\(Validation.printable(type))\" is not supported",
                    details: "weft is the bridge datapath itself; only \"bridge\" (or no type) is accepted")
            }
            if delegate.name != nil {
                throw CNIError(.invalidConfig, "delegate.name may not be set", details: "the network's name comes from the top-level name")
            }
            if delegate.hasIPAM {
                throw CNIError(.invalidConfig, "delegate.ipam may not be set", details: "put ipam at the top level, or let subnet.env give the subnet")
            }
        }
        if let type = config.ipam?.type, !["weft", "weft-ipam", "host-local"].contains(type) {
            throw CNIError(
                .unsupportedField, "ipam.type \"\(Validation.printable(type))\" is not supported",
                details: "weft allocates addresses itself; use host-local style keys")
        }
        let datapath = config.topLevel.overridden(by: config.delegate)
        let bridge = datapath.bridge ?? NetworkPlan.defaultBridge
        try Validation.interfaceName(bridge, key: config.delegate?.bridge != nil ? "delegate.bridge" : "bridge")

        var ranges: [AddressRange]
        var routes: [CNIResult.Route] = []
        var mtu = datapath.mtu
        var ipMasq = datapath.ipMasq ?? false
        var clusterNetworks: [IPNetwork] = []
        if let explicit = try ConfigRanges.explicit(config) {
            ranges = explicit
            for (index, route) in (config.ipam?.routes ?? config.routes ?? []).enumerated() {
                routes.append(try ConfigRanges.route(route, key: "\(config.ipam?.routes != nil ? "ipam.routes" : "routes")[\(index)]", ranges: ranges))
            }
        } else {
            let path = config.subnetFile ?? SubnetEnv.defaultPath
            let env = try loadSubnetEnv(path)
            ranges = try env.subnets.map { try ConfigRanges.flannelRange($0, path: path) }
            clusterNetworks = env.networks
            for network in env.networks {
                guard let range = ranges.first(where: { $0.family == network.family }) else { continue }
                routes.append(CNIResult.Route(destination: network, gateway: range.gateway))
            }
            mtu = mtu ?? env.mtu
            if datapath.ipMasq == nil, let flannelMasq = env.ipMasq {
                // flanneld masquerades itself when FLANNEL_IPMASQ=true; the datapath does it otherwise.
                ipMasq = !flannelMasq
            }
        }
        try ConfigRanges.checkDistinctFamilies(ranges)

        let isDefaultGateway = datapath.isDefaultGateway ?? false
        if isDefaultGateway {
            for range in ranges {
                let any = IPNetwork.defaultRoute(range.family)
                if !routes.contains(where: { $0.destination == any }) {
                    routes.append(CNIResult.Route(destination: any, gateway: range.gateway))
                }
            }
        }
        let isGateway = datapath.isGateway ?? true
        if isDefaultGateway && datapath.isGateway == false {
            throw CNIError(.invalidConfig, "isDefaultGateway true needs isGateway true", details: "isGateway is false")
        }
        let hairpinMode = datapath.hairpinMode ?? true
        let promiscMode = datapath.promiscMode ?? false
        if hairpinMode && promiscMode {
            throw CNIError(.invalidConfig, "hairpinMode and promiscMode may not both be true")
        }
        if let mtu {
            let minimum = ranges.contains { $0.family == .v6 } ? 1280 : 68
            guard (minimum...65535).contains(mtu) else {
                throw CNIError(.invalidConfig, "mtu \(mtu) is out of range", details: "expected \(minimum) to 65535")
            }
        }
        if let explicitCluster = config.clusterNetworks {
            clusterNetworks = try explicitCluster.enumerated().map { index, text in
                guard let network = IPNetwork(text) else {
                    throw CNIError(.invalidConfig, "clusterNetworks[\(index)] \"\(Validation.printable(text))\" is not a CIDR")
                }
                return network.canonical
            }
        } else if clusterNetworks.isEmpty {
            clusterNetworks = ranges.map(\.subnet)
        }
        let portMappings = try PortMappings.validate(config.runtimeConfig?.portMappings ?? [], families: Set(ranges.map(\.family)))
        let dns = try RuntimeDNS.validate(config.runtimeConfig?.dns)
        let bandwidth = try BandwidthLimits.resolve(network: config.bandwidth, runtime: config.runtimeConfig?.bandwidth)
        let datapathChoice = try DatapathChoice.resolve(
            config, ranges: ranges, hasPortMappings: !portMappings.isEmpty,
            hasBandwidth: bandwidth != nil)
        let networkPolicy = try NetworkPolicySetting.resolve(config.networkPolicy)
        if case .device = datapathChoice, networkPolicy != nil {
            throw CNIError(
                .invalidConfig, "networkPolicy is not supported by datapath device",
                details: "the pod owns the whole device: its traffic never crosses the node's forward path, where policies are enforced")
        }
        if case .device = datapathChoice {
            // flanneld's FLANNEL_IPMASQ cannot ask for it either: a device's traffic never crosses the node.
            ipMasq = false
        }
        return NetworkPlan(
            name: identity.name, bridge: bridge, isGateway: isGateway, isDefaultGateway: isDefaultGateway,
            hairpinMode: hairpinMode, promiscMode: promiscMode, mtu: mtu, ipMasq: ipMasq,
            dataDir: identity.dataDir, ranges: ranges, routes: routes, clusterNetworks: clusterNetworks,
            portMappings: portMappings, dns: dns, bandwidth: bandwidth, datapath: datapathChoice,
            networkPolicy: networkPolicy)
    }
}

/// `runtimeConfig.dns` (the `dns` capability) as the result's `dns`: servers must be addresses.
enum RuntimeDNS {
    static func validate(_ config: DNSConfig?) throws -> CNIResult.DNS {
        guard let config else { return CNIResult.DNS() }
        for (index, server) in (config.servers ?? []).enumerated() where IPAddress(server) == nil {
            throw CNIError(.invalidConfig, "runtimeConfig.dns.servers[\(index)] \"\(Validation.printable(server))\" is not an IP address")
        }
        return CNIResult.DNS(nameservers: config.servers, domain: config.domain, search: config.searches, options: config.options)
    }
}
