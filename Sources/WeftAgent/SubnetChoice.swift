import WeftAddress

/// Which subnet a node asks for, given the leases already in the engine.
public enum SubnetChoice {
    /// flannel picks at random among the first 100 free subnets, so nodes starting together rarely
    /// ask for the same one; the engine's create-only transaction settles the rare tie.
    public static let candidateWindow = 100

    /// Every leasable subnet of `config`, from SubnetMin to SubnetMax.
    public static func all(_ config: NetConf) -> [IPNetwork] {
        guard let (first, last) = numbers(config) else { return [] }
        return (first...last).compactMap { config.network.subnet(at: $0, length: config.subnetLength) }
    }

    /// The numbers of SubnetMin and SubnetMax among the network's subnets (IPNetwork.subnet(at:length:)).
    static func numbers(_ config: NetConf) -> (first: UInt64, last: UInt64)? {
        guard let first = config.network.subnetNumber(of: config.subnetMin, length: config.subnetLength),
            let last = config.network.subnetNumber(of: config.subnetMax, length: config.subnetLength), first <= last
        else { return nil }
        return (first, last)
    }

    /// Free subnets in order, at most `limit`.
    public static func free(_ config: NetConf, taken: Set<IPNetwork>, limit: Int = candidateWindow) -> [IPNetwork] {
        var result: [IPNetwork] = []
        guard let (first, last) = numbers(config) else { return [] }
        let takenCanonical = Set(taken.map(\.canonical))
        var number = first
        while number <= last && result.count < limit {
            if let subnet = config.network.subnet(at: number, length: config.subnetLength), !takenCanonical.contains(subnet) {
                result.append(subnet)
            }
            number += 1
        }
        return result
    }

    /// The subnet to try next: `preferred` (this node's previous subnet) when it is a leasable
    /// subnet nobody holds, else one of the first free subnets; nil when the network is full.
    public static func choose(
        _ config: NetConf, taken: Set<IPNetwork>, preferred: IPNetwork? = nil,
        random: (Int) -> Int = { Int.random(in: 0..<$0) }
    ) -> IPNetwork? {
        if let preferred = preferred?.canonical, isLeasable(preferred, in: config), !taken.contains(preferred) {
            return preferred
        }
        let candidates = free(config, taken: taken)
        guard !candidates.isEmpty else { return nil }
        return candidates[random(candidates.count)]
    }

    /// Whether `subnet` is one `config` hands out: the right length, inside SubnetMin…SubnetMax.
    public static func isLeasable(_ subnet: IPNetwork, in config: NetConf) -> Bool {
        subnet.prefixLength == config.subnetLength && !subnet.hasHostBitsSet
            && subnet.networkAddress >= config.subnetMin && subnet.networkAddress <= config.subnetMax
    }

    /// The IPv6 subnet of a dual-stack lease: `preferred` (this node's previous one) when free, else the
    /// one at the IPv4 subnet's place (so nodes choosing distinct IPv4 subnets never race for an IPv6
    /// one), else the first free one; nil when every IPv6 subnet is leased.
    public static func ipv6(for subnet: IPNetwork, _ config: NetConf, taken: Set<IPNetwork>, preferred: IPNetwork? = nil) -> IPNetwork? {
        guard let ipv6 = config.ipv6 else { return nil }
        let held = Set(taken.map(\.canonical))
        if let preferred = preferred?.canonical, ipv6.index(of: preferred) != nil, !held.contains(preferred) { return preferred }
        if let (first, _) = numbers(config), let number = config.network.subnetNumber(of: subnet.networkAddress, length: config.subnetLength),
            number >= first, let matching = ipv6.subnet(at: number - first), !held.contains(matching)
        {
            return matching
        }
        var index: UInt64 = 0
        while let candidate = ipv6.subnet(at: index) {
            if !held.contains(candidate) { return candidate }
            index += 1
        }
        return nil
    }
}
