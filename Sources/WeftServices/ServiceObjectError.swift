import Foundation

/// WeftServices' one error: an API object that cannot be read, naming what and the key at fault.
public struct ServiceObjectError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Decoding of the API's JSON (bytes, or the informer's JSONSerialization objects).
public enum ServiceObjectDecoding {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw ServiceObjectError("\(what): \(describe(error))")
        }
    }

    /// From an informer's object; `what` names the kind for the message ("Service default/web").
    public static func decode<T: Decodable>(_ type: T.Type, object: [String: Any], what: String) throws -> T {
        guard JSONSerialization.isValidJSONObject(object) else { throw ServiceObjectError("\(what): not a JSON object") }
        return try decode(type, from: try JSONSerialization.data(withJSONObject: object), what: what)
    }

    /// "spec.ports[0].port: expected a number" (the key path, then why).
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text.isEmpty ? "(the object)" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): null where \(typeName(type)) is required"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is IntOrString.Type: "a number or a string"
        default: "\(type)".hasPrefix("Array") ? "a list" : "an object"
        }
    }
}
