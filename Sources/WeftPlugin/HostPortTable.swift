import WeftNetlink
import WeftNftables

/// Weft's `inet weft` table in a handle's network namespace (the calling thread's by default): the chains
/// and rules of WeftRuleset and the hostPort maps' elements, written through the generic NftClient.
public struct HostPortTable {
    let client: NftClient
    public let table = WeftRuleset.table

    public init(handle: NetlinkHandle = .current()) { client = NftClient(handle: handle) }

    init(client: NftClient) { self.client = client }

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
    public func install(
        network: String, networkRules: [NftRule], elements: [HostPortElement],
        restore: () throws -> [HostPortElement] = { [] }
    ) throws {
        let chains = WeftRuleset.staticChains + [WeftRuleset.networkChain(network)]
        let rules = (WeftRuleset.staticRules + networkRules).fingerprinted()
        let generation = RulesetGeneration.key(network: network, rules: rules)
        let upToDate = try client.element(table: table, set: RulesetGeneration.set.name, key: generation) != nil
        let transaction = client.transaction()
        if !upToDate {
            transaction.addTable(table)
            for chain in chains { transaction.addChain(table: table, chain) }
            for map in WeftRuleset.maps { transaction.addSet(table: table, map) }
            transaction.addSet(table: table, RulesetGeneration.set)
            for chain in chains { transaction.flushChain(table: table, chain: chain.name) }
            for rule in rules { transaction.addRule(table: table, rule) }
            // One already there (another ADD of the same version got here first) is no error.
            transaction.addElements(table: table, set: RulesetGeneration.set.name, [NftSetElement(key: generation)]) { _ in "generation" }
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
        Self.add(adding, to: transaction, table: table)
        if transaction.isEmpty { return }
        try client.commit(transaction)
    }

    /// Adds hostPort elements map by map, exclusively: a key another attachment holds fails the
    /// transaction (EEXIST) instead of being taken over.
    static func add(_ elements: [HostPortElement], to transaction: NftTransaction, table: String) {
        for map in HostPortMap.allCases {
            transaction.addElements(
                table: table, set: map.rawValue, elements.filter { $0.map == map.rawValue }.map(\.setElement),
                exclusive: true
            ) { HostPortElements.describeKey(HostPortElement(map: map.rawValue, $0)) }
        }
    }

    /// The element of `map` with `key`, asked for alone, or nil when it, the map or the table is missing.
    public func element(in map: String, key: [UInt8]) throws -> HostPortElement? {
        try client.element(table: table, set: map, key: key).map { HostPortElement(map: map, $0) }
    }

    /// Deletes `elements` in one transaction.
    public func remove(_ elements: [HostPortElement]) throws {
        guard !elements.isEmpty else { return }
        let transaction = client.transaction()
        for map in HostPortMap.allCases {
            transaction.deleteElements(table: table, set: map.rawValue, elements.filter { $0.map == map.rawValue }.map(\.setElement)) {
                HostPortElements.describeKey(HostPortElement(map: map.rawValue, $0))
            }
        }
        try client.commit(transaction)
    }

    /// Removes the whole table: everything Weft installed in this namespace. Returns false when there was none.
    @discardableResult
    public func uninstall() throws -> Bool { try client.deleteTable(table) }

    /// Every element of every map, or none when the table does not exist.
    public func allElements() throws -> [HostPortElement] {
        try HostPortMap.allCases.flatMap { map in try client.elements(table: table, set: map.rawValue).map { HostPortElement(map: map.rawValue, $0) } }
    }

    /// The number of rules in `chain` (0 when it or the table is missing).
    public func ruleCount(chain: String) throws -> Int {
        try client.rules(table: table).filter { $0.chain == chain }.count
    }
}
