import Foundation
import WeftCNI

/// JSON weftd reads (net-conf, lease values, the API's and etcd's replies) decoded into Codable types,
/// with every failure the caller's own error (`failure`), given a message that says what was read and
/// names the key and the value found. Unknown fields are ignored; a field of the wrong type is refused.
public enum DecodedJSON {
    public static func decode<T: Decodable>(
        _ type: T.Type, from data: Data, _ what: String, failure: (String) -> any Error
    ) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw failure("\(what): \(ConfigDecodingError.describe(error, input: data))")
        } catch let duplicate as AnyCaseDuplicateKey {
            throw failure("\(what): \(duplicate.message) (\(duplicate.details))")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String, _ what: String, failure: (String) -> any Error) throws -> T {
        try decode(type, from: Data(text.utf8), what, failure: failure)
    }
}
