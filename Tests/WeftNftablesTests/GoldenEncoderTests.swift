import CNftnl
import Foundation
import Testing
import WeftNetlink
@testable import WeftNftables

/// Weft's encoder against what nft itself sends for the same table (google/nftables' nftest, done with
/// the nft on this machine): Golden/table.nft, recorded by scripts/nft-golden.sh as Golden/table.mnl (every
/// byte, libmnl's dump) and Golden/table.netlink (libnftnl's decoding). GoldenTable writes the same table
/// with the same expressions through Weft's encoder; no kernel is needed.
///
/// Every attribute Weft sends is compared byte for byte with nft's, nested ones (a rule's expressions,
/// an element list, a chain's hook) in their order. Not byte for byte, each for a named reason:
/// - the order of a message's top-level attributes: nft 1.0.6 writes chains and element lists with its
///   own code, Weft with libnftnl's builders, which order them differently; the kernel reads attributes
///   by type (nla_parse), so the order means nothing;
/// - attributes only nft sends (NftGolden.nftOnly, checked to be in nft's messages and none of Weft's):
///   the table's NFTA_TABLE_FLAGS 0 (no flags, as when absent); a base chain's NFTA_CHAIN_POLICY accept
///   (the kernel's default); a set's NFTA_SET_USERDATA (byte order and types for `nft list`, never read
///   by the kernel); the NFTA_SET_ID of a set created in the same transaction, in element lists and in
///   lookups (NFTA_LOOKUP_SET_ID), where the kernel finds the set by name first (nft_set_lookup_global),
///   as Weft names it;
/// - header flags and the batch end: libmnl's dump prints only some flags, and nft's stops before the end.
/// Sequence numbers match: both count from 0.
@Suite struct GoldenEncoderTests {
    @Test func everyMessageMatchesWhatNftSends() throws {
        let recorded = try NftGolden.recordedMessages()
        #expect(recorded.count == 18, "the recording holds the batch begin and 17 objects")
        NftGolden.expectSameMessages(GoldenTable.messages(), recorded)
    }

    /// The nft-only attributes are really in nft's messages (the list is not stale) and in none of Weft's.
    @Test func whatOnlyNftSendsIsWhatTheCommentSays() throws {
        let recorded = try NftGolden.recordedMessages(), written = GoldenTable.messages()
        func holds(_ messages: [NftGolden.Message], _ kind: Int, _ attribute: UInt16) -> Bool {
            messages.contains { Int($0.type & 0xff) == kind && NftGolden.Attribute.parse($0.payload, from: 4).contains { $0.kind == attribute } }
        }
        for (kind, attributes) in NftGolden.nftOnly {
            for attribute in attributes {
                #expect(holds(recorded, kind, attribute), "nft sends attribute \(attribute) in type \(kind)")
                #expect(!holds(written, kind, attribute), "Weft does not send attribute \(attribute) in type \(kind)")
            }
        }
        func lookupSetIDs(_ messages: [NftGolden.Message]) -> Int {
            messages.filter { Int($0.type & 0xff) == Int(NFT_MSG_NEWRULE.rawValue) }.map { NftGolden.Attribute.parse($0.payload, from: 4) }
                .map { $0.count - NftGolden.withoutNftOnly($0, messageType: UInt16(NFT_MSG_NEWRULE.rawValue)).count + NftGolden.lookupSetIDs(in: $0) }
                .reduce(0, +)
        }
        #expect(lookupSetIDs(recorded) == 3, "nft names the set of each of its three lookups by ID too")
        #expect(lookupSetIDs(written) == 0)
    }

    /// libnftnl's decoding of Weft's sets, element lists and rules is nft's `--debug=netlink` output
    /// (nft also prints its chains there, before it names them: "inet (null) (null)").
    @Test func theDecodedMessagesAreNftsDebugOutput() throws {
        try NftGolden.expectDebugOutput(GoldenTable.messages(), "table.netlink")
    }
}

/// Golden/table.nft in Weft's model, in the order nft sends it: table, chains, each set with its
/// elements, rules. Registers, lengths and element keys are nft's choices for that source.
enum GoldenTable {
    static let name = "golden"
    static let ipv4 = NftDatatype.ipv4Address, proto = NftDatatype.inetProto, service = NftDatatype.inetService
    static func concat(_ types: UInt32...) -> UInt32 { types.reduce(0) { ($0 << 6) | $1 } }

