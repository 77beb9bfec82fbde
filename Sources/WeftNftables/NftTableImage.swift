import CNftnl
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
    /// Larger than the hostPort batches: a policy table holds every selected pod's address.
    static let tableImageCapacity = 8 << 20

    /// Replaces the table `image.name` with `image` in one transaction: created if missing (the first
    /// "add table" is a no-op otherwise), deleted with everything in it, created again, filled.
    public func replace(_ image: NftTableImage) throws {
        let batch = NftBatch(firstSequence: peekSequence, capacity: Self.tableImageCapacity)
        NftEncoder.table(batch, name: image.name)
        NftEncoder.deleteTable(batch, name: image.name)
        NftEncoder.table(batch, name: image.name)
        for (index, set) in image.sets.enumerated() { NftEncoder.set(batch, table: image.name, set, id: UInt32(index + 1)) }
        // Regular chains first: map elements and rules jump to them.
        for chain in image.regularChains { NftEncoder.regularChain(batch, table: image.name, name: chain) }
        for chain in image.baseChains { NftEncoder.chain(batch, table: image.name, chain) }
        for set in image.sets { NftEncoder.setElements(batch, table: image.name, set: set.name, image.elements[set.name] ?? []) }
        for rule in image.rules { NftEncoder.rule(batch, table: image.name, rule) }
        try commit(batch)
    }

    /// Deletes the table `name`; false when there was none.
    @discardableResult
    public func deleteTable(_ name: String) throws -> Bool {
        let batch = NftBatch(firstSequence: peekSequence)
        NftEncoder.deleteTable(batch, name: name)
        do {
            try commit(batch)
            return true
        } catch let error as NetlinkError where error.errno == ENOENT {
            return false
        }
    }
}
