import CNftnl
import Testing
import WeftNetlink
@testable import WeftNftables

/// The expressions a Services table needs (kube-proxy's nftables mode) against what nft sends for
/// Golden/services.nft (recorded by scripts/nft-golden.sh): `dnat to ADDR:PORT` (immediate data),
/// `numgen random mod N vmap { … }` (an anonymous constant map), `goto` and `return`, `reject` (TCP reset and
/// icmpx port unreachable), `update @set { ip saddr }` into a set with `flags dynamic,timeout`,
/// `meta mark set meta mark or X` and `masquerade fully-random`. Compared as GoldenEncoderTests does (NftGolden),
/// with one more thing only nft sends: the set ID of a named set in a dynset (the kernel finds the set by
/// name). Anonymous maps are found by ID alone, so Weft sends it there, in elements and lookup alike.
@Suite struct GoldenServicesTests {
    @Test func everyMessageMatchesWhatNftSends() throws {
        let recorded = try NftGolden.recordedMessages("services.mnl")
        #expect(recorded.count == 21, "the recording holds the batch begin and 20 objects")
        NftGolden.expectSameMessages(GoldenServicesTable.messages(), recorded, ours: comparable, theirs: comparable)
    }

    /// The anonymous map's set ID ties its set, its elements and the rule's lookup together.
    @Test func theAnonymousMapIsNamedByItsSetID() {
        let written = GoldenServicesTable.messages()
        let anonymous = written.filter {
            Int($0.type & 0xff) == Int(NFT_MSG_NEWSETELEM.rawValue) && String(decoding: $0.payload, as: UTF8.self).contains("__map%d")
        }
        #expect(anonymous.count == 1)
        let attributes = anonymous.first.map { NftGolden.Attribute.parse($0.payload, from: 4) } ?? []
        #expect(attributes.contains { $0.kind == UInt16(NFTA_SET_ELEM_LIST_SET_ID.rawValue) })
        let rules = written.filter { Int($0.type & 0xff) == Int(NFT_MSG_NEWRULE.rawValue) }.map { NftGolden.Attribute.parse($0.payload, from: 4) }
        #expect(rules.map(NftGolden.lookupSetIDs).reduce(0, +) == 1, "one lookup names its set by ID: the anonymous map's")
    }

    @Test func theDecodedMessagesAreNftsDebugOutput() throws {
        try NftGolden.expectDebugOutput(GoldenServicesTable.messages(), "services.netlink")
    }

    /// A message's attributes sorted by type, without what only nft sends (its set IDs of named sets are
    /// left out on both sides; the anonymous map's are compared by theAnonymousMapIsNamedByItsSetID).
    func comparable(_ message: NftGolden.Message) -> [NftGolden.Attribute] {
        let dynsetSetID = UInt16(NFTA_DYNSET_SET_ID.rawValue)
        return NftGolden.withoutNftOnly(NftGolden.Attribute.parse(message.payload, from: 4), messageType: message.type).map { attribute in
            guard attribute.kind == UInt16(NFTA_RULE_EXPRESSIONS.rawValue) else { return attribute }
            return NftGolden.Attribute(
                type: attribute.type, value: [],
                nested: attribute.nested.map { expression in
                    NftGolden.Attribute(
                        type: expression.type, value: [],
                        nested: expression.nested.map { part in
                            part.kind == 2 && isDynset(expression)
                                ? NftGolden.Attribute(type: part.type, value: [], nested: part.nested.filter { $0.kind != dynsetSetID }) : part
                        })
                })
        }.sorted { $0.kind < $1.kind }
    }

    func isDynset(_ expression: NftGolden.Attribute) -> Bool {
        expression.nested.first { $0.kind == 1 }?.value.prefix { $0 != 0 } == Array("dynset".utf8)[...]
    }
}

/// Golden/services.nft in Weft's model, in nft's order: table, chains, the set, then the rules (the
/// anonymous map's set and elements just before its rule).
enum GoldenServicesTable {
    static let name = "goldensvc"

    static func messages() -> [NftGolden.Message] {
        let transaction = NftTransaction(firstSequence: 0)
        transaction.addTable(name)
        for chain in ["reject-chain", "firewall", "ep", "svc"] { transaction.addRegularChain(table: name, name: chain) }
        transaction.addChain(table: name, NftChain(name: "post", hook: .postrouting, priority: 100))
        transaction.addSet(
            table: name, NftSet(dynamicName: "affinity4", keyLength: 4, keyType: NftDatatype.ipv4Address, timeoutMilliseconds: 10_800_000))

        let wide = Register.wide1
        let ipv4Only: [NftExpression] = [.meta(.nfproto, into: wide), .cmp(.eq, wide, [2])]
        let mark: [UInt8] = [0, 0, 4, 0]
        for rule in [
            NftRule(chain: "reject-chain", expressions: [.meta(.l4proto, into: wide), .cmp(.eq, wide, [6]), .reject(.tcpReset)]),
            NftRule(chain: "reject-chain", expressions: [.reject(.icmpxPortUnreachable)]),
            NftRule(
                chain: "firewall",
                expressions: ipv4Only + [.payload(.network, offset: 12, length: 2, into: wide), .cmp(.eq, wide, [192, 168]), .verdict(.return)]),
            NftRule(chain: "firewall", expressions: [.verdict(.drop)]),
            NftRule(
                chain: "ep",
                expressions: ipv4Only + [
                    .payload(.network, offset: 12, length: 4, into: wide), .cmp(.eq, wide, [10, 244, 1, 2]),
                    .meta(.mark, into: wide), .bitwiseBool(wide, mask: [0xff, 0xff, 0xfb, 0xff], xor: mark), .setMeta(.mark, from: wide),
                ]),
            NftRule(chain: "ep", expressions: ipv4Only + [.payload(.network, offset: 12, length: 4, into: wide), .dynsetUpdate(set: "affinity4", key: wide)]),
            NftRule(
                chain: "ep",
                expressions: [
                    .meta(.l4proto, into: wide), .cmp(.eq, wide, [6]), .immediate(wide, [10, 244, 1, 2]), .immediate(Register(raw: 2), [0x1f, 0x90]),
                    .dnatToPort(family: .v4, address: wide, port: Register(raw: 2)),
                ]),
            NftRule(
                chain: "svc",
                expressions: ipv4Only + [
                    .payload(.network, offset: 12, length: 4, into: wide), .lookup(set: "affinity4", key: wide, into: nil), .verdict(.goto("ep")),
                ]),
            NftRule(
                chain: "svc",
                expressions: [
                    .numgenRandom(modulus: 2, into: wide),
                    .anonymousVerdictMap(
                        key: wide, keyType: NftDatatype.integer, keyLength: 4,
                        elements: [
                            NftSetElement(key: [0, 0, 0, 0], verdict: .goto("ep")), NftSetElement(key: [1, 0, 0, 0], verdict: .goto("firewall")),
                        ]),
                ]),
            NftRule(
                chain: "post",
                expressions: [.meta(.mark, into: wide), .bitwiseBool(wide, mask: mark, xor: [0, 0, 0, 0]), .cmp(.eq, wide, [0, 0, 0, 0]), .verdict(.return)]),
            NftRule(chain: "post", expressions: [.masqueradeFullyRandom]),
        ] { transaction.addRule(table: name, rule) }
        return NetlinkMessage.split(transaction.batch.finish().bytes).dropLast().map {
            NftGolden.Message(type: $0.type, sequence: $0.sequence, payload: $0.payload)
        }
    }
}
