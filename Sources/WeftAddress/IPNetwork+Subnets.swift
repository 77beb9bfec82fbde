/// A network cut into equal subnets of a longer prefix, numbered from 0 at its network address: how
/// weftd walks flannel's Network and IPv6Network subnet by subnet, in either family. A subnet's number
/// is the address bits between the network's prefix and the subnet's, so it fits a UInt64 while the
/// difference of the prefixes is at most 64 (flannel's configurations keep it at 63 or less).
extension IPNetwork {
    /// How many /`length` subnets this network holds; nil when `length` is shorter than this prefix,
    /// longer than the address, or the count does not fit a UInt64 (more than 63 bits between them).
    public func subnetCount(length: Int) -> UInt64? {
        guard length >= prefixLength, length <= address.bitWidth, length - prefixLength <= 63 else { return nil }
        return UInt64(1) << UInt64(length - prefixLength)
    }

    /// The subnet numbered `index` among this network's /`length` subnets, or nil past the last one.
    public func subnet(at index: UInt64, length: Int) -> IPNetwork? {
        guard let count = subnetCount(length: length), index < count else { return nil }
        var bytes = networkAddress.bytes
        let bits = length - prefixLength
        for offset in 0..<bits where (index >> UInt64(bits - 1 - offset)) & 1 == 1 {
            let bit = prefixLength + offset
            bytes[bit / 8] |= 0x80 >> UInt8(bit % 8)
        }
        return IPAddress(bytes: bytes).flatMap { IPNetwork(address: $0, prefixLength: length) }
    }

    /// The number of the /`length` subnet of this network that holds `address`, or nil when the
    /// network does not hold it (or `length` does not fit, as in subnetCount).
    public func subnetNumber(of address: IPAddress, length: Int) -> UInt64? {
        guard subnetCount(length: length) != nil, contains(address) else { return nil }
        var value: UInt64 = 0
        for bit in prefixLength..<length {
            value = value << 1 | UInt64((address.bytes[bit / 8] >> (7 - UInt8(bit % 8))) & 1)
        }
        return value
    }
}
