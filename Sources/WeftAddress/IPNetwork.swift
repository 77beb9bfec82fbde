/// An address with a prefix length, as written in CIDR notation (`10.244.1.1/24`).
/// `address` keeps the host bits as written: flannel's FLANNEL_SUBNET names the gateway that way.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0, prefixLength <= address.bitWidth else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    private init(defaultRouteOf family: IPAddress.Family) {
        address = .unspecified(family)
        prefixLength = 0
    }

    /// 0.0.0.0/0 or ::/0.
    public static func defaultRoute(_ family: IPAddress.Family) -> IPNetwork { IPNetwork(defaultRouteOf: family) }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let address = IPAddress(String(parts[0])),
            parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), !parts[1].isEmpty, parts[1].count <= 3,
            let length = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public var description: String { "\(address)/\(prefixLength)" }
    public var family: IPAddress.Family { address.family }

    /// The first address of the network: `address` with its host bits cleared.
    public var networkAddress: IPAddress {
        IPAddress(bytes: masked(address.bytes, keepHostBits: false)) ?? address
    }

    /// The last address of the network: all host bits set (IPv4's broadcast address).
    public var lastAddress: IPAddress {
        IPAddress(bytes: masked(address.bytes, keepHostBits: true)) ?? address
    }

    /// The same network with host bits cleared, the form a route destination takes.
    public var canonical: IPNetwork { IPNetwork(address: networkAddress, prefixLength: prefixLength) ?? self }

    public var hasHostBitsSet: Bool { networkAddress != address }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.family == address.family else { return false }
        return masked(other.bytes, keepHostBits: false) == networkAddress.bytes
    }

    public func overlaps(_ other: IPNetwork) -> Bool {
        guard other.family == family else { return false }
        return contains(other.networkAddress) || other.contains(networkAddress)
    }

    /// The number of addresses, capped at UInt64.max for wide IPv6 prefixes.
    public var size: UInt64 {
        let hostBits = address.bitWidth - prefixLength
        return hostBits >= 64 ? UInt64.max : UInt64(1) << UInt64(hostBits)
    }

    private func masked(_ bytes: [UInt8], keepHostBits: Bool) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsBefore = index * 8
            let networkBits = max(0, min(8, prefixLength - bitsBefore))
            let networkMask: UInt8 = networkBits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - networkBits))
            result[index] = keepHostBits ? (result[index] | ~networkMask) : (result[index] & networkMask)
        }
        return result
    }
}
