import CMnl
import CNftnl
import SystemPackage
import WeftAddress
import WeftNetlink
#if canImport(Glibc)
import Glibc
#endif

/// Weft's table in a handle's network namespace, over the handle's NETLINK_NETFILTER socket (shared
/// with conntrack).
public final class NftClient {
    public let handle: NetlinkHandle
    private var connection: NetlinkSocket { get throws { try handle.netfilter } }
    public let table = WeftRuleset.table

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    /// Over one transport (a test's replayed bytes).
    public convenience init(transport: NetlinkTransport) {
        self.init(handle: NetlinkHandle { _ in transport })
    }

    /// Makes the table hold the static chains and `network`'s chain with exactly `networkRules`, and adds
    /// `elements`. When the table holds this network's generation (RulesetGeneration: one element read,
    /// however many pods and rules there are) only the elements are added: rewriting rules costs the
    /// kernel an RCU grace period (10-30 ms here), adding map elements does not.
    /// Otherwise one transaction (re)creates the table, chains and maps and replaces the rules of those
    /// chains, which is also how a flushed ruleset (`nft flush ruleset`) comes back. Either way the rule
    /// count never grows with pods, and a key already in a map fails the whole transaction (EEXIST),
    /// changing nothing.
    /// `restore` gives the elements every attachment should have; it is called only when the table is
    /// rewritten (missing, flushed or out of date), and those of them missing from the maps are added back.
    public func install(network: String, networkRules: [NftRule], elements: [NftElement],
                        restore: () throws -> [NftElement] = { [] }) throws {
        let chains = WeftRuleset.staticChains + [WeftRuleset.networkChain(network)]
        let rules = (WeftRuleset.staticRules + networkRules).fingerprinted()
        let generation = RulesetGeneration.key(network: network, rules: rules)
        let upToDate = try hasGeneration(generation)
        let batch = NftBatch(firstSequence: peekSequence)
        if !upToDate {
            NftEncoder.table(batch, name: table)
            for chain in chains { NftEncoder.chain(batch, table: table, chain) }
            for (index, map) in WeftRuleset.maps.enumerated() { NftEncoder.map(batch, table: table, map, id: UInt32(index + 1)) }
            RulesetGeneration.createSet(batch, table: table, id: UInt32(WeftRuleset.maps.count + 1))
            for chain in chains { NftEncoder.flushChain(batch, table: table, chain: chain.name) }
            for rule in rules { NftEncoder.rule(batch, table: table, rule) }
            RulesetGeneration.addElement(batch, table: table, key: generation)
        }
        var adding = elements
        if !upToDate {
            let present = try allElements()
            let missing = try restore().filter { wanted in
                !present.contains { $0.map == wanted.map && $0.key == wanted.key }
                    && !elements.contains { $0.map == wanted.map && $0.key == wanted.key }
            }
            adding += missing
        }
        for map in WeftRuleset.maps {
            NftEncoder.elements(batch, table: table, map: map.name, adding.filter { $0.map == map.name }, delete: false)
        }
        if batch.isEmpty { return }
        try commit(batch)
    }

    /// Whether the generations set holds `key`: one element asked for, not a dump.
    func hasGeneration(_ key: [UInt8]) throws -> Bool {
        try !getElement(set: RulesetGeneration.set, key: key, operation: "get generation of table \(table)").isEmpty
    }

    /// The element of `map` with `key`, asked for alone (NFT_MSG_GETSETELEM without NLM_F_DUMP, so the
    /// cost does not grow with the map), or nil when it, the map or the table is missing.
    public func element(in map: String, key: [UInt8]) throws -> NftElement? {
        try getElement(set: map, key: key, operation: "get element of \(map)")
            .flatMap { SetElementParser.elements(payload: $0.payload, map: map) }.first
    }

    private func getElement(set: String, key: [UInt8], operation: String) throws -> [NetlinkMessage] {
        try query(NFT_MSG_GETSETELEM, dump: false, operation: operation) { RulesetGeneration.build($0, table: table, set: set, key: key) }
    }


    /// Deletes `elements` in one transaction.
    public func remove(_ elements: [NftElement]) throws {
        guard !elements.isEmpty else { return }
        let batch = NftBatch(firstSequence: peekSequence)
        for map in WeftRuleset.maps {
            NftEncoder.elements(batch, table: table, map: map.name, elements.filter { $0.map == map.name }, delete: true)
        }
        try commit(batch)
    }

    /// Removes the whole table: everything Weft installed in this namespace. Returns false when there was none.
    @discardableResult
    public func uninstall() throws -> Bool { try deleteTable(table) }

