import WeftIdentity
import WeftNftables

/// Whether a network's rules are current, read as one set element instead of every rule of the table.
///
/// The `generations` set holds, per network, 8 bytes of FNV-1a over the network's name and the
/// fingerprints of the rules it needs (the static chains' and its own). ADD asks the kernel for that one
/// element (NFT_MSG_GETSETELEM without NLM_F_DUMP): present means the table, chains, maps and rules are as
/// this version writes them, so only the pod's elements are added. Absent (a new node, a flushed ruleset,
/// another version's rules) means the table is rewritten in the same transaction that adds the element.
/// An earlier version's elements stay (8 bytes each, one per network and version): never read again.
enum RulesetGeneration {
    /// nft's "integer" datatype, so `nft list` prints the keys.
    static let set = NftSet(name: "generations", keyLength: 8, keyType: NftDatatype.integer)

    static func key(network: String, rules: [NftRule]) -> [UInt8] {
        var hash = FNV1a()
        hash.add(text: network)
        for rule in rules { hash.add(text: rule.chain); hash.add(text: rule.comment) }
        return (0..<8).map { UInt8(truncatingIfNeeded: hash.value >> (8 * (7 - UInt64($0)))) }
    }
}
