import WeftNftables

/// A kernel's nftables table as values, order aside: what a diff of two partial images changes
/// (NftClient's diff), for tests that check a sequence of partial writes against a whole image.
public struct NftTableModel: Equatable {
    public var chains: Set<String> = []
    public var rules: [String: [NftRule]] = [:]
    public var sets: [String: NftSet] = [:]
    public var elements: [String: Set<NftSetElement>] = [:]

    public init(_ image: NftTableImage) {
        chains = Set(image.regularChains + image.baseChains.map(\.name))
        rules = Dictionary(grouping: image.rules, by: \.chain)
        sets = Dictionary(image.sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        elements = image.elements.mapValues(Set.init).filter { !$0.value.isEmpty }
    }

    /// What NftClient.diff does with two partial images: their chains, rules, sets and elements
    /// taken out as they were and put in as they are.
    public mutating func apply(from before: NftTableImage, to after: NftTableImage) {
        for chain in before.regularChains {
            chains.remove(chain)
            rules[chain] = nil
        }
        for chain in after.regularChains { chains.insert(chain) }
        for (chain, list) in Dictionary(grouping: after.rules, by: \.chain) { rules[chain] = list }
        let kept = Set(after.sets.map(\.name))
        for set in before.sets where !kept.contains(set.name) {
            sets[set.name] = nil
            elements[set.name] = nil
        }
        for set in after.sets { sets[set.name] = set }
        for (set, list) in before.elements { elements[set]?.subtract(list) }
        for (set, list) in after.elements { elements[set, default: []].formUnion(list) }
        elements = elements.filter { !$0.value.isEmpty }
    }
}