    /// Where a batch numbers its messages from: NetlinkSocket renumbers them from its own sequence when it sends.
    var peekSequence: UInt32 { 1 }

    /// The size of the last transaction sent: bytes of its one datagram, and object messages in it.
    private(set) var lastCommit: (bytes: Int, messages: Int)?

    /// Sends the transaction in one datagram (see NftBatch) and reads its replies; a batch that refused
    /// a message is thrown before anything is sent.
    func commit(_ batch: NftBatch) throws {
        let (bytes, _) = batch.finish()
        if let refusal = batch.refusal { throw refusal }
        guard let acked = batch.ackedSequence else { return }
        lastCommit = (bytes.count, batch.messageCount)
        try connection.exchangeTransaction(bytes, begin: batch.beginSequence, acked: acked, descriptions: batch.descriptions)
    }

    /// Every element of every map, or none when the table does not exist.
    public func allElements() throws -> [NftElement] {
        try WeftRuleset.maps.flatMap { try elements(of: $0.name) }
    }

    public func elements(of map: String) throws -> [NftElement] {
        try dump(NFT_MSG_GETSETELEM, operation: "list map \(map)") { header in
            guard let set = nftnl_set_alloc() else { return }
            defer { nftnl_set_free(set) }
            nftnl_set_set_str(set, code(NFTNL_SET_TABLE), table)
            nftnl_set_set_str(set, code(NFTNL_SET_NAME), map)
            nftnl_set_elems_nlmsg_build_payload(header, set)
        }.flatMap { SetElementParser.elements(payload: $0.payload, map: map) }
    }

    /// A dump request laid out by libnftnl; a missing table or set (ENOENT) is an empty answer.
    func dump(_ type: nf_tables_msg_types, operation: String,
                      payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) throws -> [NetlinkMessage] {
        try query(type, dump: true, operation: operation, payload: payload)
    }

    /// One request (a dump, or a get answered by one object and an ack) laid out by libnftnl; a missing
    /// table, set or element (ENOENT) is an empty answer.
    private func query(_ type: nf_tables_msg_types, dump: Bool, operation: String,
                       payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) throws -> [NetlinkMessage] {
        let flags = dump ? NLM_F_DUMP : NLM_F_ACK
        do {
            return try connection.execute(isDump: dump, ackRequested: !dump, operation: operation) { sequence in
                var buffer = [UInt8](repeating: 0, count: 512)
                let length: Int = buffer.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                          let header = nftnl_nlmsg_build_hdr(base, UInt16(code32(type)), UInt16(NFPROTO_INET), UInt16(flags), sequence)
                    else { return 0 }
                    payload(header)
                    return Int(header.pointee.nlmsg_len)
                }
                return Array(buffer[0..<length])
            }
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {
            return []
        }
    }

    /// The number of rules in `chain` (0 when it or the table is missing).
    public func ruleCount(chain: String) throws -> Int {
        try rules().filter { $0.chain == chain }.count
    }

    /// Every rule of the table: its chain and comment.
    func rules() throws -> [(chain: String, comment: String)] {
        try dump(NFT_MSG_GETRULE, operation: "list rules of table \(table)") { header in
            guard let rule = nftnl_rule_alloc() else { return }
            defer { nftnl_rule_free(rule) }
            nftnl_rule_set_str(rule, code(NFTNL_RULE_TABLE), table)
            nftnl_rule_nlmsg_build_payload(header, rule)
        }.compactMap { message in
            // nfgenmsg, then NFTA_RULE_TABLE (1), NFTA_RULE_CHAIN (2), …, NFTA_RULE_USERDATA (7).
            let attributes = NetlinkAttribute.parse(message.payload, from: 4)
            guard attributes.first(1)?.string == table, let chain = attributes.first(2)?.string else { return nil }
            return (chain, attributes.first(7).flatMap { Comment.decode($0.value) } ?? "")
        }
    }
}

/// Reads NFT_MSG_NEWSETELEM dump replies: nfgenmsg, then NFTA_SET_ELEM_LIST_ELEMENTS holding one
/// NFTA_LIST_ELEM per element with its key, data and user data.
public enum SetElementParser {
    public static func elements(payload: [UInt8], map: String) -> [NftElement] {
        let list = NetlinkAttribute.parse(payload, from: 4)
        guard let elements = list.first(3)?.nested else { return [] }
        return elements.compactMap { item -> NftElement? in
            let fields = item.nested
            guard let key = fields.first(1)?.nested.first(1)?.value else { return nil }
            let value = fields.first(2)?.nested.first(1)?.value ?? []
            let owner = fields.first(6).flatMap { Comment.decode($0.value) } ?? ""
            return NftElement(map: map, key: key, value: value, owner: owner)
        }
    }
}
