import Foundation

/// A JSON object with its keys in a given order, each key and value written by JSONEncoder. Go's
/// json.Marshal writes a struct's fields in declaration order, JSONEncoder in none (or sorted), so
/// writing flanneld's exact bytes (a lease value) takes the order from here. A member JSONEncoder
/// refuses (a NaN, an encoder's own error) fails the whole object: a lease or annotation with a
/// member written as `null` in its place would tell the other nodes something this node never said.
enum GoOrderedJSON {
    static func object(_ members: [(key: String, value: any Encodable)]) throws(AgentError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fields: [String] = []
        for member in members {
            fields.append("\(try text(member.key, encoder, member.key)):\(try text(member.value, encoder, member.key))")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// One value as JSONEncoder writes it; `key` names the member in the error.
    static func text(_ value: any Encodable, _ encoder: JSONEncoder, _ key: String) throws(AgentError) -> String {
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw AgentError(.engine, "cannot encode \(key) as JSON: \(error)")
        }
    }
}
