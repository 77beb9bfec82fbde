import WeftAddress
import WeftIdentity

/// A plain-value model of the nftables objects Weft owns: tests compare these, and only
/// NftEncoder turns them into libnftnl objects.

/// A data register as the kernel numbers it. Weft uses the 32-bit registers (NFT_REG32_00 = 8 …): a value
/// wider than 4 bytes fills consecutive ones. nft uses the 16-byte NFT_REG_1 (1, the same storage as
/// NFT_REG32_00 … 03) for any single value; `wide1` spells it, so a rule can be written exactly as nft writes it.
public struct Register: Hashable, Sendable {
    public let raw: UInt32
    public static func r(_ n: UInt32) -> Register { Register(raw: 8 + n) }
    public static let wide1 = Register(raw: 1)
    public func advanced(by words: UInt32) -> Register { Register(raw: raw + words) }
}

public enum NftExpression: Equatable, Sendable {
    /// nft_meta_keys. `iiftype` is the input device's ARPHRD type, 2 bytes in host order.
    public enum MetaKey: UInt32, Sendable { case mark = 3, oifname = 7, iiftype = 8, nfproto = 15, l4proto = 16 }
    public enum PayloadBase: UInt32, Sendable { case network = 1, transport = 2 }
    /// nft_cmp_ops. The kernel compares bytes in order (memcmp), so big-endian values order as numbers.
    public enum CmpOp: UInt32, Sendable { case eq = 0, neq = 1, lte = 3, gte = 5 }

    /// Loads packet metadata into a register.
    case meta(MetaKey, into: Register)
    /// Sets packet metadata from a register.
    case setMeta(MetaKey, from: Register)
    case payload(PayloadBase, offset: UInt32, length: UInt32, into: Register)
    case cmp(CmpOp, Register, [UInt8])
    /// register = (register & mask) ^ xor, over mask.count bytes.
    case bitwise(Register, mask: [UInt8], xor: [UInt8])
    /// Looks the key at `key` up in a set; with `into`, a map whose value lands there. No match ends the rule.
    case lookup(set: String, key: Register, into: Register?)
    /// `fib daddr type`: the destination's address type (RTN_LOCAL = 2) into a register.
    case fibDestinationType(into: Register)
    /// DNAT to the address and port held in two registers.
    case dnat(family: IPAddress.Family, address: Register, port: Register)
    case masquerade
    case counter
    /// The conntrack state bits (NFT_CT_STATE) into a register.
    case ctState(into: Register)
    /// The conntrack status bits (NFT_CT_STATUS, u32 in host order: IPS_DST_NAT is 0x20) into a register.
    case ctStatus(into: Register)
    /// Ends the rule with a verdict (immediate into the verdict register).
    case verdict(NftVerdict)
    /// Looks the key at `key` up in a verdict map and applies the element's verdict; no element, no verdict.
    case verdictMap(set: String, key: Register)
}

public enum NftVerdict: Equatable, Hashable, Sendable {
    case accept, drop, jump(String)
}

public struct NftRule: Equatable, Sendable {
    public let chain: String
    public let expressions: [NftExpression]
    /// The rule's comment: "weft:" and a fingerprint of its chain's intended rules, so an install
    /// can tell an up-to-date chain from a stale or flushed one without rewriting it.
    public var comment: String = ""

    public init(chain: String, expressions: [NftExpression], comment: String = "") {
        self.chain = chain
        self.expressions = expressions
        self.comment = comment
    }
}

extension Array where Element == NftRule {
    /// The rules with each chain's fingerprint as their comment.
    public func fingerprinted() -> [NftRule] {
        var hashes: [String: FNV1a] = [:]
        for rule in self {
            var hash = hashes[rule.chain] ?? FNV1a()
            hash.add(UInt8(0xff))
            for expression in rule.expressions { expression.feed(&hash) }
            hashes[rule.chain] = hash
        }
        return map { NftRule(chain: $0.chain, expressions: $0.expressions, comment: "weft:" + String(hashes[$0.chain]?.value ?? 0, radix: 16)) }
    }
}

/// FNV-1a over the rules' own fields: String(describing:) of the same values costs milliseconds.
extension FNV1a {
    mutating func add(word: UInt32) { withUnsafeBytes(of: word) { add($0) } }
    mutating func add(bytes: [UInt8]) { add(word: UInt32(bytes.count)); add(bytes) }
    mutating func add(text: String) { add(bytes: Array(text.utf8)) }
}

