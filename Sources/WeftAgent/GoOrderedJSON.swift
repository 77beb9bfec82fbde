import Foundation

/// A JSON object with its keys in a given order, each key and value written by JSONEncoder. Go's
/// json.Marshal writes a struct's fields in declaration order, JSONEncoder in none (or sorted), so
/// writing flanneld's exact bytes (a lease value) takes the order from here.
enum GoOrderedJSON {
    static func object(_ members: [(key: String, value: any Encodable)]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func text(_ value: any Encodable) -> String {
            (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
        return "{" + members.map { "\(text($0.key)):\(text($0.value))" }.joined(separator: ",") + "}"
    }
}
