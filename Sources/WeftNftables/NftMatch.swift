import WeftAddress

/// Match expressions both of Weft's tables are built from: nft's own translations of `meta nfproto`,
/// `ip saddr`, `ip daddr != 10.0.0.0/8`, `ct state established,related`, in the 32-bit registers.
public enum NftMatch {
    /// `meta nfproto ipv4` or `ipv6`: in an inet table, the family every address match needs first.
    public static func family(_ family: IPAddress.Family, register: Register) -> [NftExpression] {
        [.meta(.nfproto, into: register), .cmp(.eq, register, [family == .v4 ? 2 : 10])]
    }

    /// The source or destination address into `register` (four registers for IPv6); the family must
    /// have been matched.
    public static func loadAddress(_ family: IPAddress.Family, source: Bool, into register: Register) -> [NftExpression] {
        let offset: UInt32 = family == .v4 ? (source ? 12 : 16) : (source ? 8 : 24)
        return [.payload(.network, offset: offset, length: UInt32(addressLength(family)), into: register)]
    }

    /// `ip saddr/daddr [!=] network`: the address loaded, masked to the prefix, compared.
    public static func network(_ network: IPNetwork, source: Bool, register: Register, negate: Bool = false) -> [NftExpression] {
        let length = addressLength(network.family)
        let mask = (0..<length).map { index -> UInt8 in
            let bits = Swift.max(0, Swift.min(8, network.prefixLength - index * 8))
            return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        return loadAddress(network.family, source: source, into: register)
            + [
                .bitwise(register, mask: mask, xor: [UInt8](repeating: 0, count: length)),
                .cmp(negate ? .neq : .eq, register, network.networkAddress.bytes),
            ]
    }

    /// `ct state established,related`: the state bits (established 2, related 4, a u32 in host order)
    /// masked and compared with none.
    public static func establishedOrRelated(register: Register) -> [NftExpression] {
        [.ctState(into: register), .bitwise(register, mask: hostOrder(6), xor: [0, 0, 0, 0]), .cmp(.neq, register, [0, 0, 0, 0])]
    }

    public static func addressLength(_ family: IPAddress.Family) -> Int { family.addressLength }

    /// A transport port as the packet carries it (network byte order).
    public static func port(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// Values the kernel keeps in host byte order (marks, ct state and status, fib's address type).
    public static func hostOrder(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
    public static func hostOrder16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
}
