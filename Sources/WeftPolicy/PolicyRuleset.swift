import WeftAddress
import WeftNftables

/// CompiledPolicies as the `inet weft-policy` table, replaced whole in one transaction:
///
///     chain egress  { type filter hook forward priority 0
///                     ct state established,related accept
///                     icmpv6 type { mld-*, nd-router-*, nd-neighbor-* } accept
///                     ip saddr vmap @egress4 ; ip6 saddr vmap @egress6 }
///     chain ingress { type filter hook forward priority 1
///                     ct state established,related accept
///                     icmpv6 type { mld-*, nd-router-*, nd-neighbor-* } accept
///                     ip daddr vmap @ingress4 ; ip6 daddr vmap @ingress6 }
///     chain in-<hash> { <allow rules> accept … ; counter drop }     one per distinct policy list
///
/// A pod no policy selects has no element in the maps: its packets fall through, accepted. A pod
/// selected in a direction jumps to its chain, which accepts what a policy allows and drops the rest.
/// Replies of allowed connections are accepted first (conntrack), in both directions. Traffic between
/// the node and its pods does not pass the forward hook and is never filtered (kubelet's probes).
/// Nothing here is per pod pair: a pod is one element in a map and in the sets that name it.
public enum PolicyRuleset {
    public static let table = "weft-policy"

    public static func image(_ compiled: CompiledPolicies) -> NftTableImage {
        var image = NftTableImage(name: table)
        image.baseChains = [
            NftChain(name: "egress", hook: .forward, priority: 0, type: "filter"),
            NftChain(name: "ingress", hook: .forward, priority: 1, type: "filter"),
        ]
        for (direction, chain) in [(Direction.egress, "egress"), (.ingress, "ingress")] {
            let source = direction == .egress
            image.rules.append(NftRule(chain: chain, expressions: established))
            image.rules += neighbourDiscovery.map { NftRule(chain: chain, expressions: $0) }
            for family in [IPAddress.Family.v4, .v6] {
                let map = "\(chain)\(family == .v4 ? 4 : 6)"
                image.sets.append(NftSet(name: map, keyLength: UInt32(width(family)), keyType: NftDatatype.address(family), verdictMap: true))
                image.elements[map] = (compiled.verdicts[direction] ?? [:]).filter { $0.key.family == family }
                    .sorted { $0.key < $1.key }.map { NftSetElement(key: $0.key.bytes, verdict: .jump($0.value)) }
                image.rules.append(
                    NftRule(
                        chain: chain,
                        expressions: nfproto(family) + address(family, source: source, into: .r(1))
                            + [.verdictMap(set: map, key: .r(1))]))
            }
        }
        for (name, intervals) in compiled.addressSets.sorted(by: { $0.key < $1.key }) {
            for family in [IPAddress.Family.v4, .v6] {
                let members = intervals.filter { $0.first.family == family }
                guard !members.isEmpty else { continue }
                let set = setName(name, family)
                image.sets.append(NftSet(name: set, keyLength: UInt32(width(family)), keyType: NftDatatype.address(family), interval: true))
                image.elements[set] = members.flatMap(intervalElements)
            }
        }
        for (name, entries) in compiled.portSets.sorted(by: { $0.key < $1.key }) {
            for family in [IPAddress.Family.v4, .v6] {
                let members = entries.filter { $0.address.family == family }.sorted { ($0.address, $0.port) < ($1.address, $1.port) }
                guard !members.isEmpty else { continue }
                let set = setName(name, family)
                image.sets.append(
                    NftSet(
                        name: set, keyLength: UInt32(width(family) + 8),
                        keyType: NftDatatype.concat(NftDatatype.address(family), NftDatatype.inetProto, NftDatatype.inetService)))
                image.elements[set] = members.map(portElement)
            }
        }
        let egressChains = Set((compiled.verdicts[.egress] ?? [:]).values)
        for (name, allows) in compiled.chains.sorted(by: { $0.key < $1.key }) {
            image.regularChains.append(name)
            let peerIsSource = !egressChains.contains(name)
            for allow in allows {
                for expressions in allowRules(allow, peerIsSource: peerIsSource, compiled: compiled) {
                    image.rules.append(NftRule(chain: name, expressions: expressions + [.verdict(.accept)]))
                }
            }
            image.rules.append(NftRule(chain: name, expressions: [.counter, .verdict(.drop)]))
        }
        return image
    }

    /// A named-port set's element: address . protocol . port, each field padded to 32 bits.
    static func portElement(_ entry: CompiledPolicies.PortEntry) -> NftSetElement {
        NftSetElement(key: entry.address.bytes + [entry.proto.rawValue, 0, 0, 0] + port(entry.port) + [0, 0])
    }

    /// The elements `delta` adds to the table of `compiled` (before the delta), by set. An address an
    /// interval of the set already covers (an ipBlock) adds nothing there.
    public static func elements(_ delta: PodDelta, to compiled: CompiledPolicies) -> [String: [NftSetElement]] {
        var elements: [String: [NftSetElement]] = [:]
        for (direction, chain) in delta.verdicts {
            for address in delta.pod.addresses {
                elements["\(direction == .ingress ? "ingress" : "egress")\(address.family == .v4 ? 4 : 6)", default: []]
                    .append(NftSetElement(key: address.bytes, verdict: .jump(chain)))
            }
        }
        for set in delta.addressSets {
            for address in delta.pod.addresses where !(compiled.addressSets[set] ?? []).contains(where: { $0.first <= address && address <= $0.last }) {
                elements[setName(set, address.family), default: []] += intervalElements(AddressInterval(address))
            }
        }
        for (set, entries) in delta.portEntries {
            for entry in entries where compiled.portSets[set]?.contains(entry) != true {
                elements[setName(set, entry.address.family), default: []].append(portElement(entry))
            }
        }
        return elements
    }

