import CMnl
import CNftnl
import WeftIdentity

/// Whether a network's rules are current, read as one set element instead of every rule of the table.
///
/// The `generations` set holds, per network, 8 bytes of FNV-1a over the network's name and the
/// fingerprints of the rules it needs (the static chains' and its own). ADD asks the kernel for that one
/// element (NFT_MSG_GETSETELEM without NLM_F_DUMP): present means the table, chains, maps and rules are as
/// this version writes them, so only the pod's elements are added. Absent (a new node, a flushed ruleset,
/// another version's rules) means the table is rewritten in the same transaction that adds the element.
/// An earlier version's elements stay (8 bytes each, one per network and version): never read again.
enum RulesetGeneration {
    static let set = "generations"
    static let keyLength: UInt32 = 8
    /// nft's "integer" datatype, so `nft list` prints the keys.
    static let keyType: UInt32 = 4

    static func key(network: String, rules: [NftRule]) -> [UInt8] {
        var hash = FNV1a()
        hash.add(text: network)
        for rule in rules { hash.add(text: rule.chain); hash.add(text: rule.comment) }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash.value >> (8 * (7 - UInt64($0)))) }
    }

    static func createSet(_ batch: NftBatch, table: String, id: UInt32) {
        batch.add(code32(NFT_MSG_NEWSET), family: NftEncoder.inet, flags: NLM_F_CREATE, describe: "add set \(set)",
                  bound: NftSize.strings(table, set)) { header in
            guard let object = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(object) }
            nftnl_set_set_str(object, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(object, code(NFTNL_SET_NAME), set)
            nftnl_set_set_u32(object, code(NFTNL_SET_FAMILY), UInt32(NftEncoder.inet))
            nftnl_set_set_u32(object, code(NFTNL_SET_FLAGS), 0)
            nftnl_set_set_u32(object, code(NFTNL_SET_KEY_LEN), keyLength)
            nftnl_set_set_u32(object, code(NFTNL_SET_KEY_TYPE), keyType)
            nftnl_set_set_u32(object, code(NFTNL_SET_ID), id)
            nftnl_set_nlmsg_build_payload(header, object)
        }
    }

    /// Adds the element; one already there (another ADD of the same version got here first) is no error.
    static func addElement(_ batch: NftBatch, table: String, key: [UInt8]) {
        batch.add(code32(NFT_MSG_NEWSETELEM), family: NftEncoder.inet, flags: NLM_F_CREATE, describe: "add generation to \(set)",
                  bound: NftSize.strings(table, set) + NftSize.nest + 64 + NftSize.attribute(key.count)) { header in
            build(header, table: table, set: set, key: key)
        }
    }

    /// A set-element message of `set` holding the one element `key`.
    static func build(_ header: UnsafeMutablePointer<nlmsghdr>, table: String, set: String, key: [UInt8]) {
        guard let object = nftnl_set_alloc() else { return }
        defer { nftnl_set_free(object) }
        nftnl_set_set_str(object, code(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(object, code(NFTNL_SET_NAME), set)
        nftnl_set_set_u32(object, code(NFTNL_SET_FAMILY), UInt32(NftEncoder.inet))
        if let element = nftnl_set_elem_alloc() {
            key.withUnsafeBytes { _ = nftnl_set_elem_set(element, code(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
            nftnl_set_elem_add(object, element)
        }
        nftnl_set_elems_nlmsg_build_payload(header, object)
    }
}