    static func messages() -> [NftGolden.Message] {
        let transaction = NftTransaction(firstSequence: 0)
        transaction.addTable(name)
        transaction.addRegularChain(table: name, name: "allow")
        transaction.addChain(table: name, NftChain(name: "forward", hook: .forward, priority: 0, type: "filter"))
        transaction.addChain(table: name, NftChain(name: "prerouting", hook: .prerouting, priority: -90))
        transaction.addChain(table: name, NftChain(name: "postrouting", hook: .postrouting, priority: 110))

        transaction.addSet(table: name, NftSet(name: "peers4", keyLength: 4, keyType: ipv4, interval: true))
        // nft opens an interval set with an end at 0.0.0.0 (the gap before the first interval).
        transaction.addElements(
            table: name, set: "peers4",
            [
                NftSetElement(key: [0, 0, 0, 0], intervalEnd: true),
                NftSetElement(key: [10, 0, 0, 0]), NftSetElement(key: [11, 0, 0, 0], intervalEnd: true),
                NftSetElement(key: [192, 168, 1, 0]), NftSetElement(key: [192, 168, 2, 0], intervalEnd: true),
            ])
        transaction.addSet(
            table: name,
            NftSet(
                name: "hostports4", keyLength: 8, keyType: concat(proto, service),
                data: .value(type: concat(ipv4, service), length: 8)))
        transaction.addElements(
            table: name, set: "hostports4",
            [
                NftSetElement(key: [6, 0, 0, 0, 0x1f, 0x90, 0, 0], data: [10, 244, 1, 2, 0, 80, 0, 0], comment: "weft/cbr0/pod/eth0")
            ], exclusive: true)
        transaction.addSet(table: name, NftSet(name: "pods4", keyLength: 12, keyType: concat(ipv4, proto, service), data: .verdict))
        transaction.addElements(
            table: name, set: "pods4",
            [
                NftSetElement(key: [10, 244, 1, 2, 6, 0, 0, 0, 0, 80, 0, 0], verdict: .jump("allow"))
            ])

        let wide = Register.wide1
        let ipv4Only: [NftExpression] = [.meta(.nfproto, into: wide), .cmp(.eq, wide, [2])]
        for rule in [
            NftRule(
                chain: "allow",
                expressions: ipv4Only + [
                    .payload(.network, offset: 12, length: 4, into: wide),
                    .lookup(set: "peers4", key: wide, into: nil), .counter, .verdict(.accept),
                ]),
            NftRule(chain: "allow", expressions: [.counter, .verdict(.drop)]),
            NftRule(
                chain: "forward",
                expressions: [
                    .ctState(into: wide), .bitwise(wide, mask: [6, 0, 0, 0], xor: [0, 0, 0, 0]),
                    .cmp(.neq, wide, [0, 0, 0, 0]), .verdict(.accept),
                ]),
            NftRule(
                chain: "forward",
                expressions: ipv4Only + [
                    .payload(.network, offset: 16, length: 4, into: wide),
                    .meta(.l4proto, into: .r(1)), .payload(.transport, offset: 2, length: 2, into: .r(2)),
                    .verdictMap(set: "pods4", key: wide),
                ]),
            NftRule(
                chain: "prerouting",
                expressions: [
                    .fibDestinationType(into: wide), .cmp(.eq, wide, [2, 0, 0, 0]),
                    .meta(.l4proto, into: wide), .payload(.transport, offset: 2, length: 2, into: .r(1)),
                    .lookup(set: "hostports4", key: wide, into: wide), .dnat(family: .v4, address: wide, port: .r(1)),
                ]),
            NftRule(
                chain: "postrouting",
                expressions: ipv4Only + [
                    .payload(.network, offset: 12, length: 3, into: wide), .cmp(.eq, wide, [10, 244, 1]),
                    .payload(.network, offset: 16, length: 2, into: wide), .cmp(.neq, wide, [10, 244]),
                    .counter, .masquerade,
                ]),
        ] { transaction.addRule(table: name, rule) }
        return NetlinkMessage.split(transaction.batch.finish().bytes).dropLast().map {
            NftGolden.Message(type: $0.type, sequence: $0.sequence, payload: $0.payload)
        }
    }
}
