import CMnl
import CNftnl
import WeftAddress

/// One expression of a rule as a libnftnl object, attribute by attribute as nft writes it
/// (GoldenEncoderTests compares the bytes with nft's).
enum NftExpressionEncoder {
    static func encode(_ expression: NftExpression) -> OpaquePointer? {
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
                case let .jump(chain):
                    u32(object, code(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_JUMP.rawValue))
                    nftnl_expr_set_str(object, code(NFTNL_EXPR_IMM_CHAIN), chain)
                }
            }
        case let .verdictMap(set, key):
            return make("lookup") { object in
                u32(object, code(NFTNL_EXPR_LOOKUP_SREG), key.raw)
                u32(object, code(NFTNL_EXPR_LOOKUP_DREG), code32(NFT_REG_VERDICT))
                nftnl_expr_set_str(object, code(NFTNL_EXPR_LOOKUP_SET), set)
            }
        }
    }
}
