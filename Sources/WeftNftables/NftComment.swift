/// Element comments in nft's own user-data format (type 0 = comment, length, NUL-terminated text),
/// so `nft list` shows them as `comment "weft/…"`.
enum NftComment {
    static func encode(_ text: String) -> [UInt8] {
        let value = Array(text.utf8.prefix(200)) + [0]
        return [0, UInt8(value.count)] + value
    }

    static func decode(_ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset + 2 <= bytes.count {
            let type = bytes[offset], length = Int(bytes[offset + 1])
            guard offset + 2 + length <= bytes.count else { return nil }
            if type == 0 {
                return String(decoding: bytes[(offset + 2)..<(offset + 2 + length)].prefix { $0 != 0 }, as: UTF8.self)
            }
            offset += 2 + length
        }
        return nil
    }
}
