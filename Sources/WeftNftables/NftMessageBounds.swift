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

extension NftSize {
    /// A rule: its table and chain, comment, and each expression.
    static func bound(_ rule: NftRule, table: String) -> Int {
        strings(table, rule.chain) + attribute(NftComment.encode(rule.comment).count) + nest + rule.expressions.reduce(0) { $0 + bound($1) }
    }

    /// One expression: list item, name and data nests, a few u32s (fixed), and its strings and data.
    static func bound(_ expression: NftExpression) -> Int {
        switch expression {
        case let .cmp(_, _, data): return fixed + attribute(data.count)
        case let .bitwise(_, mask, xor), let .bitwiseBool(_, mask, xor): return fixed + attribute(mask.count) + attribute(xor.count)
        case let .lookup(set, _, _), let .verdictMap(set, _): return strings(set)
        case let .verdict(.jump(chain)), let .verdict(.goto(chain)): return strings(chain)
        case let .immediate(_, data): return fixed + attribute(data.count)
        case let .dynsetUpdate(set, _): return strings(set)
        // The lookup of the anonymous map; its set and elements are messages of their own.
        case .anonymousVerdictMap: return strings("__map%d")
        default: return fixed
        }
    }

    /// One element: its nest, key, flags, verdict with its chain, data and comment (counted whether or
    /// not the message carries them: a delete leaves data and comment out).
    static func bound(_ element: NftSetElement) -> Int {
        var size = 64 + attribute(element.key.count)
        if case let .jump(chain)? = element.verdict { size += string(chain) }
        if case let .goto(chain)? = element.verdict { size += string(chain) }
        if !element.data.isEmpty { size += attribute(element.data.count) }
        if !element.comment.isEmpty { size += attribute(NftComment.encode(element.comment).count) }
        return size
    }
}
