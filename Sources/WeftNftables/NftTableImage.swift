import SystemPackage
import WeftNetlink
#if canImport(Glibc)
import Glibc
#endif

/// A whole table as values: base chains, regular chains, sets with their elements, and rules. Written
/// by `NftClient.replace` in one transaction, so the table changes at once from its old contents to
/// these, with no moment in between (the NetworkPolicy table: a half-written one could let a denied
/// packet through or drop an allowed one).
public struct NftTableImage: Equatable, Sendable {
    public var name: String
    public var baseChains: [NftChain] = []
    public var regularChains: [String] = []
    public var sets: [NftSet] = []
    public var elements: [String: [NftSetElement]] = [:]
    public var rules: [NftRule] = []

    public init(name: String) { self.name = name }
}

extension NftClient {
    /// Replaces the table `image.name` with `image` in one transaction: created if missing (the first
    /// "add table" is a no-op otherwise), deleted with everything in it, created again, filled.
    public func replace(_ image: NftTableImage) throws {
        try commit(replacement(image))
    }

    /// The transaction `replace` commits.
    func replacement(_ image: NftTableImage) -> NftTransaction {
        let transaction = transaction(), table = image.name
        transaction.addTable(table)
        transaction.deleteTable(table)
        transaction.addTable(table)
        for set in image.sets { transaction.addSet(table: table, set) }
        // Regular chains first: map elements and rules jump to them.
        for chain in image.regularChains { transaction.addRegularChain(table: table, name: chain) }
        for chain in image.baseChains { transaction.addChain(table: table, chain) }
        for set in image.sets { transaction.addElements(table: table, set: set.name, image.elements[set.name] ?? []) }
        for rule in image.rules { transaction.addRule(table: table, rule) }
        return transaction
    }

    /// Makes the table `image` in one transaction, as `replace` does, except that the image's dynamic
    /// sets the kernel already holds under the same name keep their elements (a rule-filled set, as
    /// ClientIP affinity's: replacing it would forget every client's endpoint). Everything else not in the
    /// image goes: every chain is flushed, every other set deleted (its elements' jumps with it), chains
    /// not in the image deleted; then the image's sets, chains, elements and rules are added (adding a
    /// chain that exists is a no-op). A name must fix a dynamic set's declaration (as the Services
    /// table's affinity sets carry family and timeout in theirs): a kept set is not declared again.
    /// Returns the names of the sets kept.
    @discardableResult
    public func adopt(_ image: NftTableImage) throws -> Set<String> {
        let table = image.name, name = NftTableName.inet(table)
        let existingChains = try chains(table: name), existingSets = Set(try sets(table: name))
        let kept = Set(image.sets.filter { $0.dynamic && existingSets.contains($0.name) }.map(\.name))
        let wanted = Set(image.regularChains + image.baseChains.map(\.name))
        let transaction = transaction()
        transaction.addTable(table)
        for chain in existingChains { transaction.flushChain(table: table, chain: chain) }
        for set in existingSets.sorted() where !kept.contains(set) { transaction.deleteSet(table: table, name: set) }
        for chain in existingChains where !wanted.contains(chain) { transaction.deleteChain(table: table, name: chain) }
        for set in image.sets where !kept.contains(set.name) { transaction.addSet(table: table, set) }
        for chain in image.regularChains { transaction.addRegularChain(table: table, name: chain) }
        for chain in image.baseChains { transaction.addChain(table: table, chain) }
        for set in image.sets where !kept.contains(set.name) { transaction.addElements(table: table, set: set.name, image.elements[set.name] ?? []) }
        for rule in image.rules { transaction.addRule(table: table, rule) }
        try commit(transaction)
        return kept
    }

    /// Changes the table from `old` (what the last call wrote) to `new` in one transaction that touches
    /// only what differs: sets and chains added or deleted, chains whose rules changed flushed and
    /// refilled, elements added and deleted one by one (in interval sets, whole intervals). A changed base chain, a set declared anew under an old name,
    /// no `old`, or a refused diff (the table flushed behind our back) replaces the table whole.
    /// Returns whether it did.
    @discardableResult
    public func update(from old: NftTableImage?, to new: NftTableImage) throws -> Bool {
        guard let old, let transaction = diff(from: old, to: new) else {
            try replace(new)
            return true
        }
        if transaction.isEmpty { return false }
        do {
            try commit(transaction)
            return false
        } catch {
            try replace(new)
            return true
        }
    }

    /// Commits the diff from `old` to `new` where both are partial images of the same part of a table
    /// (the same table name; what changed, as it was and as it is; the maps whose elements changed
    /// declared in both): chains, sets and elements of that part added, changed or deleted, the rest of
    /// the table untouched. Returns false, sending nothing, when only a replacement would do (a set
    /// declared anew under an old name); throws when the kernel refuses the transaction.
    public func applyDiff(from old: NftTableImage, to new: NftTableImage) throws -> Bool {
        guard let transaction = diff(from: old, to: new) else { return false }
        if !transaction.isEmpty { try commit(transaction) }
        return true
    }

