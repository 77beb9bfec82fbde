import FoundationEssentials

/// Capability arguments are written by Go programs: containerd's and CRI-O's go-cni marshals
/// `runtimeConfig.portMappings` from structs without JSON tags (`{"HostPort":…,"ContainerPort":…}`),
/// and Go plugins read them anyway because encoding/json matches keys without regard to case.
/// Objects decoded through this container do the same: a key matches its field in any case, unknown
/// keys are ignored, and two spellings of one field (`hostPort` and `HostPort`) are refused as a
/// duplicate, since Go would silently keep the last.
struct AnyCaseContainer<Key: CodingKey & CaseIterable> {
    private let container: KeyedDecodingContainer<AnyCodingKey>
    /// The key as spelled in the input, by the field's name.
    private let spelled: [String: AnyCodingKey]

    init(_ decoder: Decoder) throws {
        container = try decoder.container(keyedBy: AnyCodingKey.self)
        var spelled: [String: AnyCodingKey] = [:]
        for field in Key.allCases {
            let folded = Self.fold(field.stringValue)
            let matches = container.allKeys.filter { Self.fold($0.stringValue) == folded }
            if matches.count > 1 {
                let location = ConfigDecodingError.keyPath(decoder.codingPath)
                throw CNIError(.decodeFailure,
                               "key \"\(field.stringValue)\" appears twice\(location.isEmpty ? "" : " in \(location)")",
                               details: "spelled " + matches.map(\.stringValue).sorted().map { "\"\(Validation.printable($0))\"" }.joined(separator: " and ")
                                   + "; keys are matched without regard to case, as Go's encoding/json does")
            }
            spelled[field.stringValue] = matches.first
        }
        self.spelled = spelled
    }

    /// Case folding as Go's encoding/json applies it, close enough for keys: Unicode lowercase.
    private static func fold(_ key: String) -> String { key.lowercased() }

    func contains(_ key: Key) -> Bool { spelled[key.stringValue] != nil }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let actual = spelled[key.stringValue] else { return nil }
        return try container.decodeIfPresent(type, forKey: actual)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let actual = spelled[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: container.codingPath, debugDescription: "missing"))
        }
        return try container.decode(type, forKey: actual)
    }
}

/// Any key, as the input spells it.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}
