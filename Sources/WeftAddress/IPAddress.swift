#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address held as its network-order bytes (4 or 16 of them).
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case v4, v6 }

    public let bytes: [UInt8]

    public var family: Family { bytes.count == 4 ? .v4 : .v6 }
    public var isIPv4: Bool { bytes.count == 4 }
    public var bitWidth: Int { bytes.count * 8 }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    private init(zeroOf family: Family) {
        bytes = [UInt8](repeating: 0, count: family.addressLength)
    }

    /// 0.0.0.0 or ::.
    public static func unspecified(_ family: Family) -> IPAddress { IPAddress(zeroOf: family) }

    /// Parses the textual forms inet_pton accepts: dotted quad or RFC 4291 text.
    /// A zone suffix (`%eth0`) is refused: an address in a CNI config names no zone.
    public init?(_ text: String) {
        if text.contains(":") {
            var storage = in6_addr()
            guard inet_pton(AF_INET6, text, &storage) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &storage) { Array($0) }
        } else {
            var storage = in_addr()
            guard inet_pton(AF_INET, text, &storage) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &storage) { Array($0) }
        }
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok: Bool = bytes.withUnsafeBytes { raw in
            inet_ntop(family.socketFamily, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return bytes.map { String($0) }.joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.bytes.count != rhs.bytes.count { return lhs.bytes.count < rhs.bytes.count }
        return lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// The address `offset` places after this one, or nil when that wraps past the family's end.
    public func advanced(by offset: UInt64) -> IPAddress? {
        var result = bytes
        var carry = offset
        var index = result.count - 1
        while carry > 0 {
            guard index >= 0 else { return nil }
            let sum = UInt64(result[index]) + (carry & 0xff)
            result[index] = UInt8(sum & 0xff)
            carry = (carry >> 8) + (sum >> 8)
            index -= 1
        }
        return IPAddress(bytes: result)
    }

    /// How far this address lies after `base`, when both share the low 64 bits' upper context.
    /// Returns nil when the distance is negative or does not fit in 64 bits.
    public func distance(from base: IPAddress) -> UInt64? {
        guard base.bytes.count == bytes.count, base <= self else { return nil }
        let split = bytes.count - 8
        if split > 0, bytes[..<split] != base.bytes[..<split] {
            return nil
        }
        func low64(_ b: [UInt8]) -> UInt64 {
            b.suffix(8).reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        }
        return low64(bytes) &- low64(base.bytes)
    }

    /// True for IPv6 addresses in fe80::/10.
    public var isIPv6LinkLocal: Bool { !isIPv4 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80 }

    /// True for IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), which no interface should carry.
    public var isIPv4Mapped: Bool {
        !isIPv4 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
    }
}

extension IPAddress.Family {
    /// The bytes of one address: 4 or 16.
    public var addressLength: Int { self == .v4 ? 4 : 16 }

    /// The socket family the kernel names it by (AF_INET, AF_INET6), as netlink headers carry it.
    public var socketFamily: Int32 { self == .v4 ? AF_INET : AF_INET6 }
}
