import CNftnl
import Foundation
import Testing
import WeftNetlink

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

    /// Weft's messages against nft's recording, message by message: the count, each type, sequence number
    /// and nfgenmsg header byte for byte, then the attributes as `ours` and `theirs` make them comparable
    /// (by default: sorted by type, and nft's without what only nft sends), nested ones in their order.
    static func expectSameMessages(
        _ written: [Message], _ recorded: [Message], ours: (Message) -> [Attribute] = { Attribute.parse($0.payload, from: 4).sorted { $0.kind < $1.kind } },
        theirs: (Message) -> [Attribute] = { withoutNftOnly(Attribute.parse($0.payload, from: 4), messageType: $0.type).sorted { $0.kind < $1.kind } },
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(written.count == recorded.count, "\(written.map(\.type)) vs \(recorded.map(\.type))", sourceLocation: sourceLocation)
        for (weft, nft) in zip(written, recorded) {
            #expect(weft.type == nft.type && weft.sequence == nft.sequence, "message \(nft.sequence)", sourceLocation: sourceLocation)
            #expect(Array(weft.payload.prefix(4)) == Array(nft.payload.prefix(4)), "nfgenmsg of message \(nft.sequence)", sourceLocation: sourceLocation)
            #expect(
                ours(weft) == theirs(nft), "message \(nft.sequence) (type \(nft.type & 0xff)):\n\(hex(weft.payload))\nnft:\n\(hex(nft.payload))",
                sourceLocation: sourceLocation)
        }
    }

    /// libnftnl's decoding of Weft's sets, element lists and rules is nft's `--debug=netlink` output in
    /// Golden/`file` (nft also prints its chains there, before it names them: "inet (null) (null)").
    static func expectDebugOutput(_ written: [Message], _ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let golden = try text(file).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("inet (null) (null)") }.joined(separator: "\n")
        let decoded = written.compactMap(decode).joined()
        #expect(decoded == golden, "Weft:\n\(decoded)\nnft:\n\(golden)", sourceLocation: sourceLocation)
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
