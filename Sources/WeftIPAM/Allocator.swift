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

extension Allocator {
    /// The first clear bit at or after `start` (wrapping) among the first `count` bits of `words`.
    /// Bit i is bit (i % 64) of word i / 64. Cost is one test per 64 addresses, whatever the fill.
    public static func nextClearBit(in words: [UInt64], count: UInt64, from start: UInt64) -> UInt64? {
        guard count > 0, !words.isEmpty else { return nil }
        let wordCount = Int((count + 63) / 64)
        let startWord = Int(start % count / 64)
        for step in 0...wordCount {
            let index = (startWord + step) % wordCount
            var free = ~words[index]
            if step == 0 { free &= ~0 << UInt64(start % count % 64) }
            if step == wordCount {
                // Back at the first word: only the bits before `start` are left to look at.
                free = ~words[index] & ~(~0 << UInt64(start % count % 64))
            }
            if index == wordCount - 1, count % 64 != 0 { free &= (1 << (count % 64)) - 1 }
            if free != 0 {
                return UInt64(index) * 64 + UInt64(free.trailingZeroBitCount)
            }
        }
        return nil
    }
}
