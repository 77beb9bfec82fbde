import WeftAddress

/// The IPv6 half of a dual-stack network: flannel's `IPv6Network`, `IPv6SubnetLen`, `IPv6SubnetMin`
/// and `IPv6SubnetMax`. Subnets are numbered from SubnetMin (index 0); the numbers fit 63 bits.
public struct IPv6Subnets: Equatable, Sendable {
    public let network: IPNetwork
    public let subnetLength: Int
    public let subnetMin: IPAddress
    public let subnetMax: IPAddress

    /// flannel's CheckNetworkConfig for IPv6: a /64 per node when the network is a /62 or larger,
    /// else a quarter of it; a given length between the network's + 2 and /126; SubnetMin and SubnetMax
    /// inside the network on subnet boundaries, by default the second and the last subnet.
    static func parse(_ config: NetConfDocument) throws -> IPv6Subnets {
        guard let text = config.ipv6Network, let written = IPNetwork(text), written.family == .v6 else {
            throw AgentError(.invalidConfig, "EnableIPv6 needs IPv6Network, an IPv6 CIDR (got \(config.ipv6Network.map { "\"\($0)\"" } ?? "nothing"))")
        }
        let network = written.canonical
        let length: Int
        if let configured = config.ipv6SubnetLength, configured != 0 {
            guard configured <= 126, configured >= network.prefixLength + 2 else {
                throw AgentError(
                    .invalidConfig, "IPv6SubnetLen \(configured) does not fit IPv6Network \(network) (between /\(network.prefixLength + 2) and /126)")
            }
            length = configured
        } else if network.prefixLength > 124 {
            throw AgentError(.invalidConfig, "IPv6Network \(network) is too small: the smallest usable network is a /124")
        } else {
            length = network.prefixLength <= 62 ? 64 : network.prefixLength + 2
        }
        guard length - network.prefixLength <= 63 else {
            throw AgentError(.invalidConfig, "IPv6Network \(network) holds more than 2^63 /\(length) subnets: use a longer prefix")
        }
        let count = UInt64(1) << UInt64(length - network.prefixLength)
        func bound(_ key: String, _ text: String?, default index: UInt64) throws -> IPAddress {
            guard let text else { return network.subnet(at: index, length: length)?.networkAddress ?? network.networkAddress }
            guard let address = IPAddress(text), network.contains(address) else {
                throw AgentError(.invalidConfig, "\(key) \(text) is not an address of IPv6Network \(network)")
            }
            guard IPNetwork(address: address, prefixLength: length)?.hasHostBitsSet == false else {
                throw AgentError(.invalidConfig, "\(key) \(text) is not on a /\(length) (IPv6SubnetLen) boundary")
            }
            return address
        }
        let subnetMin = try bound("IPv6SubnetMin", config.ipv6SubnetMin, default: 1)
        let subnetMax = try bound("IPv6SubnetMax", config.ipv6SubnetMax, default: count - 1)
        guard subnetMin <= subnetMax else { throw AgentError(.invalidConfig, "IPv6SubnetMin is above IPv6SubnetMax: no subnet can be leased") }
        return IPv6Subnets(network: network, subnetLength: length, subnetMin: subnetMin, subnetMax: subnetMax)
    }

    /// How many subnets SubnetMin…SubnetMax hold.
    public var count: UInt64 { number(subnetMax) - number(subnetMin) + 1 }

    /// The subnet `index` places after SubnetMin, or nil past SubnetMax.
    public func subnet(at index: UInt64) -> IPNetwork? {
        guard index < count else { return nil }
        return network.subnet(at: number(subnetMin) + index, length: subnetLength)
    }

    /// A subnet's place after SubnetMin, or nil when it is not one of them.
    public func index(of subnet: IPNetwork) -> UInt64? {
        guard subnet.prefixLength == subnetLength, !subnet.hasHostBitsSet, subnet.networkAddress >= subnetMin,
            subnet.networkAddress <= subnetMax
        else { return nil }
        return number(subnet.networkAddress) - number(subnetMin)
    }

    /// The subnet's number within the network (IPNetwork.subnetNumber); SubnetMin and SubnetMax are the
    /// network's, checked by parse.
    func number(_ address: IPAddress) -> UInt64 { network.subnetNumber(of: address, length: subnetLength) ?? 0 }
}
