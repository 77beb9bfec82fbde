import WeftAddress

/// nft's datatype numbers (nftables' src/datatype.h) for a set's keys and data. The kernel only stores
/// them; `nft list` reads them to print elements as addresses, protocols and ports instead of hex.
public enum NftDatatype {
    public static let integer: UInt32 = 4
    public static let ipv4Address: UInt32 = 7
    public static let ipv6Address: UInt32 = 8
    public static let inetProto: UInt32 = 12
    public static let inetService: UInt32 = 13

    public static func address(_ family: IPAddress.Family) -> UInt32 { family == .v4 ? ipv4Address : ipv6Address }

    /// A concatenation's type, as nft writes it: each field's type shifted in by 6 bits.
    public static func concat(_ types: UInt32...) -> UInt32 { types.reduce(0) { ($0 << 6) | $1 } }
}