extension NftExpression {
    func feed(_ hash: inout FNV1a) {
        switch self {
        case let .meta(key, register): hash.add(UInt8(1)); hash.add(word: key.rawValue); hash.add(word: register.raw)
        case let .setMeta(key, register): hash.add(UInt8(2)); hash.add(word: key.rawValue); hash.add(word: register.raw)
        case let .payload(base, offset, length, register):
            hash.add(UInt8(3)); hash.add(word: base.rawValue); hash.add(word: offset); hash.add(word: length); hash.add(word: register.raw)
        case let .cmp(op, register, data): hash.add(UInt8(4)); hash.add(word: op.rawValue); hash.add(word: register.raw); hash.add(bytes: data)
        case let .bitwise(register, mask, xor): hash.add(UInt8(5)); hash.add(word: register.raw); hash.add(bytes: mask); hash.add(bytes: xor)
        case let .lookup(set, key, value): hash.add(UInt8(6)); hash.add(text: set); hash.add(word: key.raw); hash.add(word: value?.raw ?? 0)
        case let .fibDestinationType(register): hash.add(UInt8(7)); hash.add(word: register.raw)
        case let .dnat(family, address, port): hash.add(UInt8(8)); hash.add(UInt8(family == .v4 ? 4 : 6)); hash.add(word: address.raw); hash.add(word: port.raw)
        case .masquerade: hash.add(UInt8(9))
        case .counter: hash.add(UInt8(10))
        case let .ctState(register): hash.add(UInt8(11)); hash.add(word: register.raw)
        case let .ctStatus(register): hash.add(UInt8(14)); hash.add(word: register.raw)
        case let .verdict(verdict):
            hash.add(UInt8(12))
            switch verdict {
            case .accept: hash.add(UInt8(1))
            case .drop: hash.add(UInt8(0))
            case let .jump(chain): hash.add(UInt8(2)); hash.add(text: chain)
            }
        case let .verdictMap(set, key): hash.add(UInt8(13)); hash.add(text: set); hash.add(word: key.raw)
        }
    }
}

public struct NftChain: Equatable, Sendable {
    public enum Hook: UInt32, Sendable { case prerouting = 0, input = 1, forward = 2, output = 3, postrouting = 4 }
    public let name: String
    public let hook: Hook
    public let priority: Int32
    /// "nat" (hostPorts, masquerade) or "filter" (NetworkPolicy).
    public var type = "nat"

    public init(name: String, hook: Hook, priority: Int32, type: String = "nat") {
        self.name = name; self.hook = hook; self.priority = priority; self.type = type
    }
}

/// A set of keys (addresses, concatenations), optionally of intervals, or a verdict map from keys to jumps.
public struct NftSet: Equatable, Sendable {
    public let name: String
    public let keyLength: UInt32
    public let keyType: UInt32
    /// Elements are intervals: each given as its first key and, flagged as an interval end, the key after its last.
    public let interval: Bool
    /// A verdict map (`vmap`): every element carries a verdict.
    public let verdictMap: Bool

    public init(name: String, keyLength: UInt32, keyType: UInt32, interval: Bool = false, verdictMap: Bool = false) {
        self.name = name; self.keyLength = keyLength; self.keyType = keyType; self.interval = interval; self.verdictMap = verdictMap
    }
}

/// One element of an NftSet: its key, whether it ends an interval, and a verdict map's verdict.
public struct NftSetElement: Equatable, Hashable, Sendable {
    public let key: [UInt8]
    public let intervalEnd: Bool
    public let verdict: NftVerdict?

    public init(key: [UInt8], intervalEnd: Bool = false, verdict: NftVerdict? = nil) {
        self.key = key; self.intervalEnd = intervalEnd; self.verdict = verdict
    }
}

/// A map from a concatenated key to a concatenated value.
public struct NftMap: Equatable, Sendable {
    public let name: String
    public let keyLength: UInt32
    public let keyType: UInt32
    public let dataLength: UInt32
    public let dataType: UInt32
}

/// One map element with the owner it belongs to (stored as the element's comment).
public struct NftElement: Equatable, Sendable {
    public let map: String
    public let key: [UInt8]
    public let value: [UInt8]
    public let owner: String

    public init(map: String, key: [UInt8], value: [UInt8], owner: String) {
        self.map = map
        self.key = key
        self.value = value
        self.owner = owner
    }
}
