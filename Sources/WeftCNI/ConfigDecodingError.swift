import Foundation

/// Turns Foundation's decoding errors into CNI errors whose message names the key and the value found.
enum ConfigDecodingError {
    static func translate(_ error: DecodingError, input: Data) -> CNIError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return CNIError(.decodeFailure, "network config on stdin is not valid JSON", details: underlyingText(context))
        case .typeMismatch(_, let context) where context.codingPath.isEmpty,
             .valueNotFound(_, let context) where context.codingPath.isEmpty:
            return CNIError(.decodeFailure, "network config on stdin is not a JSON object",
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

    private static func underlyingText(_ context: DecodingError.Context) -> String {
        if let underlying = context.underlyingError as NSError? {
            return underlying.userInfo[NSDebugDescriptionErrorKey] as? String ?? underlying.localizedDescription
        }
        return context.debugDescription
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
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        default: return String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    /// The JSON text found at `path`, for the error message.
    private static func rawValueText(at path: [CodingKey], in input: Data) -> String {
        guard var value = try? JSONSerialization.jsonObject(with: input, options: [.fragmentsAllowed]) else { return "invalid JSON" }
        for key in path {
            if let index = key.intValue, let array = value as? [Any], array.indices.contains(index) {
                value = array[index]
            } else if let object = value as? [String: Any], let next = object[key.stringValue] {
                value = next
            } else {
                return "nothing"
            }
        }
        if value is NSNull { return "null" }
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]),
              var text = String(data: data, encoding: .utf8)
        else { return "\(value)" }
        text.removeFirst(); text.removeLast()
        return Validation.printable(text)
    }
}
