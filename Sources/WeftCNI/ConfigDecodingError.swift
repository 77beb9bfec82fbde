import FoundationEssentials

/// Turns Foundation's decoding errors into messages that name the key and the value found: CNI errors
/// here, and (through `describe`) weftd's errors for the JSON it reads.
public enum ConfigDecodingError {
    static func translate(_ error: DecodingError, input: Data) -> CNIError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return CNIError(.decodeFailure, "network config on stdin is not valid JSON", details: underlyingText(context))
        case .typeMismatch(_, let context) where context.codingPath.isEmpty,
            .valueNotFound(_, let context) where context.codingPath.isEmpty:
            return CNIError(
                .decodeFailure, "network config on stdin is not a JSON object",
                details: "found \(rawValueText(at: [], in: input))")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let key = keyPath(context.codingPath)
            return CNIError(.invalidConfig, "\(key) must be \(typeName(type)), found \(rawValueText(at: context.codingPath, in: input))")
        case .keyNotFound(let key, let context):
            return CNIError(.invalidConfig, "\(keyPath(context.codingPath + [key])) is missing")
        case .dataCorrupted(let context):
            return CNIError(.invalidConfig, "\(keyPath(context.codingPath)) has an invalid value \(rawValueText(at: context.codingPath, in: input))")
        @unknown default:
            return CNIError(.decodeFailure, "network config could not be decoded", details: "\(error)")
        }
    }

    /// The error in words, naming the key and the value found in `input` ("SubnetLen must be an
    /// integer, found \"24\""); each layer wraps it in its own error type. Without `input` (YAML, which
    /// this cannot index) the value is left out.
    public static func describe(_ error: DecodingError, input: Data?) -> String {
        func found(_ path: [CodingKey]) -> String { input.map { ", found \(rawValueText(at: path, in: $0))" } ?? "" }
        func value(_ path: [CodingKey]) -> String { input.map { " \(rawValueText(at: path, in: $0))" } ?? "" }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "not valid \(input == nil ? "YAML" : "JSON") (\(underlyingText(context)))"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let key = keyPath(context.codingPath)
            // Without the input (YAML) the type asked for is the decoder's own, not the field's.
            guard input != nil else { return "\(key.isEmpty ? "the document" : key) is of the wrong type (\(context.debugDescription))" }
            return "\(key.isEmpty ? "the document" : key) must be \(typeName(type))\(found(context.codingPath))"
        case .keyNotFound(let key, let context):
            return "\(keyPath(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            return "\(keyPath(context.codingPath)) has an invalid value\(value(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }

    private static func underlyingText(_ context: DecodingError.Context) -> String {
        context.underlyingError.map { "\($0)" } ?? context.debugDescription
    }

    static func keyPath(_ path: [CodingKey]) -> String {
        path.reduce("") { text, key in
            if let index = key.intValue { return "\(text)[\(index)]" }
            return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: return "a boolean"
        case is any FixedWidthInteger.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        default: return String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    /// The JSON text found at `path`, for the error message.
    private static func rawValueText(at path: [CodingKey], in input: Data) -> String {
        guard var value = try? JSONDecoder().decode(JSONValue.self, from: input) else { return "invalid JSON" }
        for key in path {
            guard let next = value.child(key) else { return "nothing" }
            value = next
        }
        return Validation.printable(value.text)
    }
}

/// Any JSON value, decoded only to quote what a config held at a key.
indirect enum JSONValue: Decodable {
    case null, bool(Bool), number(String), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? container.decode(Int.self) {
            self = .number(String(integer))
        } else if let number = try? container.decode(Double.self) {
            self = .number(String(number))
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let items = try? container.decode([JSONValue].self) {
            self = .array(items)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func child(_ key: CodingKey) -> JSONValue? {
        switch self {
        case .array(let items): return key.intValue.flatMap { items.indices.contains($0) ? items[$0] : nil }
        case .object(let members): return members[key.stringValue]
        default: return nil
        }
    }

    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let flag): return String(flag)
        case .number(let number): return number
        case .string(let string):
            let quoted = (try? JSONEncoder().encode(string)).map { String(decoding: $0, as: UTF8.self) }
            return quoted ?? "\"\(string)\""
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.keys.sorted().map { "\"\($0)\":\(members[$0]?.text ?? "")" }.joined(separator: ",") + "}"
        }
    }
}
