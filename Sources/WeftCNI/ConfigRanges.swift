import WeftAddress

/// Builds and validates address ranges from config keys or a flannel lease (Tests/CHECKLIST.md items 13–14).
enum ConfigRanges {
    /// The ranges a config names itself (`subnet`, `ipam.subnet` or `ipam.ranges`), or nil when it names none.
    static func explicit(_ config: NetworkConfig) throws -> [AddressRange]? {
        if let sets = config.runtimeConfig?.ipRanges, !sets.isEmpty {
            return try rangeSets(sets, key: "runtimeConfig.ipRanges")
        }
        if let sets = config.ipam?.ranges {
            return try rangeSets(sets, key: "ipam.ranges")
        }
        if let ipam = config.ipam, let subnet = ipam.subnet {
            return [
                try range(
                    subnet: subnet, start: ipam.rangeStart, end: ipam.rangeEnd, gateway: ipam.gateway,
                    key: "ipam", hostBitsNameGateway: false)
            ]
        }
        if let subnet = config.subnet {
            return [try range(subnet: subnet, start: nil, end: nil, gateway: nil, key: "", hostBitsNameGateway: true)]
        }
        return nil
    }

    private static func rangeSets(_ sets: [[RangeConfig]], key: String) throws -> [AddressRange] {
        guard !sets.isEmpty else { throw CNIError(.invalidConfig, "\(key) is empty") }
        return try sets.enumerated().map { setIndex, set in
            guard set.count == 1, let range = set.first else {
                throw CNIError(
                    .unsupportedField, "\(key)[\(setIndex)] has \(set.count) ranges",
                    details: "this version takes exactly one range per set")
            }
            return try self.range(
                subnet: range.subnet, start: range.rangeStart, end: range.rangeEnd,
                gateway: range.gateway, key: "\(key)[\(setIndex)][0]", hostBitsNameGateway: false)
        }
    }

    /// FLANNEL_SUBNET writes the gateway's host bits: 10.244.1.1/24 means subnet 10.244.1.0/24, gateway .1.
    static func flannelRange(_ subnet: IPNetwork, path: String) throws -> AddressRange {
        try range(subnet: subnet.description, start: nil, end: nil, gateway: nil, key: "\(path): FLANNEL_SUBNET", hostBitsNameGateway: true)
    }

    static func range(subnet text: String, start: String?, end: String?, gateway: String?, key: String, hostBitsNameGateway: Bool) throws -> AddressRange {
        let prefix = key.isEmpty ? "" : (key.hasSuffix("FLANNEL_SUBNET") ? key + " " : key + ".")
        let subnetKey = key.hasSuffix("FLANNEL_SUBNET") ? key : "\(prefix)subnet"
        func invalid(_ name: String, _ value: String, _ why: String) -> CNIError {
            CNIError(.invalidConfig, "\(name) \"\(Validation.printable(value))\" \(why)")
        }
        guard let subnet = IPNetwork(text) else { throw invalid(subnetKey, text, "is not a CIDR subnet") }
        let hostBits = subnet.address.bitWidth - subnet.prefixLength
        guard hostBits >= 2 else { throw invalid(subnetKey, text, "leaves no room for a gateway and a pod") }
        if subnet.family == .v6 {
            if subnet.address.isIPv6LinkLocal { throw invalid(subnetKey, text, "is link-local") }
            if subnet.address.isIPv4Mapped { throw invalid(subnetKey, text, "is an IPv4-mapped IPv6 range") }
        }
        if subnet.hasHostBitsSet && !hostBitsNameGateway {
            throw invalid(subnetKey, text, "has host bits set (did you mean \(subnet.canonical)?)")
        }
        guard let bounds = AddressRange.defaultBounds(of: subnet) else { throw invalid(subnetKey, text, "is too small") }

        func address(_ value: String?, _ name: String) throws -> IPAddress? {
            guard let value else { return nil }
            guard let address = IPAddress(value) else { throw invalid("\(prefix)\(name)", value, "is not an IP address") }
            guard subnet.contains(address) else { throw invalid("\(prefix)\(name)", value, "is outside subnet \(subnet.canonical)") }
            guard bounds.first <= address, address <= bounds.last else {
                throw invalid("\(prefix)\(name)", value, "is the network or broadcast address of \(subnet.canonical)")
            }
            return address
        }
        var first = try address(start, "rangeStart") ?? bounds.first
        let last = try address(end, "rangeEnd") ?? bounds.last
        guard first <= last else {
            throw CNIError(.invalidConfig, "\(prefix)rangeStart \(first) is after \(prefix)rangeEnd \(last)")
        }
        let gatewayAddress: IPAddress
        if let explicit = try address(gateway, "gateway") {
            gatewayAddress = explicit
        } else if subnet.hasHostBitsSet {
            gatewayAddress = subnet.address
            guard bounds.first <= gatewayAddress, gatewayAddress <= bounds.last else {
                throw invalid(subnetKey, text, "names the broadcast address as its gateway")
            }
        } else {
            gatewayAddress = bounds.first
        }
        // The gateway is never handed out: move the start past it when it sits at the start.
        if first == gatewayAddress, start == nil, let next = first.advanced(by: 1), next <= last {
            first = next
        }
        guard first != last || first != gatewayAddress else { throw invalid(subnetKey, text, "has no address left besides its gateway") }
        return AddressRange(subnet: subnet, gateway: gatewayAddress, first: first, last: last)
    }

    static func route(_ route: RouteConfig, key: String, ranges: [AddressRange]) throws -> CNIResult.Route {
        guard let destination = IPNetwork(route.dst) else {
            throw CNIError(.invalidConfig, "\(key).dst \"\(Validation.printable(route.dst))\" is not a CIDR")
        }
        guard let range = ranges.first(where: { $0.family == destination.family }) else {
            throw CNIError(.invalidConfig, "\(key).dst \"\(route.dst)\" has no range of its address family")
        }
        var gateway = range.gateway
        if let text = route.gw {
            guard let explicit = IPAddress(text), explicit.family == destination.family else {
                throw CNIError(.invalidConfig, "\(key).gw \"\(Validation.printable(text))\" is not an address of the same family as its dst")
            }
            gateway = explicit
        }
        return CNIResult.Route(destination: destination.canonical, gateway: gateway)
    }

    static func checkDistinctFamilies(_ ranges: [AddressRange]) throws {
        for family in [IPAddress.Family.v4, .v6] where ranges.filter({ $0.family == family }).count > 1 {
            throw CNIError(
                .unsupportedField, "more than one IP\(family == .v4 ? "v4" : "v6") range",
                details: "this version gives a pod one address per family")
        }
    }
}
