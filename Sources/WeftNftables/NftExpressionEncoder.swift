import CMnl
import CNftnl
import WeftAddress

/// One expression of a rule as a libnftnl object, attribute by attribute as nft writes it
/// (GoldenEncoderTests compares the bytes with nft's).
enum NftExpressionEncoder {
    /// The name nft gives an anonymous map: the kernel replaces `%d` with a number of its choosing, so
    /// the rule's lookup finds the map by its ID within the transaction.
    static let anonymousMapName = "__map%d"
    /// nf_nat.h's range flags (not in the C module): a port given, a fully random source port.
    static let natProtoSpecified: UInt32 = 1 << 1
    static let natRandomFully: UInt32 = 1 << 4

    /// `anonymousSetID`: for `.anonymousVerdictMap`, the set ID its set was created with in this transaction.
    static func encode(_ expression: NftExpression, anonymousSetID: UInt32 = 0) -> OpaquePointer? {
        func make(_ name: String, _ configure: (OpaquePointer) -> Void) -> OpaquePointer? {
            guard let object = nftnl_expr_alloc(name) else { return nil }
            configure(object)
            return object
        }
        func u32(_ object: OpaquePointer, _ attribute: UInt16, _ value: UInt32) { nftnl_expr_set_u32(object, attribute, value) }
        func bytes(_ object: OpaquePointer, _ attribute: UInt16, _ value: [UInt8]) {
            value.withUnsafeBytes { _ = nftnl_expr_set(object, attribute, $0.baseAddress, UInt32($0.count)) }
        }
        switch expression {
        case let .meta(key, register):
            return make("meta") {
                u32($0, code(NFTNL_EXPR_META_KEY), key.rawValue); u32($0, code(NFTNL_EXPR_META_DREG), register.raw)
            }
        case let .setMeta(key, register):
            return make("meta") {
                u32($0, code(NFTNL_EXPR_META_KEY), key.rawValue); u32($0, code(NFTNL_EXPR_META_SREG), register.raw)
            }
        case let .payload(base, offset, length, register):
            return make("payload") {
                u32($0, code(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
                u32($0, code(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
                u32($0, code(NFTNL_EXPR_PAYLOAD_LEN), length)
                u32($0, code(NFTNL_EXPR_PAYLOAD_DREG), register.raw)
            }
        case let .cmp(op, register, data):
            return make("cmp") {
                u32($0, code(NFTNL_EXPR_CMP_SREG), register.raw); u32($0, code(NFTNL_EXPR_CMP_OP), op.rawValue); bytes($0, code(NFTNL_EXPR_CMP_DATA), data)
            }
        case let .bitwise(register, mask, xor):
            return make("bitwise") {
                u32($0, code(NFTNL_EXPR_BITWISE_SREG), register.raw)
                u32($0, code(NFTNL_EXPR_BITWISE_DREG), register.raw)
                u32($0, code(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
                bytes($0, code(NFTNL_EXPR_BITWISE_MASK), mask)
                bytes($0, code(NFTNL_EXPR_BITWISE_XOR), xor)
            }
        case let .bitwiseBool(register, mask, xor):
            return make("bitwise") {
                u32($0, code(NFTNL_EXPR_BITWISE_SREG), register.raw)
                u32($0, code(NFTNL_EXPR_BITWISE_DREG), register.raw)
                u32($0, code(NFTNL_EXPR_BITWISE_OP), code32(NFT_BITWISE_MASK_XOR))
                u32($0, code(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
                bytes($0, code(NFTNL_EXPR_BITWISE_MASK), mask)
                bytes($0, code(NFTNL_EXPR_BITWISE_XOR), xor)
            }
        case let .lookup(set, key, value):
            return make("lookup") { object in
                u32(object, code(NFTNL_EXPR_LOOKUP_SREG), key.raw)
                if let value { u32(object, code(NFTNL_EXPR_LOOKUP_DREG), value.raw) }
                nftnl_expr_set_str(object, code(NFTNL_EXPR_LOOKUP_SET), set)
            }
        case let .fibDestinationType(register):
            return make("fib") {
                u32($0, code(NFTNL_EXPR_FIB_DREG), register.raw)
                u32($0, code(NFTNL_EXPR_FIB_RESULT), code32(NFT_FIB_RESULT_ADDRTYPE))
                u32($0, code(NFTNL_EXPR_FIB_FLAGS), code32(NFTA_FIB_F_DADDR))
            }
        case let .dnat(family, address, port):
            return make("nat") {
                u32($0, code(NFTNL_EXPR_NAT_TYPE), code32(NFT_NAT_DNAT))
                u32($0, code(NFTNL_EXPR_NAT_FAMILY), UInt32(family == .v4 ? NFPROTO_IPV4 : NFPROTO_IPV6))
                u32($0, code(NFTNL_EXPR_NAT_REG_ADDR_MIN), address.raw)
                u32($0, code(NFTNL_EXPR_NAT_REG_PROTO_MIN), port.raw)
            }
        case .masquerade:
            return make("masq") { _ in }
        case .counter:
            return make("counter") { _ in }
        case let .ctState(register):
            return make("ct") {
                u32($0, code(NFTNL_EXPR_CT_KEY), code32(NFT_CT_STATE)); u32($0, code(NFTNL_EXPR_CT_DREG), register.raw)
            }
        case let .ctStatus(register):
            return make("ct") {
                u32($0, code(NFTNL_EXPR_CT_KEY), code32(NFT_CT_STATUS)); u32($0, code(NFTNL_EXPR_CT_DREG), register.raw)
            }
        case let .verdict(verdict):
            return make("immediate") { object in
                u32(object, code(NFTNL_EXPR_IMM_DREG), code32(NFT_REG_VERDICT))
                switch verdict {
                case .accept: u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NF_ACCEPT))
                case .drop: u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NF_DROP))
                case .return: u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_RETURN.rawValue))
                case let .jump(chain):
                    u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_JUMP.rawValue))
                    nftnl_expr_set_str(object, code(NFTNL_EXPR_IMM_CHAIN), chain)
                case let .goto(chain):
                    u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_GOTO.rawValue))
                    nftnl_expr_set_str(object, code(NFTNL_EXPR_IMM_CHAIN), chain)
                }
            }
        case let .verdictMap(set, key):
            return make("lookup") { object in
                u32(object, code(NFTNL_EXPR_LOOKUP_SREG), key.raw)
                u32(object, code(NFTNL_EXPR_LOOKUP_DREG), code32(NFT_REG_VERDICT))
                nftnl_expr_set_str(object, code(NFTNL_EXPR_LOOKUP_SET), set)
            }
        case let .immediate(register, data):
            return make("immediate") {
                u32($0, code(NFTNL_EXPR_IMM_DREG), register.raw); bytes($0, code(NFTNL_EXPR_IMM_DATA), data)
            }
        case let .dnatToPort(family, address, port):
            return make("nat") {
                u32($0, code(NFTNL_EXPR_NAT_TYPE), code32(NFT_NAT_DNAT))
                u32($0, code(NFTNL_EXPR_NAT_FAMILY), UInt32(family == .v4 ? NFPROTO_IPV4 : NFPROTO_IPV6))
                u32($0, code(NFTNL_EXPR_NAT_REG_ADDR_MIN), address.raw)
                u32($0, code(NFTNL_EXPR_NAT_REG_PROTO_MIN), port.raw)
                u32($0, code(NFTNL_EXPR_NAT_FLAGS), natProtoSpecified)
            }
        case .masqueradeFullyRandom:
            return make("masq") { u32($0, code(NFTNL_EXPR_MASQ_FLAGS), natRandomFully) }
        case let .numgenRandom(modulus, register):
            return make("numgen") {
                u32($0, code(NFTNL_EXPR_NG_DREG), register.raw)
                u32($0, code(NFTNL_EXPR_NG_MODULUS), modulus)
                u32($0, code(NFTNL_EXPR_NG_TYPE), code32(NFT_NG_RANDOM))
                u32($0, code(NFTNL_EXPR_NG_OFFSET), 0)
            }
        case let .reject(kind):
            return make("reject") {
                switch kind {
                case .tcpReset:
                    u32($0, code(NFTNL_EXPR_REJECT_TYPE), code32(NFT_REJECT_TCP_RST))
                    nftnl_expr_set_u8($0, code(NFTNL_EXPR_REJECT_CODE), 0)
                case .icmpxPortUnreachable:
                    u32($0, code(NFTNL_EXPR_REJECT_TYPE), code32(NFT_REJECT_ICMPX_UNREACH))
                    nftnl_expr_set_u8($0, code(NFTNL_EXPR_REJECT_CODE), UInt8(NFT_REJECT_ICMPX_PORT_UNREACH.rawValue))
                }
            }
        case let .dynsetUpdate(set, key):
            return make("dynset") {
                u32($0, code(NFTNL_EXPR_DYNSET_SREG_KEY), key.raw)
                u32($0, code(NFTNL_EXPR_DYNSET_OP), code32(NFT_DYNSET_OP_UPDATE))
                nftnl_expr_set_str($0, code(NFTNL_EXPR_DYNSET_SET_NAME), set)
            }
        case let .anonymousVerdictMap(key, _, _, _):
            return make("lookup") { object in
                u32(object, code(NFTNL_EXPR_LOOKUP_SREG), key.raw)
                u32(object, code(NFTNL_EXPR_LOOKUP_DREG), code32(NFT_REG_VERDICT))
                nftnl_expr_set_str(object, code(NFTNL_EXPR_LOOKUP_SET), anonymousMapName)
                u32(object, code(NFTNL_EXPR_LOOKUP_SET_ID), anonymousSetID)
            }
        }
    }
}
