import CMnl
import CNftnl
import WeftAddress

/// Turns the model into libnftnl objects and their messages.
enum NftEncoder {
    static let inet = UInt8(NFPROTO_INET)

    static func table(_ batch: NftBatch, name: String) {
        tableMessage(batch, type: code32(NFT_MSG_NEWTABLE), flags: NLM_F_CREATE, name: name, describe: "add table inet \(name)")
    }

    static func deleteTable(_ batch: NftBatch, name: String) {
        tableMessage(batch, type: code32(NFT_MSG_DELTABLE), flags: 0, name: name, describe: "delete table inet \(name)")
    }

    private static func tableMessage(_ batch: NftBatch, type: UInt32, flags: Int32, name: String, describe: String) {
        batch.add(type, family: inet, flags: flags, describe: describe, bound: NftSize.strings(name)) { header in
            guard let table = nftnl_table_alloc() else { return }
            defer { nftnl_table_free(table) }
            nftnl_table_set_str(table, code(NFTNL_TABLE_NAME), name)
            nftnl_table_set_u32(table, code(NFTNL_TABLE_FAMILY), UInt32(inet))
            nftnl_table_nlmsg_build_payload(header, table)
        }
    }

    static func chain(_ batch: NftBatch, table: String, _ chain: NftChain) {
        batch.add(code32(NFT_MSG_NEWCHAIN), family: inet, flags: NLM_F_CREATE, describe: "add chain \(chain.name)",
                  bound: NftSize.strings(table, chain.name, chain.type)) { header in
            guard let object = nftnl_chain_alloc() else { return }
            defer { nftnl_chain_free(object) }
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_TABLE), table)
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_NAME), chain.name)
            nftnl_chain_set_u32(object, code(NFTNL_CHAIN_FAMILY), UInt32(inet))
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_TYPE), chain.type)
            nftnl_chain_set_u32(object, code(NFTNL_CHAIN_HOOKNUM), chain.hook.rawValue)
            nftnl_chain_set_s32(object, code(NFTNL_CHAIN_PRIO), chain.priority)
            nftnl_chain_nlmsg_build_payload(header, object)
        }
    }

    /// A chain without a hook: reached only by jumps.
    static func regularChain(_ batch: NftBatch, table: String, name: String) {
        chainMessage(batch, type: code32(NFT_MSG_NEWCHAIN), flags: NLM_F_CREATE, table: table, name: name, describe: "add chain \(name)")
    }

    /// Deletes a regular chain (empty, and no longer jumped to, by the end of the transaction).
    static func deleteChain(_ batch: NftBatch, table: String, name: String) {
        chainMessage(batch, type: code32(NFT_MSG_DELCHAIN), flags: 0, table: table, name: name, describe: "delete chain \(name)")
    }

    private static func chainMessage(_ batch: NftBatch, type: UInt32, flags: Int32, table: String, name: String, describe: String) {
        batch.add(type, family: inet, flags: flags, describe: describe, bound: NftSize.strings(table, name)) { header in
            guard let object = nftnl_chain_alloc() else { return }
            defer { nftnl_chain_free(object) }
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_TABLE), table)
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_NAME), name)
            nftnl_chain_set_u32(object, code(NFTNL_CHAIN_FAMILY), UInt32(inet))
            nftnl_chain_nlmsg_build_payload(header, object)
        }
    }

    /// Deletes a set (no rule may use it by the end of the transaction).
    static func deleteSet(_ batch: NftBatch, table: String, name: String) {
        batch.add(code32(NFT_MSG_DELSET), family: inet, flags: 0, describe: "delete set \(name)",
                  bound: NftSize.strings(table, name)) { header in
            guard let object = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(object) }
            nftnl_set_set_str(object, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(object, code(NFTNL_SET_NAME), name)
            nftnl_set_set_u32(object, code(NFTNL_SET_FAMILY), UInt32(inet))
            nftnl_set_nlmsg_build_payload(header, object)
        }
    }

    static func set(_ batch: NftBatch, table: String, _ set: NftSet, id: UInt32) {
        var flags: UInt32 = 0
        if set.interval { flags |= code32(NFT_SET_INTERVAL) }
        if set.verdictMap { flags |= code32(NFT_SET_MAP) }
        // The kernel sizes verdict data itself (struct nft_verdict).
        newSet(batch, table: table, name: set.name, flags: flags, keyLength: set.keyLength, keyType: set.keyType,
               data: set.verdictMap ? (NFT_DATA_VERDICT.rawValue, 0) : nil, id: id, describe: "add set \(set.name)")
    }

    /// Adds elements to a set (created in this transaction or before), or deletes them, in as many
    /// messages as the batch needs.
    static func setElements(_ batch: NftBatch, table: String, set: String, _ elements: [NftSetElement], delete: Bool = false) {
        guard !elements.isEmpty else { return }
        let type = delete ? code32(NFT_MSG_DELSETELEM) : code32(NFT_MSG_NEWSETELEM)
        batch.addElements(elements, type: type, family: inet, flags: delete ? 0 : NLM_F_CREATE, bound: NftSize.strings(table, set),
                          itemBound: bound, describe: { "\(delete ? "delete" : "add") \($0.count) elements \(delete ? "from" : "to") \(set)" }) { header, chunk in
            guard let object = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(object) }
            nftnl_set_set_str(object, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(object, code(NFTNL_SET_NAME), set)
            nftnl_set_set_u32(object, code(NFTNL_SET_FAMILY), UInt32(inet))
            for element in chunk {
                guard let item = nftnl_set_elem_alloc() else { continue }
                element.key.withUnsafeBytes { _ = nftnl_set_elem_set(item, code(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
                if element.intervalEnd { nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_FLAGS), code32(NFT_SET_ELEM_INTERVAL_END)) }
                switch element.verdict {
                case .accept?: nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NF_ACCEPT))
                case .drop?: nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NF_DROP))
                case let .jump(chain)?:
                    nftnl_set_elem_set_u32(item, code(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: NFT_JUMP.rawValue))
                    nftnl_set_elem_set_str(item, code(NFTNL_SET_ELEM_CHAIN), chain)
                case nil: break
                }
                nftnl_set_elem_add(object, item)
            }
            nftnl_set_elems_nlmsg_build_payload(header, object)
        }
    }

    /// Deleting rules without a handle empties the chain.
    static func flushChain(_ batch: NftBatch, table: String, chain: String) {
        batch.add(code32(NFT_MSG_DELRULE), family: inet, flags: 0, describe: "flush chain \(chain)",
                  bound: NftSize.strings(table, chain)) { header in
            guard let rule = nftnl_rule_alloc() else { return }
            defer { nftnl_rule_free(rule) }
            nftnl_rule_set_str(rule, code(NFTNL_RULE_TABLE), table)
            nftnl_rule_set_str(rule, code(NFTNL_RULE_CHAIN), chain)
            nftnl_rule_set_u32(rule, code(NFTNL_RULE_FAMILY), UInt32(inet))
            nftnl_rule_nlmsg_build_payload(header, rule)
        }
    }

    static func map(_ batch: NftBatch, table: String, _ map: NftMap, id: UInt32) {
        newSet(batch, table: table, name: map.name, flags: code32(NFT_SET_MAP), keyLength: map.keyLength, keyType: map.keyType,
               data: (map.dataType, map.dataLength), id: id, describe: "add map \(map.name)")
    }

    /// NFT_MSG_NEWSET: a set, or a map when `data` gives its values' type and length.
    private static func newSet(_ batch: NftBatch, table: String, name: String, flags: UInt32, keyLength: UInt32, keyType: UInt32,
                               data: (type: UInt32, length: UInt32)?, id: UInt32, describe: String) {
        batch.add(code32(NFT_MSG_NEWSET), family: inet, flags: NLM_F_CREATE, describe: describe, bound: NftSize.strings(table, name)) { header in
            guard let set = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(set, code(NFTNL_SET_NAME), name)
            nftnl_set_set_u32(set, code(NFTNL_SET_FAMILY), UInt32(inet))
            nftnl_set_set_u32(set, code(NFTNL_SET_FLAGS), flags)
            nftnl_set_set_u32(set, code(NFTNL_SET_KEY_LEN), keyLength)
            nftnl_set_set_u32(set, code(NFTNL_SET_KEY_TYPE), keyType)
            if let data {
                nftnl_set_set_u32(set, code(NFTNL_SET_DATA_LEN), data.length)
                nftnl_set_set_u32(set, code(NFTNL_SET_DATA_TYPE), data.type)
            }
            nftnl_set_set_u32(set, code(NFTNL_SET_ID), id)
            nftnl_set_nlmsg_build_payload(header, set)
        }
    }

    static func rule(_ batch: NftBatch, table: String, _ rule: NftRule) {
        batch.add(code32(NFT_MSG_NEWRULE), family: inet, flags: NLM_F_CREATE | NLM_F_APPEND, describe: "add rule to \(rule.chain)",
                  bound: bound(rule, table: table)) { header in
            guard let object = nftnl_rule_alloc() else { return }
            defer { nftnl_rule_free(object) }
            nftnl_rule_set_str(object, code(NFTNL_RULE_TABLE), table)
            nftnl_rule_set_str(object, code(NFTNL_RULE_CHAIN), rule.chain)
            nftnl_rule_set_u32(object, code(NFTNL_RULE_FAMILY), UInt32(inet))
            for expression in rule.expressions {
                if let encoded = encode(expression) { nftnl_rule_add_expr(object, encoded) }
            }
            if !rule.comment.isEmpty {
                Comment.encode(rule.comment).withUnsafeBytes {
                    _ = nftnl_rule_set_data(object, code(NFTNL_RULE_USERDATA), $0.baseAddress, UInt32($0.count))
                }
            }
            nftnl_rule_nlmsg_build_payload(header, object)
        }
    }

    /// Adds (exclusively: a key already present is EEXIST) or deletes elements of one map, in as many
    /// messages as the batch needs.
    static func elements(_ batch: NftBatch, table: String, map: String, _ elements: [NftElement], delete: Bool) {
        guard !elements.isEmpty else { return }
        let type = delete ? code32(NFT_MSG_DELSETELEM) : code32(NFT_MSG_NEWSETELEM)
        let flags = delete ? 0 : NLM_F_CREATE | NLM_F_EXCL
        let describe = { (chunk: ArraySlice<NftElement>) in
            "\(delete ? "delete" : "add") \(chunk.map(HostPortElements.describeKey).joined(separator: ", ")) in \(map)"
        }
        batch.addElements(elements, type: type, family: inet, flags: flags, bound: NftSize.strings(table, map),
                          itemBound: bound, describe: describe) { header, chunk in
            guard let set = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(set, code(NFTNL_SET_NAME), map)
            nftnl_set_set_u32(set, code(NFTNL_SET_FAMILY), UInt32(inet))
            for element in chunk {
                guard let object = nftnl_set_elem_alloc() else { continue }
                element.key.withUnsafeBytes { _ = nftnl_set_elem_set(object, code(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
                if !delete {
                    element.value.withUnsafeBytes { _ = nftnl_set_elem_set(object, code(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
                    let comment = Comment.encode(element.owner)
                    comment.withUnsafeBytes { _ = nftnl_set_elem_set(object, code(NFTNL_SET_ELEM_USERDATA), $0.baseAddress, UInt32($0.count)) }
                }
                nftnl_set_elem_add(set, object)
            }
            nftnl_set_elems_nlmsg_build_payload(header, set)
        }
    }

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
            return make("meta") { u32($0, code(NFTNL_EXPR_META_KEY), key.rawValue); u32($0, code(NFTNL_EXPR_META_DREG), register.raw) }
        case let .setMeta(key, register):
            return make("meta") { u32($0, code(NFTNL_EXPR_META_KEY), key.rawValue); u32($0, code(NFTNL_EXPR_META_SREG), register.raw) }
        case let .payload(base, offset, length, register):
            return make("payload") {
                u32($0, code(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
                u32($0, code(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
                u32($0, code(NFTNL_EXPR_PAYLOAD_LEN), length)
                u32($0, code(NFTNL_EXPR_PAYLOAD_DREG), register.raw)
            }
        case let .cmp(op, register, data):
            return make("cmp") { u32($0, code(NFTNL_EXPR_CMP_SREG), register.raw); u32($0, code(NFTNL_EXPR_CMP_OP), op.rawValue); bytes($0, code(NFTNL_EXPR_CMP_DATA), data) }
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
            return make("ct") { u32($0, code(NFTNL_EXPR_CT_KEY), code32(NFT_CT_STATE)); u32($0, code(NFTNL_EXPR_CT_DREG), register.raw) }
        case let .ctStatus(register):
            return make("ct") { u32($0, code(NFTNL_EXPR_CT_KEY), code32(NFT_CT_STATUS)); u32($0, code(NFTNL_EXPR_CT_DREG), register.raw) }
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

/// Element comments in nft's own user-data format (type 0 = comment, length, NUL-terminated text),
/// so `nft list` shows them as `comment "weft/…"`.
enum Comment {
    static func encode(_ text: String) -> [UInt8] {
        let value = Array(text.utf8.prefix(200)) + [0]
        return [0, UInt8(value.count)] + value
    }

    static func decode(_ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset + 2 <= bytes.count {
            let type = bytes[offset], length = Int(bytes[offset + 1])
            guard offset + 2 + length <= bytes.count else { return nil }
            if type == 0 {
                return String(decoding: bytes[(offset + 2)..<(offset + 2 + length)].prefix { $0 != 0 }, as: UTF8.self)
            }
            offset += 2 + length
        }
        return nil
    }
}

/// C constants arrive as Int (anonymous enums), Int32 (#defines) or structs (named enums): one spelling for all.
func code(_ value: Int) -> UInt16 { UInt16(truncatingIfNeeded: value) }
func code(_ value: Int32) -> UInt16 { UInt16(truncatingIfNeeded: value) }
func code<T: RawRepresentable>(_ value: T) -> UInt16 where T.RawValue: BinaryInteger { UInt16(truncatingIfNeeded: value.rawValue) }
func code32(_ value: Int) -> UInt32 { UInt32(truncatingIfNeeded: value) }
func code32(_ value: Int32) -> UInt32 { UInt32(truncatingIfNeeded: value) }
func code32<T: RawRepresentable>(_ value: T) -> UInt32 where T.RawValue: BinaryInteger { UInt32(truncatingIfNeeded: value.rawValue) }
