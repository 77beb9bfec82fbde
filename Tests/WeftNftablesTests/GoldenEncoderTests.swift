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
        let written = GoldenTable.messages()
        #expect(recorded.count == 18, "the recording holds the batch begin and 17 objects")
        #expect(written.count == recorded.count, "\(written.map(\.type)) vs \(recorded.map(\.type))")
        for (weft, nft) in zip(written, recorded) {
            #expect(weft.type == nft.type && weft.sequence == nft.sequence, "message \(nft.sequence)")
            #expect(Array(weft.payload.prefix(4)) == Array(nft.payload.prefix(4)), "nfgenmsg of message \(nft.sequence)")
            let ours = NftGolden.Attribute.parse(weft.payload, from: 4).sorted { $0.kind < $1.kind }
            let theirs = NftGolden.withoutNftOnly(NftGolden.Attribute.parse(nft.payload, from: 4), messageType: nft.type).sorted { $0.kind < $1.kind }
            #expect(ours == theirs, "message \(nft.sequence) (type \(nft.type & 0xff)):\n\(NftGolden.hex(weft.payload))\nnft:\n\(NftGolden.hex(nft.payload))")
        }
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
        let golden = try NftGolden.text("table.netlink").split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("inet (null) (null)") }.joined(separator: "\n")
        let decoded = GoldenTable.messages().compactMap(NftGolden.decode).joined()
        #expect(decoded == golden, "Weft:\n\(decoded)\nnft:\n\(golden)")
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

/// Reads the goldens, and decodes Weft's messages the way nft prints its own.
enum NftGolden {
    /// A message without its length, flags and port ID (libmnl's dump shows only some of the flags).
    struct Message {
        let type: UInt16
        let sequence: UInt32
        let payload: [UInt8]
    }

    /// Top-level attributes nft sends that Weft leaves out, by message type (see GoldenEncoderTests).
    static let nftOnly: [Int: Set<UInt16>] = [
        Int(NFT_MSG_NEWTABLE.rawValue): [UInt16(NFTA_TABLE_FLAGS.rawValue)],
        Int(NFT_MSG_NEWCHAIN.rawValue): [UInt16(NFTA_CHAIN_POLICY.rawValue)],
        Int(NFT_MSG_NEWSET.rawValue): [UInt16(NFTA_SET_USERDATA.rawValue)],
        Int(NFT_MSG_NEWSETELEM.rawValue): [UInt16(NFTA_SET_ELEM_LIST_SET_ID.rawValue)],
    ]

    /// An attribute with its nested ones parsed (NLA_F_NESTED), so parts of a rule can be left out.
    struct Attribute: Equatable {
        let type: UInt16
        let value: [UInt8]
        let nested: [Attribute]
        var kind: UInt16 { type & 0x3fff }

        static func parse(_ bytes: [UInt8], from offset: Int = 0) -> [Attribute] {
            var result: [Attribute] = [], cursor = offset
            while cursor + 4 <= bytes.count {
                let length = Int(bytes[cursor]) | Int(bytes[cursor + 1]) << 8, type = UInt16(bytes[cursor + 2]) | UInt16(bytes[cursor + 3]) << 8
                guard length >= 4, cursor + length <= bytes.count else { break }
                let value = Array(bytes[(cursor + 4)..<(cursor + length)])
                result.append(type & 0x8000 != 0 ? Attribute(type: type, value: [], nested: parse(value)) : Attribute(type: type, value: value, nested: []))
                cursor += (length + 3) & ~3
            }
            return result
        }
    }

    /// NFTA_RULE_EXPRESSIONS (4) holds NFTA_LIST_ELEMs of NFTA_EXPR_NAME (1) and NFTA_EXPR_DATA (2).
    static func withoutNftOnly(_ attributes: [Attribute], messageType: UInt16) -> [Attribute] {
        let kind = Int(messageType & 0xff)
        let kept = attributes.filter { !(nftOnly[kind]?.contains($0.kind) ?? false) }
        guard kind == Int(NFT_MSG_NEWRULE.rawValue) else { return kept }
        return kept.map { attribute in
            guard attribute.kind == UInt16(NFTA_RULE_EXPRESSIONS.rawValue) else { return attribute }
            return Attribute(
                type: attribute.type, value: [],
                nested: attribute.nested.map { expression in
                    guard isLookup(expression) else { return expression }
                    return Attribute(
                        type: expression.type, value: [],
                        nested: expression.nested.map { part in
                            part.kind == 2
                                ? Attribute(type: part.type, value: [], nested: part.nested.filter { $0.kind != UInt16(NFTA_LOOKUP_SET_ID.rawValue) }) : part
                        })
                })
        }
    }

    static func isLookup(_ expression: Attribute) -> Bool {
        expression.nested.first { $0.kind == 1 }?.value.prefix { $0 != 0 } == Array("lookup".utf8)[...]
    }

    /// How many lookups of a rule's attributes name their set by ID.
    static func lookupSetIDs(in attributes: [Attribute]) -> Int {
        attributes.filter { $0.kind == UInt16(NFTA_RULE_EXPRESSIONS.rawValue) }.flatMap(\.nested).filter(isLookup)
            .filter { $0.nested.first { $0.kind == 2 }?.nested.contains { $0.kind == UInt16(NFTA_LOOKUP_SET_ID.rawValue) } ?? false }.count
    }

