import Foundation
import WeftCNI

/// JSON weftd reads (net-conf, lease values, the API's and etcd's replies) decoded into Codable types,
/// with every failure an AgentError that says what was read and names the key and the value found.
/// Unknown fields are ignored; a field of the wrong type is refused.
enum DecodedJSON {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, _ kind: AgentError.Kind, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw AgentError(kind, "\(what): \(ConfigDecodingError.describe(error, input: data))")
        } catch let duplicate as AnyCaseDuplicateKey {
            throw AgentError(kind, "\(what): \(duplicate.message) (\(duplicate.details))")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String, _ kind: AgentError.Kind, _ what: String) throws -> T {
        try decode(type, from: Data(text.utf8), kind, what)
    }
}
