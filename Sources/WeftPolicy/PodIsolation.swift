import WeftAddress
import WeftNftables

/// The `inet weft-isolation` table: pods whose policies weftd could not install at their ADD (weftd down
/// or not yet synced, `failClosed` off). Every packet to or from them is dropped, before the policy
/// table's chains, until weftd installs their verdicts and takes them out:
///
///     chain forward { type filter hook forward priority -10
///                     ip saddr @pods4 drop ; ip daddr @pods4 drop ; ip6 saddr @pods6 drop ; ip6 daddr @pods6 drop }
///
/// The plugin adds (ADD) and removes (DEL) its pod's addresses; weftd removes those it has verdicts for.
/// One element per isolated pod address, no rule per pod.
public enum PodIsolation {
    public static let table = "weft-isolation"

    static func set(_ family: IPAddress.Family) -> String { family == .v4 ? "pods4" : "pods6" }

    /// The table with `addresses` as its elements.
    public static func image(_ addresses: [IPAddress]) -> NftTableImage {
        var image = NftTableImage(name: table)
        image.baseChains = [NftChain(name: "forward", hook: .forward, priority: -10, type: "filter")]
        for family in [IPAddress.Family.v4, .v6] {
            image.sets.append(NftSet(name: set(family), keyLength: UInt32(NftMatch.addressLength(family)), keyType: NftDatatype.address(family)))
            image.elements[set(family)] = addresses.filter { $0.family == family }.map { NftSetElement(key: $0.bytes) }
            for source in [true, false] {
                image.rules.append(
                    NftRule(
                        chain: "forward",
                        expressions: NftMatch.family(family, register: .r(1))
                            + NftMatch.loadAddress(family, source: source, into: .r(1))
                            + [.lookup(set: set(family), key: .r(1), into: nil), .counter, .verdict(.drop)]))
            }
        }
        return image
    }

    /// Drops everything to and from `addresses` (creating the table if it is missing).
    public static func isolate(_ addresses: [IPAddress], client: NftClient) throws {
        try client.merge(image(addresses))
    }

    /// Lets `addresses` through again; addresses not isolated, or no table, are nothing to do. The set
    /// is read first and only its members are deleted: a refused transaction (an element or table that
    /// is not there) costs the kernel an RCU grace period, 10 ms and more, on every ADD and DEL.
    public static func release(_ addresses: [IPAddress], client: NftClient) throws {
        for family in [IPAddress.Family.v4, .v6] {
            let wanted = addresses.filter { $0.family == family }
            guard !wanted.isEmpty else { continue }
            let present = Set(try client.keys(table: table, set: set(family)))
            let members = wanted.map(\.bytes).filter(present.contains).map { NftSetElement(key: $0) }
            if !members.isEmpty { try client.deleteElements(table: table, set: set(family), members) }
        }
    }

    /// The addresses isolated now.
    public static func isolated(client: NftClient) throws -> [IPAddress] {
        try [IPAddress.Family.v4, .v6].flatMap { family in
            try client.keys(table: table, set: set(family)).compactMap { IPAddress(bytes: $0) }
        }
    }
}
