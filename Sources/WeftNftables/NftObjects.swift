/// A base chain: its type ("nat" for hostPorts and masquerade, "filter" for NetworkPolicy), hook and
/// priority. A regular chain, reached only by jumps, is just a name (NftTableImage.regularChains).
public struct NftChain: Equatable, Sendable {
    public enum Hook: UInt32, Sendable { case prerouting = 0, input = 1, forward = 2, output = 3, postrouting = 4 }
    public let name: String
    public let hook: Hook
    public let priority: Int32
    public var type = "nat"

    public init(name: String, hook: Hook, priority: Int32, type: String = "nat") {
        self.name = name; self.hook = hook; self.priority = priority; self.type = type
    }
}

/// A set of keys (addresses, concatenations), optionally of intervals; with `data`, a map from its keys
/// to values or to verdicts (a `vmap`). Types are NftDatatype's, so `nft list` prints the elements.
public struct NftSet: Equatable, Sendable {
    public enum Data: Equatable, Sendable {
        /// A verdict map: every element carries a verdict.
        case verdict
        /// A map: every element carries a value of this type and length.
        case value(type: UInt32, length: UInt32)
    }

    public let name: String
    public let keyLength: UInt32
    public let keyType: UInt32
    /// Elements are intervals: each given as its first key and, flagged as an interval end, the key after its last.
    public let interval: Bool
    public let data: Data?
    /// `flags dynamic`: rules may add elements (`update @set { … }`, NFT_SET_EVAL).
    public var dynamic = false
    /// `flags timeout` with `timeout N`: elements expire after this many milliseconds unless refreshed
    /// (NFT_SET_TIMEOUT and the set's default timeout). Nil: elements stay.
    public var timeoutMilliseconds: UInt64?

    public init(name: String, keyLength: UInt32, keyType: UInt32, interval: Bool = false, data: Data? = nil) {
        self.name = name; self.keyLength = keyLength; self.keyType = keyType; self.interval = interval; self.data = data
    }

    /// A set rules fill as packets pass (`flags dynamic,timeout; timeout …`): ClientIP-style affinity.
    public init(dynamicName name: String, keyLength: UInt32, keyType: UInt32, timeoutMilliseconds: UInt64) {
        self.init(name: name, keyLength: keyLength, keyType: keyType)
        self.dynamic = true
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public init(name: String, keyLength: UInt32, keyType: UInt32, interval: Bool = false, verdictMap: Bool) {
        self.init(name: name, keyLength: keyLength, keyType: keyType, interval: interval, data: verdictMap ? .verdict : nil)
    }

    public var verdictMap: Bool { data == .verdict }
}

/// One element of an NftSet: its key, whether it ends an interval, a verdict map's verdict, a map's
/// value, and a comment (nft's element user data: who added it, so it can be found again).
public struct NftSetElement: Equatable, Hashable, Sendable {
    public let key: [UInt8]
    public let intervalEnd: Bool
    public let verdict: NftVerdict?
    public let data: [UInt8]
    public let comment: String

    public init(key: [UInt8], intervalEnd: Bool = false, verdict: NftVerdict? = nil, data: [UInt8] = [], comment: String = "") {
        self.key = key; self.intervalEnd = intervalEnd; self.verdict = verdict; self.data = data; self.comment = comment
    }
}
