import FoundationEssentials
import WeftAddress

/// One object from the API (an informer's JSONSerialization object, or a YAML file's value) as the JSON
/// bytes WeftPolicy's Decodable values read, with its name read on its own: an object that cannot be
/// decoded is still known by its name (to be forgotten, reported, or isolated by).
public struct PolicyAPIObject: Sendable {
    /// nil: not something JSON can hold (decoding it throws).
    let data: Data?
    /// `metadata.name` and `metadata.namespace`, each nil when absent or not a string.
    public let name: String?
    public let namespace: String?

    public init(data: Data?) {
        self.data = data
        let names = data.flatMap { try? JSONDecoder().decode(Names.self, from: $0) }
        name = names?.metadata?.name?.value
        namespace = names?.metadata?.namespace?.value
    }

    /// "namespace/name" of a namespaced object (a Pod's or a NetworkPolicy's), nil without both.
    public var key: String? { namespace.flatMap { namespace in name.map { "\(namespace)/\($0)" } } }

    /// The object as `type`; a field of the wrong type, or a value the type refuses, throws a
    /// PolicyError naming the object ("NetworkPolicy prod/web") and the key path ("spec.ingress[0].ports[1].port").
    public func decode<T: Decodable>(_ type: T.Type, kind: String) throws -> T {
        let what = "\(kind) \(kind == "Namespace" ? name ?? "(no name)" : key ?? "(no name)")"
        guard let data else { throw PolicyError(what, "(the object)", "not a JSON object") }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            let (path, problem) = Self.describe(error)
            throw PolicyError(what, path, problem)
        }
    }

    /// The addresses a Pod weftd cannot read may still hold on `node`: its `status.podIPs` and
    /// `status.podIP`, each read on its own (one that is not an address is left out). None when its
    /// `spec.hostNetwork` reads true (those are the node's) or its `spec.nodeName` reads as another node;
    /// an unreadable node name or hostNetwork counts as possibly this node's pod (isolated: never open).
    public func podAddressesPossiblyOn(node: String) -> Set<IPAddress> {
        guard let pod = decodeIfPossible(LenientPod.self) else { return [] }
        let spec = pod.spec?.value, status = pod.status?.value
        if spec?.hostNetwork?.value == true { return [] }
        if let name = spec?.nodeName?.value, name != node { return [] }
        let texts = [status?.podIP?.value] + (status?.podIPs?.value ?? []).map { $0.value?.ip?.value }
        return Set(texts.compactMap { $0.flatMap(IPAddress.init) })
    }

    private struct LenientPod: Decodable {
        struct Spec: Decodable {
            let nodeName: Lenient<String>?
            let hostNetwork: Lenient<Bool>?
        }
        struct Status: Decodable {
            struct Entry: Decodable { let ip: Lenient<String>? }
            let podIP: Lenient<String>?
            let podIPs: Lenient<[Lenient<Entry>]>?
        }
        let spec: Lenient<Spec>?
        let status: Lenient<Status>?
    }

    /// The object as `type` when it can be read so, else nil (a type of lenient parts reads what it can).
    func decodeIfPossible<T: Decodable>(_ type: T.Type) -> T? { data.flatMap { try? JSONDecoder().decode(type, from: $0) } }

    private struct Names: Decodable {
        struct Metadata: Decodable {
            let name: Lenient<String>?
            let namespace: Lenient<String>?
        }
        let metadata: Metadata?
    }

    /// The key path ("spec.ingress[0].from[1]") and why. Mirrors WeftServices' ServiceObjectDecoding
    /// (WeftPolicy does not depend on WeftServices), with PolicyError's parts.
    static func describe(_ error: DecodingError) -> (path: String, problem: String) {
        func path(_ codingPath: [CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text.isEmpty ? "(the object)" : text
        }
        switch error {
        case .typeMismatch(let type, let context): return (path(context.codingPath), "expected \(typeName(type))")
        case .valueNotFound(let type, let context): return (path(context.codingPath), "null where \(typeName(type)) is required")
        case .keyNotFound(let key, let context): return (path(context.codingPath + [key]), "missing")
        case .dataCorrupted(let context): return (path(context.codingPath), context.debugDescription)
        @unknown default: return ("(the object)", "\(error)")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)".hasPrefix("Array") ? "a list" : "an object"
        }
    }
}

/// A value read if it can be, else nil (what is read of an object that cannot be read whole).
struct Lenient<Value: Decodable>: Decodable {
    let value: Value?

    init(from decoder: Decoder) throws { value = try? decoder.singleValueContainer().decode(Value.self) }
}

/// An element of a coding path: a list's index, or a key named at run time.
struct PathKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(_ index: Int) { stringValue = "\(index)"; intValue = index }
    init?(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init?(intValue: Int) { self.init(intValue) }
}

/// A value the API's schema allows but this layer refuses (a CIDR that is not one, an unknown
/// operator), named by its key path like the decoder's own errors.
func refused(_ codingPath: [CodingKey], _ problem: String) -> DecodingError {
    .dataCorrupted(DecodingError.Context(codingPath: codingPath, debugDescription: problem))
}

/// `metadata` as the three kinds use it.
struct ObjectMetadata: Decodable {
    let name: String
    let namespace: String?
    let labels: [String: String]?
    let uid: String?
    /// Being deleted: its presence is what counts.
    let deletionTimestamp: Lenient<String>?
}