    /// The match expressions of one allow rule, per address family where the rule names addresses.
    static func allowRules(_ allow: CompiledPolicies.Allow, peerIsSource: Bool, compiled: CompiledPolicies) -> [[NftExpression]] {
        // The peer: any (no family), or one match per family its set has members of.
        var peerMatches: [(family: IPAddress.Family?, expressions: [NftExpression])] = [(nil, [])]
        if case let .set(name) = allow.peers {
            let families = [IPAddress.Family.v4, .v6].filter { family in compiled.addressSets[name]?.contains { $0.first.family == family } == true }
            peerMatches = families.map {
                ($0, nfproto($0) + address($0, source: peerIsSource, into: .r(1)) + [.lookup(set: setName(name, $0), key: .r(1), into: nil)])
            }
        }
        var rules: [[NftExpression]] = []
        for peer in peerMatches {
            switch allow.ports {
            case .any:
                rules.append(peer.expressions)
            case let .ranges(ranges):
                for range in ranges { rules.append(peer.expressions + portMatch(range)) }
            case let .named(name):
                // The port's owner's address . protocol . port (the destination's, in either direction).
                for family in [IPAddress.Family.v4, .v6]
                where peer.family ?? family == family
                    && compiled.portSets[name]?.contains(where: { $0.address.family == family }) == true
                {
                    let words = UInt32(width(family) / 4)
                    // The peer's match already tests the family when it has one.
                    rules.append(
                        peer.expressions + (peer.family == nil ? nfproto(family) : []) + address(family, source: false, into: .r(1))
                            + [
                                .meta(.l4proto, into: .r(1).advanced(by: words)),
                                .payload(.transport, offset: 2, length: 2, into: .r(1).advanced(by: words + 1)),
                                .lookup(set: setName(name, family), key: .r(1), into: nil),
                            ])
                }
            }
        }
        return rules
    }

    static let established: [NftExpression] = NftMatch.establishedOrRelated(register: .r(1)) + [.verdict(.accept)]

    /// ICMPv6 the link itself runs on: MLD (130–132, 143) and router and neighbour discovery (133–136).
    /// Conntrack leaves them untracked, so `established` does not pass them; on a bridge with
    /// br_netfilter a pod's neighbour solicitation to a same-node peer meets these forward chains, and
    /// without this a pod isolated for egress could not resolve even the peers a policy allows.
    static let neighbourDiscovery: [[NftExpression]] = {
        let icmpv6Type: [NftExpression] =
            nfproto(.v6) + [
                .meta(.l4proto, into: .r(1)), .cmp(.eq, .r(1), [58]),
                .payload(.transport, offset: 0, length: 1, into: .r(1)),
            ]
        return [
            icmpv6Type + [.cmp(.gte, .r(1), [130]), .cmp(.lte, .r(1), [136]), .verdict(.accept)],
            icmpv6Type + [.cmp(.eq, .r(1), [143]), .verdict(.accept)],
        ]
    }()

    static func portMatch(_ range: CompiledPolicies.PortRange) -> [NftExpression] {
        var expressions: [NftExpression] = [.meta(.l4proto, into: .r(2)), .cmp(.eq, .r(2), [range.proto.rawValue])]
        if range.first == 0 && range.last == 65535 { return expressions }
        expressions.append(.payload(.transport, offset: 2, length: 2, into: .r(2)))
        if range.first == range.last {
            expressions.append(.cmp(.eq, .r(2), port(range.first)))
        } else {
            expressions += [.cmp(.gte, .r(2), port(range.first)), .cmp(.lte, .r(2), port(range.last))]
        }
        return expressions
    }

    static func nfproto(_ family: IPAddress.Family) -> [NftExpression] { NftMatch.family(family, register: .r(1)) }

    /// The source or destination address into `register` (and the ones after it for IPv6).
    static func address(_ family: IPAddress.Family, source: Bool, into register: Register) -> [NftExpression] {
        NftMatch.loadAddress(family, source: source, into: register)
    }

    /// An interval as a set holds it: its first key, and the key after its last flagged as the end
    /// (none when it runs to the last address).
    static func intervalElements(_ interval: AddressInterval) -> [NftSetElement] {
        var elements = [NftSetElement(key: interval.first.bytes)]
        if let end = AddressIntervals.successor(interval.last) { elements.append(NftSetElement(key: end.bytes, intervalEnd: true)) }
        return elements
    }

    static func setName(_ name: String, _ family: IPAddress.Family) -> String { "\(name)-\(family == .v4 ? 4 : 6)" }
    static func width(_ family: IPAddress.Family) -> Int { NftMatch.addressLength(family) }
    static func port(_ value: UInt16) -> [UInt8] { NftMatch.port(value) }
}
