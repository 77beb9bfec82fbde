import WeftAddress

/// Chooses the next free address of a range, round-robin from the last one handed out,
/// so a just-released address is not reused at once (a stale ARP entry or conntrack entry
/// of the old pod could otherwise reach the new one).
public enum Allocator {
    /// - Parameters:
    ///   - range: where to allocate.
    ///   - lastReserved: the address handed out last in this range, if known.
    ///   - isTaken: whether an address is held.
    /// - Returns: the first address after `lastReserved` (wrapping) that is neither taken nor the gateway.
    public static func next(in range: AddressRange, after lastReserved: IPAddress?, isTaken: (IPAddress) -> Bool) -> IPAddress? {
        let count = range.count
        guard count > 0 else { return nil }
        var startOffset: UInt64 = 0
        if let lastReserved, range.contains(lastReserved), let distance = lastReserved.distance(from: range.first) {
            startOffset = distance == count - 1 ? 0 : distance + 1
        }
        // A range wider than this many addresses is never scanned to its end: IPv6 /64s are 2^64 wide.
        let limit = min(count, 1 << 24)
        var offset = startOffset
        for _ in 0..<limit {
            if let candidate = range.first.advanced(by: offset), candidate != range.gateway, !isTaken(candidate) {
                return candidate
            }
            offset = offset + 1 == count ? 0 : offset + 1
        }
        return nil
    }
}
