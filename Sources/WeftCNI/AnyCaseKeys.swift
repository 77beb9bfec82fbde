import FoundationEssentials

/// JSON written by Go programs, or read by them, is matched as Go's encoding/json matches it.
/// Capability arguments are written by Go programs: containerd's and CRI-O's go-cni marshals
/// `runtimeConfig.portMappings` from structs without JSON tags (`{"HostPort":…,"ContainerPort":…}`),
/// and Go plugins read them anyway because encoding/json matches keys without regard to case.
/// Objects decoded through this container do the same: a key matches its field in any case, unknown
/// keys are ignored, and two spellings of one field (`hostPort` and `HostPort`) are refused as a
/// duplicate (`AnyCaseDuplicateKey`), since Go would silently keep the last. flannel's net-conf.json and
/// its lease values (read by flanneld with encoding/json) are decoded through it too.
public struct AnyCaseContainer<Key: CodingKey & CaseIterable> {
    private let container: KeyedDecodingContainer<AnyCodingKey>
    /// The key as spelled in the input, by the field's name.
    private let spelled: [String: AnyCodingKey]

    /// `refusing` turns a duplicate into the caller's error type (WeftCNI's: a CNIError, code 6).
    public init(_ decoder: Decoder, refusing duplicate: (AnyCaseDuplicateKey) -> Error = { $0 }) throws {
        container = try decoder.container(keyedBy: AnyCodingKey.self)
        var spelled: [String: AnyCodingKey] = [:]
        for field in Key.allCases {
            let folded = Self.fold(field.stringValue)
            let matches = container.allKeys.filter { Self.fold($0.stringValue) == folded }
            if matches.count > 1 {
                throw duplicate(
                    AnyCaseDuplicateKey(
                        field: field.stringValue, spellings: matches.map(\.stringValue).sorted(),
                        location: ConfigDecodingError.keyPath(decoder.codingPath)))
            }
            spelled[field.stringValue] = matches.first
        }
        self.spelled = spelled
    }

    /// Case folding as Go's encoding/json applies it, close enough for keys: Unicode lowercase.
    private static func fold(_ key: String) -> String { key.lowercased() }

    public func contains(_ key: Key) -> Bool { spelled[key.stringValue] != nil }

    public func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let actual = spelled[key.stringValue] else { return nil }
        return try container.decodeIfPresent(type, forKey: actual)
    }

    public func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let actual = spelled[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: container.codingPath, debugDescription: "missing"))
        }
        return try container.decode(type, forKey: actual)
    }

    /// An integer, refused by name when it is not one or past `T`'s range (KeyedDecodingContainer's
    /// decodeIntegerIfPresent says why).
    public func decodeIntegerIfPresent<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let actual = spelled[key.stringValue] else { return nil }
        return try container.decodeIntegerIfPresent(type, forKey: actual)
    }
}

extension KeyedDecodingContainer {
    /// An integer of type `T`; nil when the key is absent or null. Foundation's JSONDecoder reports a
    /// number past `T`'s range (a VNI of 4294967296, a code of 1e30) as "not valid JSON" with no key;
    /// read here as exact decimal text first, it is refused as an invalid value of its key, and a
    /// fraction likewise.
    public func decodeIntegerIfPresent<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let literal = try decodeIfPresent(JSONNumberLiteral.self, forKey: key) else { return nil }
        switch literal {
        case .number(let text):
            guard let value = T(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: "\(text) is not a \(T.self)"))
            }
            return value
        case .unrepresentable:
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: "a number beyond 1.8e308"))
        case .other:
            throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath + [key], debugDescription: "not a number"))
        }
    }
}

/// One field spelled twice in an object decoded through AnyCaseContainer (`hostPort` and `HostPort`).
/// Each layer turns it into its own error type with `message` and `details`.
public struct AnyCaseDuplicateKey: Error, Equatable, Sendable {
    public let field: String
    /// The spellings found, sorted.
    public let spellings: [String]
    /// The path of the object holding them ("" at the top).
    public let location: String

    public var message: String { "key \"\(field)\" appears twice\(location.isEmpty ? "" : " in \(location)")" }
    public var details: String {
        "spelled " + spellings.map { "\"\(Validation.printable($0))\"" }.joined(separator: " and ")
            + "; keys are matched without regard to case, as Go's encoding/json does"
    }
}

/// Any key, as the input spells it.
public struct AnyCodingKey: CodingKey {
    public let stringValue: String
    public let intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    public init(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

extension CNIError {
    /// A key spelled twice, as the plugin reports it.
    static func duplicate(_ duplicate: AnyCaseDuplicateKey) -> Error {
        CNIError(.decodeFailure, duplicate.message, details: duplicate.details)
    }
}
