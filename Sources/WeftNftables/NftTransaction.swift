import CMnl
import CNftnl

/// One nftables transaction being built: the messages of tables, chains and rules, and (in
/// NftTransaction+Sets) of sets and their elements, in one NftBatch (sizes, element lists split under
/// 65,535 bytes, sequence numbers, the one ack). It hands out the sets' NFTA_SET_ID: the name by which
/// the kernel finds a set created earlier in the same transaction, unique within it. Sent whole by
/// NftClient.commit; everything in it lands or nothing does.
public final class NftTransaction {
    static let inet = UInt8(NFPROTO_INET)

    let batch: NftBatch
    private var lastSetID: UInt32 = 0

    init(firstSequence: UInt32) {
        batch = NftBatch(firstSequence: firstSequence)
    }

    /// Whether nothing was added (committing it sends nothing).
    public var isEmpty: Bool { batch.isEmpty }
    /// What each message does, by sequence number, for errors.
    var descriptions: [UInt32: String] { batch.descriptions }

    func nextSetID() -> UInt32 {
        lastSetID += 1
        return lastSetID
    }

    /// Adds the table; one that exists is kept as it is (NLM_F_CREATE without NLM_F_EXCL).
    public func addTable(_ name: String) {
        tableMessage(code32(NFT_MSG_NEWTABLE), flags: NLM_F_CREATE, name: name, describe: "add table inet \(name)")
    }

    /// Deletes the table with everything in it.
    public func deleteTable(_ name: String) {
        tableMessage(code32(NFT_MSG_DELTABLE), flags: 0, name: name, describe: "delete table inet \(name)")
    }

    private func tableMessage(_ type: UInt32, flags: Int32, name: String, describe: String) {
        batch.add(type, family: Self.inet, flags: flags, describe: describe, bound: NftSize.strings(name)) { header in
            guard let table = nftnl_table_alloc() else { return }
            defer { nftnl_table_free(table) }
            nftnl_table_set_str(table, code(NFTNL_TABLE_NAME), name)
            nftnl_table_set_u32(table, code(NFTNL_TABLE_FAMILY), UInt32(Self.inet))
            nftnl_table_nlmsg_build_payload(header, table)
        }
    }

    /// Adds a base chain: its type, hook and priority. One that exists is kept.
    public func addChain(table: String, _ chain: NftChain) {
        chainMessage(
            code32(NFT_MSG_NEWCHAIN), flags: NLM_F_CREATE, table: table, name: chain.name, describe: "add chain \(chain.name)",
            bound: NftSize.strings(table, chain.name, chain.type)
        ) { object in
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_TYPE), chain.type)
            nftnl_chain_set_u32(object, code(NFTNL_CHAIN_HOOKNUM), chain.hook.rawValue)
            nftnl_chain_set_s32(object, code(NFTNL_CHAIN_PRIO), chain.priority)
        }
    }

    /// Adds a chain without a hook: reached only by jumps. One that exists is kept.
    public func addRegularChain(table: String, name: String) {
        chainMessage(
            code32(NFT_MSG_NEWCHAIN), flags: NLM_F_CREATE, table: table, name: name, describe: "add chain \(name)",
            bound: NftSize.strings(table, name))
    }

    /// Deletes a regular chain (empty, and no longer jumped to, by the end of the transaction).
    public func deleteChain(table: String, name: String) {
        chainMessage(
            code32(NFT_MSG_DELCHAIN), flags: 0, table: table, name: name, describe: "delete chain \(name)", bound: NftSize.strings(table, name))
    }

    /// One chain message: the chain named in its table and family, then what `configure` sets (a base
    /// chain's type, hook and priority). libnftnl lays the attributes out in its own fixed order,
    /// whatever order they are set in.
    private func chainMessage(
        _ type: UInt32, flags: Int32, table: String, name: String, describe: String, bound: Int,
        configure: (OpaquePointer) -> Void = { _ in }
    ) {
        batch.add(type, family: Self.inet, flags: flags, describe: describe, bound: bound) { header in
            guard let object = nftnl_chain_alloc() else { return }
            defer { nftnl_chain_free(object) }
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_TABLE), table)
            nftnl_chain_set_str(object, code(NFTNL_CHAIN_NAME), name)
            nftnl_chain_set_u32(object, code(NFTNL_CHAIN_FAMILY), UInt32(Self.inet))
            configure(object)
            nftnl_chain_nlmsg_build_payload(header, object)
        }
    }

    /// Empties a chain: deleting rules without a handle deletes all of them.
    public func flushChain(table: String, chain: String) {
        ruleMessage(
            code32(NFT_MSG_DELRULE), flags: 0, table: table, chain: chain, describe: "flush chain \(chain)", bound: NftSize.strings(table, chain))
    }

    /// Appends a rule to its chain; its comment, if any, goes in the rule's user data. Its anonymous maps
    /// go first, each a set and its elements.
    public func addRule(table: String, _ rule: NftRule) {
        let anonymousIDs = rule.expressions.map { expression -> UInt32 in
            guard case let .anonymousVerdictMap(_, keyType, keyLength, elements) = expression else { return 0 }
            return addAnonymousMap(table: table, keyType: keyType, keyLength: keyLength, elements)
        }
        ruleMessage(
            code32(NFT_MSG_NEWRULE), flags: NLM_F_CREATE | NLM_F_APPEND, table: table, chain: rule.chain, describe: "add rule to \(rule.chain)",
            bound: NftSize.bound(rule, table: table)
        ) { object in
            for (expression, setID) in zip(rule.expressions, anonymousIDs) {
                if let encoded = NftExpressionEncoder.encode(expression, anonymousSetID: setID) { nftnl_rule_add_expr(object, encoded) }
            }
            if !rule.comment.isEmpty {
                NftComment.encode(rule.comment).withUnsafeBytes {
                    _ = nftnl_rule_set_data(object, code(NFTNL_RULE_USERDATA), $0.baseAddress, UInt32($0.count))
                }
            }
        }
    }

    /// One rule message: the rule's chain in its table and family, then what `configure` sets (its
    /// expressions and comment); with nothing more, a delete of every rule of the chain.
    private func ruleMessage(
        _ type: UInt32, flags: Int32, table: String, chain: String, describe: String, bound: Int,
        configure: (OpaquePointer) -> Void = { _ in }
    ) {
        batch.add(type, family: Self.inet, flags: flags, describe: describe, bound: bound) { header in
            guard let object = nftnl_rule_alloc() else { return }
            defer { nftnl_rule_free(object) }
            nftnl_rule_set_str(object, code(NFTNL_RULE_TABLE), table)
            nftnl_rule_set_str(object, code(NFTNL_RULE_CHAIN), chain)
            nftnl_rule_set_u32(object, code(NFTNL_RULE_FAMILY), UInt32(Self.inet))
            configure(object)
            nftnl_rule_nlmsg_build_payload(header, object)
        }
    }
}