    /// The diff transaction, or nil when only a replacement will do.
    func diff(from old: NftTableImage, to new: NftTableImage) -> NftTransaction? {
        let baseNames = Set(new.baseChains.map(\.name))
        guard old.name == new.name, old.baseChains == new.baseChains,
            old.rules.filter({ baseNames.contains($0.chain) }) == new.rules.filter({ baseNames.contains($0.chain) })
        else { return nil }
        let oldSets = Dictionary(old.sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard new.sets.allSatisfy({ oldSets[$0.name] == nil || oldSets[$0.name] == $0 }) else { return nil }
        let newSetNames = Set(new.sets.map(\.name)), oldChains = Set(old.regularChains), newChains = Set(new.regularChains)
        let table = new.name
        let transaction = transaction()
        // Sets and chains that are new, before anything refers to them.
        for set in new.sets where oldSets[set.name] == nil {
            transaction.addSet(table: table, set)
            transaction.addElements(table: table, set: set.name, new.elements[set.name] ?? [])
        }
        for chain in new.regularChains where !oldChains.contains(chain) { transaction.addRegularChain(table: table, name: chain) }
        // Rules by chain once: a table of 50,000 chains compared chain by chain would rescan every rule per chain.
        let oldRules = Dictionary(grouping: old.rules, by: \.chain), newRules = Dictionary(grouping: new.rules, by: \.chain)
        for chain in new.regularChains {
            let rules = newRules[chain] ?? []
            guard !oldChains.contains(chain) || (oldRules[chain] ?? []) != rules else { continue }
            if oldChains.contains(chain) { transaction.flushChain(table: table, chain: chain) }
            for rule in rules { transaction.addRule(table: table, rule) }
        }
        for set in new.sets where oldSets[set.name] != nil {
            let before = old.elements[set.name] ?? [], after = new.elements[set.name] ?? []
            guard before != after else { continue }
            // Interval sets change by whole intervals (start and end together), as the kernel keeps them.
            let old = set.interval ? Self.intervals(before) : before.map { [$0] }
            let new = set.interval ? Self.intervals(after) : after.map { [$0] }
            let kept = Set(new), gone = Set(old)
            transaction.deleteElements(table: table, set: set.name, old.filter { !kept.contains($0) }.flatMap { $0 })
            transaction.addElements(table: table, set: set.name, new.filter { !gone.contains($0) }.flatMap { $0 })
        }
        // What is gone, once nothing jumps to it or looks it up.
        for chain in old.regularChains where !newChains.contains(chain) {
            transaction.flushChain(table: table, chain: chain)
            transaction.deleteChain(table: table, name: chain)
        }
        for set in old.sets where !newSetNames.contains(set.name) { transaction.deleteSet(table: table, name: set.name) }
        return transaction
    }

    /// An interval set's elements as intervals: each start with the end element after it, if any (an
    /// interval running to the last key has none).
    static func intervals(_ elements: [NftSetElement]) -> [[NftSetElement]] {
        var result: [[NftSetElement]] = []
        for element in elements {
            if element.intervalEnd, var last = result.popLast(), last.count == 1 {
                last.append(element)
                result.append(last)
            } else {
                result.append([element])
            }
        }
        return result
    }
}

extension NftClient {
    /// Makes the table hold `image`'s chains, sets and rules and adds its elements, keeping elements
    /// already there: adding a table, chain or set that exists is a no-op (NLM_F_CREATE without EXCL),
    /// and each base chain is flushed and refilled in the same transaction. Many processes may call it
    /// at once for different elements (the plugin's ADDs); none undoes another's.
    public func merge(_ image: NftTableImage) throws {
        let transaction = transaction(), table = image.name
        transaction.addTable(table)
        for set in image.sets { transaction.addSet(table: table, set) }
        for chain in image.regularChains { transaction.addRegularChain(table: table, name: chain) }
        for chain in image.baseChains {
            transaction.addChain(table: table, chain)
            transaction.flushChain(table: table, chain: chain.name)
        }
        for rule in image.rules { transaction.addRule(table: table, rule) }
        for set in image.sets { transaction.addElements(table: table, set: set.name, image.elements[set.name] ?? []) }
        try commit(transaction)
    }

    /// Adds elements to sets of table `table` in one transaction; returns `image` with them, as the
    /// kernel now holds it (for the next `update`).
    public func add(_ elements: [String: [NftSetElement]], to image: NftTableImage) throws -> NftTableImage {
        let transaction = transaction()
        for (set, members) in elements.sorted(by: { $0.key < $1.key }) { transaction.addElements(table: image.name, set: set, members) }
        var result = image
        guard !transaction.isEmpty else { return result }
        try commit(transaction)
        for (set, members) in elements { result.elements[set, default: []] += members }
        return result
    }

    /// Deletes elements from a set of table `table`, one transaction per element so that one already gone
    /// does not keep the others. A missing table or set is nothing to delete.
    public func deleteElements(table: String, set: String, _ elements: [NftSetElement]) throws {
        for element in elements {
            let transaction = transaction()
            transaction.deleteElements(table: table, set: set, [element])
            do {
                try commit(transaction)
            } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {
                continue
            }
        }
    }
}
