import FoundationEssentials

/// The CNI protocol's error: what the plugin prints on stdout, with a non-zero exit.
/// Codes below 100 are the spec's; 100 and above are Weft's own (README "Error codes").
public struct CNIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var msg: String
    public var details: String

    public init(_ code: Code, _ msg: String, details: String = "") {
        self.code = code.rawValue
        self.msg = msg
        self.details = details
    }

    public var description: String { details.isEmpty ? "[\(code)] \(msg)" : "[\(code)] \(msg): \(details)" }

    public enum Code: Int, Sendable {
        case incompatibleVersion = 1
        case unsupportedField = 2
        case unknownContainer = 3
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodeFailure = 6
        case invalidConfig = 7
        case tryAgainLater = 11
        case unavailable = 50
        case unavailableDegraded = 51
        /// The kernel refused a netlink request.
        case datapathFailure = 100
        /// The node holds something that conflicts with the request (an existing interface, a bridge with another address).
        case nodeConflict = 101
        /// CHECK found the attachment differs from its result.
        case checkFailed = 102
    }

    /// The JSON object the spec defines for errors.
    public func json(cniVersion: String) -> Data {
        struct Wire: Encodable {
            let cniVersion: String
            let code: Int
            let msg: String
            let details: String?
        }
        let wire = Wire(cniVersion: cniVersion, code: code, msg: msg, details: details.isEmpty ? nil : details)
        return JSONOutput.encode(wire)
    }
}

enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of strings and numbers cannot fail; fall back to an empty object.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
