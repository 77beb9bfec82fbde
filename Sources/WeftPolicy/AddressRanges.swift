import WeftAddress

/// Address intervals, as nftables' interval sets hold them: pods as single addresses, an ipBlock as
/// its CIDR with the `except` CIDRs cut out.
public struct AddressInterval: Hashable, Sendable, CustomStringConvertible {
    public let first: IPAddress
    public let last: IPAddress

    public init(_ first: IPAddress, _ last: IPAddress) {
        self.first = first
        self.last = last
    }

    public init(_ address: IPAddress) { self.init(address, address) }

    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }
}

enum AddressIntervals {
    /// `cidr` without `except`: the intervals left, in order. Excepts outside the block cut nothing.
    static func block(_ cidr: IPNetwork, except: [IPNetwork]) -> [AddressInterval] {
        var result: [AddressInterval] = []
        var cursor: IPAddress? = cidr.networkAddress
        let holes = merge(except.filter { cidr.contains($0.networkAddress) }.map { AddressInterval($0.networkAddress, $0.lastAddress) })
        for hole in holes {
            guard let start = cursor else { break }
            if start < hole.first, let before = predecessor(hole.first) { result.append(AddressInterval(start, before)) }
            cursor = hole.last < cidr.lastAddress ? successor(hole.last) : nil
        }
        if let start = cursor { result.append(AddressInterval(start, cidr.lastAddress)) }
        return result
    }

    /// Sorted, with overlapping and adjacent intervals joined (nftables refuses overlapping elements).
    static func merge(_ intervals: [AddressInterval]) -> [AddressInterval] {
        var merged: [AddressInterval] = []
        for interval in intervals.sorted(by: { ($0.first, $0.last) < ($1.first, $1.last) }) {
            if let last = merged.last, last.first.family == interval.first.family,
                interval.first <= last.last || successor(last.last) == interval.first
            {
                merged[merged.count - 1] = AddressInterval(last.first, max(last.last, interval.last))
            } else {
                merged.append(interval)
            }
        }
        return merged
    }

    static func successor(_ address: IPAddress) -> IPAddress? { step(address, by: 1) }
    static func predecessor(_ address: IPAddress) -> IPAddress? { step(address, by: -1) }

    private static func step(_ address: IPAddress, by delta: Int) -> IPAddress? {
        var bytes = address.bytes
        for index in bytes.indices.reversed() {
            let value = Int(bytes[index]) + delta
            if (0...255).contains(value) {
                bytes[index] = UInt8(value)
                return IPAddress(bytes: bytes)
            }
            bytes[index] = delta > 0 ? 0 : 255
        }
        return nil  // wrapped around: no such address
    }
}
