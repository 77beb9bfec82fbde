/// Upper bounds of what libnftnl writes, in bytes, so NftBatch can make room before it writes: libnftnl
/// checks no buffer length. Each bound counts the strings and data of the model and `fixed` for the rest.
enum NftSize {
    /// nlmsghdr and nfgenmsg.
    static let header = 16 + 4
    static let nest = 4
    /// Every fixed-size attribute of one object besides its strings and data (u32s, nests' headers, an
    /// expression's name): generous, as a bound too low would be a write past the buffer.
    static let fixed = 256
    static func align(_ count: Int) -> Int { (count + 3) & ~3 }
    static func attribute(_ count: Int) -> Int { 4 + align(count) }
    static func string(_ text: String) -> Int { attribute(text.utf8.count + 1) }
    static func strings(_ texts: String...) -> Int { fixed + texts.reduce(0) { $0 + string($1) } }
}

extension NftEncoder {
    /// A rule: its table and chain, comment, and each expression.
    static func bound(_ rule: NftRule, table: String) -> Int {
        NftSize.strings(table, rule.chain) + NftSize.attribute(Comment.encode(rule.comment).count)
            + NftSize.nest + rule.expressions.reduce(0) { $0 + bound($1) }
    }

    /// One expression: list item, name and data nests, a few u32s (fixed), and its strings and data.
    static func bound(_ expression: NftExpression) -> Int {
        switch expression {
        case let .cmp(_, _, data): return NftSize.fixed + NftSize.attribute(data.count)
        case let .bitwise(_, mask, xor): return NftSize.fixed + NftSize.attribute(mask.count) + NftSize.attribute(xor.count)
        case let .lookup(set, _, _), let .verdictMap(set, _): return NftSize.strings(set)
        case let .verdict(.jump(chain)): return NftSize.strings(chain)
        default: return NftSize.fixed
        }
    }

    /// One element of a set: its nest, key, flags, and verdict with its chain.
    static func bound(_ element: NftSetElement) -> Int {
        var size = 64 + NftSize.attribute(element.key.count)
        if case let .jump(chain)? = element.verdict { size += NftSize.string(chain) }
        return size
    }

    /// One element of a map: its nest, key, data and comment (the comment only when added, but always counted).
    static func bound(_ element: NftElement) -> Int {
        64 + NftSize.attribute(element.key.count) + NftSize.attribute(element.value.count) + NftSize.attribute(Comment.encode(element.owner).count)
    }
}
