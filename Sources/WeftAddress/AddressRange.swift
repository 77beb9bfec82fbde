/// One range of assignable addresses inside a subnet, as host-local's `ranges` entries describe it.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    public let subnet: IPNetwork
    public let gateway: IPAddress
    /// The first and last addresses that may be handed out (inclusive).
    public let first: IPAddress
    public let last: IPAddress

    public init(subnet: IPNetwork, gateway: IPAddress, first: IPAddress, last: IPAddress) {
        self.subnet = subnet.canonical
        self.gateway = gateway
        self.first = first
        self.last = last
    }

    /// The addresses usable in `subnet` when no bounds are given: the network address,
    /// the IPv4 broadcast address and (for IPv6) the all-ones address are never handed out;
    /// IPv6's first address is the subnet-router anycast address, so it is skipped too.
    public static func defaultBounds(of subnet: IPNetwork) -> (first: IPAddress, last: IPAddress)? {
        let network = subnet.networkAddress
        guard let first = network.advanced(by: 1) else { return nil }
        let broadcast = subnet.lastAddress
        guard let lastDistance = broadcast.distance(from: network), lastDistance >= 2,
            let last = network.advanced(by: lastDistance - 1)
        else {
            // Wider than 64 host bits: bound the range to the low 2^64 addresses.
            guard subnet.size == UInt64.max, let last = network.advanced(by: UInt64.max - 1) else { return nil }
            return (first, last)
        }
        return (first, last)
    }

    /// The subnet alone when the range spans all of it (but for the gateway), else the subnet with its bounds.
    public var description: String {
        guard let bounds = AddressRange.defaultBounds(of: subnet) else { return "\(subnet) (\(first)-\(last))" }
        let spansSubnet =
            last == bounds.last
            && (first == bounds.first || (bounds.first == gateway && first == gateway.advanced(by: 1)))
        return spansSubnet ? subnet.description : "\(subnet) (\(first)-\(last))"
    }

    public var family: IPAddress.Family { subnet.family }

    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && first <= address && address <= last
    }

    /// How many addresses the range spans, capped at UInt64.max.
    public var count: UInt64 {
        guard let distance = last.distance(from: first) else { return UInt64.max }
        return distance == UInt64.max ? distance : distance + 1
    }
}
