import WeftAddress

/// Rules as values: a rule is a list of expressions, as the kernel runs them. Tests compare these, and
/// only NftTransaction (NftExpressionEncoder) turns them into libnftnl objects.

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
    /// The same operation as `bitwise`, as nft writes a binary operation on a value (`meta mark & X`,
    /// `meta mark set meta mark or X`): with the operation (NFT_BITWISE_BOOL) stated, where nft's flag
    /// matches (`ct state established`) leave it to the kernel's default.
    case bitwiseBool(Register, mask: [UInt8], xor: [UInt8])
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
    /// Constant data into a register (nft's `immediate`): the address and port of `dnat to ADDR:PORT`.
    case immediate(Register, [UInt8])
    /// DNAT to the address and port held in two registers, as nft writes `dnat to ADDR:PORT`: with
    /// NF_NAT_RANGE_PROTO_SPECIFIED (the kernel sets it anyway when a port register is given).
    case dnatToPort(family: IPAddress.Family, address: Register, port: Register)
    /// `masquerade fully-random`: the source port chosen by a full random draw (NF_NAT_RANGE_PROTO_RANDOM_FULLY),
    /// so two clients masqueraded at once cannot race for the same port (the conntrack insert failures of
    /// many short UDP flows).
    case masqueradeFullyRandom
    /// `numgen random mod N`: a random u32 below `modulus` into a register, drawn per packet (only a
    /// connection's first packet reaches NAT chains, so per connection there).
    case numgenRandom(modulus: UInt32, into: Register)
    /// `reject`: the packet dropped and answered (filter chains; in prerouting from kernel 5.9).
    case reject(NftReject)
    /// `update @set { key }`: adds the key at `key` to a dynamic set, or refreshes its timeout.
    case dynsetUpdate(set: String, key: Register)
    /// `vmap { key : verdict, … }` with the elements written in the rule: an anonymous constant verdict
    /// map created with the rule and deleted with it (the kernel names it `__map<n>`). The key at `key`
    /// of `keyType` (NftDatatype) and `keyLength` bytes.
    case anonymousVerdictMap(key: Register, keyType: UInt32, keyLength: UInt32, elements: [NftSetElement])
}

/// How `reject` answers (nft_reject_types and the inet family's icmpx codes).
public enum NftReject: Equatable, Sendable {
    /// `reject with tcp reset`: a TCP RST (TCP packets only).
    case tcpReset
    /// `reject` in an inet table: ICMP or ICMPv6 port unreachable, whichever the packet's family.
    case icmpxPortUnreachable
}

public enum NftVerdict: Equatable, Hashable, Sendable {
    /// `goto`: like jump, but the chain's end returns to the caller of the chain that went there.
    case accept, drop, jump(String), goto(String), `return`
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
