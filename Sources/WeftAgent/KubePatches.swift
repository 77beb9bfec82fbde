import Foundation

/// What weftd writes to Node objects, encoded by JSONEncoder: the merge patch of the annotations a
/// kube subnet manager publishes, and the strategic-merge patch of the NetworkUnavailable condition.
public struct NodeAnnotationPatch: Encodable, Equatable, Sendable {
    public struct Metadata: Encodable, Equatable, Sendable {
        public var annotations: [String: String]
    }
    public var metadata: Metadata

    public init(annotations: [String: String]) { metadata = Metadata(annotations: annotations) }
}

public struct NodeConditionPatch: Encodable, Equatable, Sendable {
    /// One entry of a Node's status.conditions.
    public struct Condition: Encodable, Equatable, Sendable {
        public var type: String
        public var status: String
        public var reason: String
        public var message: String
        public var lastTransitionTime: String
        public var lastHeartbeatTime: String
    }
    public struct Status: Encodable, Equatable, Sendable {
        public var conditions: [Condition]
    }
    public var status: Status

    public init(_ condition: Condition) { status = Status(conditions: [condition]) }
}

/// vxlan's BackendData as a Node annotation (and a lease value) holds it, in Go's field order (which
/// sorted keys give): `{"VNI":1,"VtepMAC":"0e:57:0a:4d:00:0b"}`.
struct VxlanBackendAnnotation: Encodable {
    var VNI: UInt32
    var VtepMAC: String

    /// Throws rather than write "null": a node whose backend-data reads null is a host-gw node to its peers.
    func text() throws(AgentError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try GoOrderedJSON.text(self, encoder, "BackendData")
    }
}
