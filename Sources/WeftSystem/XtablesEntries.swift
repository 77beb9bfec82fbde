import CWeftSystem

/// Where x_tables' structs keep what the parser reads, in bytes: the C shim's offsetof and sizeof of
/// `struct ipt_entry` (`ip6t_entry`), `struct xt_entry_target` and `xt_error_target`.
public struct XtablesLayout: Equatable, Sendable {
    /// Where the entries start in IPT_SO_GET_ENTRIES's reply: after `struct ipt_get_entries`.
    public var entriesAt: Int
    public var entrySize: Int
    public var targetOffsetAt: Int
    public var nextOffsetAt: Int
    public var targetSize: Int
    public var targetNameAt: Int
    public var targetNameMax: Int
    public var errorNameMax: Int

    init(_ layout: weft_xt_layout) {
        entriesAt = Int(layout.entries_at); entrySize = Int(layout.entry_size)
        targetOffsetAt = Int(layout.target_offset_at); nextOffsetAt = Int(layout.next_offset_at)
        targetSize = Int(layout.target_size); targetNameAt = Int(layout.target_name_at)
        targetNameMax = Int(layout.target_name_max); errorNameMax = Int(layout.error_name_max)
    }

    public static let ipv4 = XtablesLayout(weft_xt_layout_ipv4)
    public static let ipv6 = XtablesLayout(weft_xt_layout_ipv6)
}

/// The user-defined chains of one x_tables table, read from IPT_SO_GET_ENTRIES's entries (the
/// kernel's blob, in host byte order). The kernel keeps no list of chains: a user chain begins with
/// an entry whose target is ERROR and whose error name (the target's data) is the chain's name, and
/// the table ends with an ERROR entry named "ERROR" (iptables' libiptc reads chains the same way).
public enum XtablesEntries {
    /// The chains' names in table order. Refuses a blob whose offsets leave it or do not advance.
    public static func userChains(_ entries: [UInt8], layout: XtablesLayout) throws -> [String] {
        var chains: [String] = []
        var offset = 0
        while offset < entries.count {
            guard entries.count - offset >= layout.entrySize else { throw malformed("an entry cut short at byte \(offset)") }
            let next = Int(u16(entries, offset + layout.nextOffsetAt))
            let target = Int(u16(entries, offset + layout.targetOffsetAt))
            guard next >= layout.entrySize, next <= entries.count - offset else { throw malformed("next_offset \(next) at byte \(offset)") }
            guard target >= layout.entrySize, target <= next - layout.targetSize else { throw malformed("target_offset \(target) at byte \(offset)") }
            let targetAt = offset + target
            let name = string(entries, from: targetAt + layout.targetNameAt, max: layout.targetNameMax)
            if name == "ERROR", next - target >= layout.targetSize + layout.errorNameMax {
                let chain = string(entries, from: targetAt + layout.targetSize, max: layout.errorNameMax)
                if chain != "ERROR" { chains.append(chain) }
            }
            offset += next
        }
        return chains
    }

    /// A __u16 as the kernel wrote it: in the host's byte order.
    private static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt16.self) }
    }

    /// A NUL-terminated name in a fixed field of `max` bytes.
    private static func string(_ bytes: [UInt8], from start: Int, max: Int) -> String {
        let field = bytes[start..<min(start + max, bytes.count)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func malformed(_ what: String) -> SystemError {
        SystemError("parse x_tables entries", what, code: .badMessage)
    }
}
