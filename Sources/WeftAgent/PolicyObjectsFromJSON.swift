import Foundation
import WeftPolicy

// The policy objects from JSONSerialization's values (the Informer's objects, a YAML file's), here and
// not in WeftPolicy: JSONSerialization is in Foundation, not FoundationEssentials, and WeftPolicy is
// linked into the CNI plugin, which then carried Foundation's internationalization half and ICU (the
// binary 30 MB → 80 MB).

extension PolicyAPIObject {
    /// `object` as JSON bytes; something JSON cannot hold reads as no object (decoding it throws).
    public init(_ object: Any) {
        let data = JSONSerialization.isValidJSONObject(object) ? try? JSONSerialization.data(withJSONObject: object) : nil
        self.init(data: data)
    }
}

extension PolicyNamespace {
    /// From the API's object (PolicyAPIObject.decode).
    public init(json: Any) throws { self = try PolicyAPIObject(json).decode(Self.self, kind: "Namespace") }
}

extension PolicyPod {
    /// From the API's object (PolicyAPIObject.decode).
    public init(json: Any) throws { self = try PolicyAPIObject(json).decode(Self.self, kind: "Pod") }
}

extension NetworkPolicy {
    /// From the API's object (PolicyAPIObject.decode).
    public init(json: Any) throws { self = try PolicyAPIObject(json).decode(Self.self, kind: "NetworkPolicy") }

    public static func unreadable(json: Any) -> NetworkPolicy? { unreadable(PolicyAPIObject(json)) }
}
