import WeftKube
/// A Kubernetes Node as the API writes it, the parts flannel's kube subnet manager reads: its name,
/// resourceVersion and annotations, and spec.podCIDR(s). Unknown fields (status, labels, taints) are
/// ignored; a field of the wrong type is refused, naming it.
struct NodeDocument: Decodable {
    struct Metadata: Decodable {
        var name: String
        var resourceVersion: String?
        var annotations: [String: String]?
    }

    struct Spec: Decodable {
        var podCIDR: String?
        var podCIDRs: [String]?
    }

    var metadata: Metadata
    var spec: Spec?
}

/// One line of a Node watch: its type and its object, a Node (none for BOOKMARK, whose object holds
/// only a resourceVersion) or, for ERROR, a Status.
struct NodeWatchEvent: Decodable {
    var type: String
    var node: NodeDocument?
    var status: KubeStatus?

    enum CodingKeys: String, CodingKey { case type, object }

    init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        type = try fields.decode(String.self, forKey: .type)
        switch type {
        case "ERROR": status = try fields.decode(KubeStatus.self, forKey: .object)
        case "BOOKMARK": break
        default: node = try fields.decode(NodeDocument.self, forKey: .object)
        }
    }
}
