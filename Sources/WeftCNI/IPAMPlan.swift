import WeftAddress

/// What address management needs: ranges, routes, the store, and the addresses asked for.
/// `weft` gets it from its NetworkPlan; `weft-ipam` from the `ipam` section alone, as host-local does.
public struct IPAMPlan: Sendable, Equatable {
    public var name: String
    public var dataDir: String
    public var ranges: [AddressRange]
    public var routes: [CNIResult.Route]
    public var resolvConf: String?

    /// The `ipam` section of a config handed to an IPAM plugin.
    public static func resolve(_ config: NetworkConfig) throws -> IPAMPlan {
        let identity = try NetworkIdentity(config)
        guard config.ipam != nil else { throw CNIError(.invalidConfig, "ipam is missing") }
        guard let ranges = try ConfigRanges.explicit(config) else {
            throw CNIError(.invalidConfig, "ipam needs subnet or ranges")
        }
        try ConfigRanges.checkDistinctFamilies(ranges)
        let routes = try (config.ipam?.routes ?? []).enumerated().map { index, route in
            try ConfigRanges.route(route, key: "ipam.routes[\(index)]", ranges: ranges)
        }
        if let path = config.ipam?.resolvConf, !path.hasPrefix("/") || path.split(separator: "/").contains("..") {
            throw CNIError(.invalidConfig, "ipam.resolvConf \"\(Validation.printable(path))\" must be an absolute path without \"..\"")
        }
        return IPAMPlan(name: identity.name, dataDir: identity.dataDir, ranges: ranges, routes: routes, resolvConf: config.ipam?.resolvConf)
    }
}

/// The addresses a pod must get: `runtimeConfig.ips`, `args.cni.ips` and CNI_ARGS `IP=` (comma-separated).
public enum RequestedAddresses {
    public static func resolve(_ config: NetworkConfig, args: CNIArgs) throws -> [IPAddress] {
        var sources: [(key: String, values: [String])] = []
        if let ips = config.runtimeConfig?.ips { sources.append(("runtimeConfig.ips", ips)) }
        if let ips = config.args?.cni?.ips { sources.append(("args.cni.ips", ips)) }
        if let ips = args["IP"] { sources.append(("CNI_ARGS IP", ips.split(separator: ",").map(String.init))) }
        var addresses: [IPAddress] = []
        for (key, values) in sources {
            for value in values {
                let text = value.split(separator: "/").first.map(String.init) ?? value
                guard let address = IPAddress(text) else {
                    throw CNIError(.invalidConfig, "\(key) \"\(Validation.printable(value))\" is not an IP address")
                }
                if !addresses.contains(address) { addresses.append(address) }
            }
        }
        for family in [IPAddress.Family.v4, .v6] where addresses.filter({ $0.family == family }).count > 1 {
            throw CNIError(
                .invalidConfig, "more than one IP\(family == .v4 ? "v4" : "v6") address requested",
                details: addresses.map(\.description).joined(separator: ", "))
        }
        return addresses
    }
}