    static func text(_ file: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").appendingPathComponent(file)
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// table.mnl back into messages: libmnl prints the header's fields, then each 4 bytes of the payload
    /// either as hex ("data", "extra header") or as an attribute header (length, N and B flags, type).
    static func recordedMessages(_ file: String = "table.mnl") throws -> [Message] {
        var messages: [Message] = []
        var type: UInt16 = 0, sequence: UInt32 = 0, payload: [UInt8] = [], open = false
        func close() {
            if open { messages.append(Message(type: type, sequence: sequence, payload: payload)) }
            payload = []; open = false
        }
        for line in try text(file).split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3 else { continue }
            if line.contains("message length") {
                close(); open = true
            } else if line.contains("type | flags") {
                type = UInt16(fields[1]) ?? 0
            } else if line.contains("sequence number") {
                sequence = UInt32(fields[1]) ?? 0
            } else if line.contains("|      data      |") || line.contains("extra header") {
                payload += fields[1].split(separator: " ").compactMap { UInt8($0, radix: 16) }
            } else if line.contains("|len |flags| type|") {
                let length = UInt16(fields[1]) ?? 0, flags = Array(fields[2])
                let kind = (UInt16(fields[3]) ?? 0) | (flags.first == "N" ? 0x8000 : 0) | (flags.last == "B" ? 0x4000 : 0)
                payload += withUnsafeBytes(of: length.littleEndian) { Array($0) } + withUnsafeBytes(of: kind.littleEndian) { Array($0) }
            }
        }
        close()
        return messages
    }

    /// An element list's payload once per element: the other attributes, and a list of that element alone
    /// as NFTA_LIST_ELEM.
    static func singleElementPayloads(_ payload: [UInt8]) -> [[UInt8]] {
        func attributes(_ bytes: [UInt8], from offset: Int) -> [(type: UInt16, range: Range<Int>)] {
            var result: [(type: UInt16, range: Range<Int>)] = [], cursor = offset
            while cursor + 4 <= bytes.count {
                let length = Int(bytes[cursor]) | Int(bytes[cursor + 1]) << 8
                guard length >= 4, cursor + length <= bytes.count else { break }
                result.append((UInt16(bytes[cursor + 2]) | UInt16(bytes[cursor + 3]) << 8, cursor..<(cursor + length)))
                cursor += (length + 3) & ~3
            }
            return result
        }
        let top = attributes(payload, from: 4)
        guard let list = top.first(where: { $0.type & 0x3fff == UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue) }), top.count > 1 else { return [] }
        let others = top.filter { $0.range != list.range }.flatMap { Array(payload[$0.range]) + [UInt8](repeating: 0, count: (4 - $0.range.count % 4) % 4) }
        return attributes(Array(payload[list.range]), from: 4).map { element in
            let bytes = Array(payload[list.range])[element.range]
            var padded = Array(bytes) + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
            padded[2] = UInt8(NFTA_LIST_ELEM.rawValue); padded[3] = 0x80  // NLA_F_NESTED
            let length = UInt16(4 + padded.count)
            return Array(payload.prefix(4)) + others + [UInt8(length & 0xff), UInt8(length >> 8)] + withUnsafeBytes(of: list.type) { Array($0) } + padded
        }
    }

    /// What libnftnl printed into `buffer`, up to its NUL.
    static func printed(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 16).map { start in
            bytes[start..<min(start + 16, bytes.count)].map { String(format: "%02x", $0) }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// What nft's --debug=netlink prints for a set, element list or rule message (libnftnl's default
    /// output and a newline; rules end with a blank line); nil for the rest.
    static func decode(_ message: Message) -> String? {
        var bytes = withUnsafeBytes(of: UInt32(16 + message.payload.count)) { Array($0) } + withUnsafeBytes(of: message.type) { Array($0) }
        bytes += [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + message.payload
        return bytes.withUnsafeBytes { raw -> String? in
            guard let header = raw.baseAddress?.assumingMemoryBound(to: nlmsghdr.self) else { return nil }
            var buffer = [CChar](repeating: 0, count: 4096)
            switch Int(message.type & 0xff) {
            case Int(NFT_MSG_NEWRULE.rawValue):
                guard let rule = nftnl_rule_alloc() else { return nil }
                defer { nftnl_rule_free(rule) }
                nftnl_rule_nlmsg_parse(header, rule)
                nftnl_rule_snprintf(&buffer, buffer.count, rule, 0, 0)
                return printed(buffer) + "\n"
            case Int(NFT_MSG_NEWSET.rawValue), Int(NFT_MSG_NEWSETELEM.rawValue):
                guard let set = nftnl_set_alloc() else { return nil }
                defer { nftnl_set_free(set) }
                if message.type & 0xff == NFT_MSG_NEWSET.rawValue {
                    nftnl_set_nlmsg_parse(header, set)
                    nftnl_set_snprintf(&buffer, buffer.count, set, 0, 0)
                    return printed(buffer) + "\n"
                }
                // The set's line, then each element after a tab, as nftnl_set_snprintf prints them. libnftnl
                // numbers a list's elements 1, 2, 3 … (nft's messages do the same; the kernel reads any type
                // there) but its parser takes only NFTA_LIST_ELEM (1) and stops at the second, so each element
                // is decoded from a list of its own.
                nftnl_set_elems_nlmsg_parse(header, set)
                nftnl_set_snprintf(&buffer, buffer.count, set, 0, 0)
                let line = printed(buffer), singles = singleElementPayloads(message.payload)
                if singles.count <= 1 { return line + "\n" }
                var decoded = String(line.prefix { $0 != "\n" }) + "\n"
                for single in singles {
                    guard let element = decode(Message(type: message.type, sequence: message.sequence, payload: single)) else { continue }
                    decoded += element.drop { $0 != "\n" }.dropFirst().dropLast()
                }
                return decoded + "\n"
            default:
                return nil
            }
        }
    }
}
