import WeftAddress

/// IPv4 addresses as 32-bit numbers, for walking a network subnet by subnet.
enum IPv4Math {
    static func value(_ address: IPAddress) -> UInt32 {
        address.bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    static func address(_ value: UInt32) -> IPAddress {
        let bytes = [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
        return IPAddress(bytes: bytes) ?? .unspecified(.v4)
    }

    /// The number of addresses in a /length (length 1…32).
    static func size(_ length: Int) -> UInt32 { length <= 0 ? UInt32.max : UInt32(1) << UInt32(32 - length) }
}
