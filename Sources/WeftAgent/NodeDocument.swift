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
