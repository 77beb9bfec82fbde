import Foundation
import WeftAddress
import WeftJSON
import WeftKube

/// A Kubernetes Node as flannel's kube subnet manager reads it: `spec.podCIDR(s)` is the lease,
/// annotations carry what etcd's lease value carries.
public struct KubeNode: Equatable, Sendable {
    public enum Annotation {
        public static let backendType = "flannel.alpha.coreos.com/backend-type"
        public static let backendData = "flannel.alpha.coreos.com/backend-data"
        public static let publicIP = "flannel.alpha.coreos.com/public-ip"
        public static let backendV6Data = "flannel.alpha.coreos.com/backend-v6-data"
        public static let publicIPv6 = "flannel.alpha.coreos.com/public-ipv6"
        /// "true" on nodes whose annotations a kube subnet manager (flanneld or weftd) wrote.
        public static let kubeSubnetManager = "flannel.alpha.coreos.com/kube-subnet-manager"
    }

    public let name: String
    public let resourceVersion: String
    /// The IPv4 pod CIDR: spec.podCIDRs' IPv4 entry, else spec.podCIDR.
    public let podCIDR: IPNetwork?
    /// The IPv6 pod CIDR of a dual-stack node: spec.podCIDRs' IPv6 entry.
    public let ipv6PodCIDR: IPNetwork?
    public let annotations: [String: String]

    init(_ node: NodeDocument) {
        name = node.metadata.name
        resourceVersion = node.metadata.resourceVersion ?? ""
        annotations = node.metadata.annotations ?? [:]
        let cidrs = (node.spec?.podCIDRs ?? []) + [node.spec?.podCIDR].compactMap { $0 }
        podCIDR = cidrs.lazy.compactMap { IPNetwork($0) }.first { $0.family == .v4 }?.canonical
        ipv6PodCIDR = cidrs.lazy.compactMap { IPNetwork($0) }.first { $0.family == .v6 }?.canonical
    }

    /// A Node as the API sent it; an error naming the field when one has the wrong type or the name is missing.
    public static func decode(_ data: Data) throws -> KubeNode {
        KubeNode(try DecodedJSON.decode(NodeDocument.self, from: data, "Node") { AgentError(.kubeAPI, $0) })
    }

    /// A Node the Informer delivered (JSONSerialization's objects, as PolicyAgent's kinds still are),
    /// read through the same Codable type; nil when it cannot be read.
    public init?(json object: Any?) {
        guard let object, JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object), let node = try? Self.decode(data)
        else { return nil }
        self = node
    }

    /// The lease this node publishes, when a kube subnet manager annotated it (flannel skips others).
    public var lease: SubnetLease? {
        guard let podCIDR, annotations[Annotation.kubeSubnetManager] == "true",
            let ipText = annotations[Annotation.publicIP], let publicIP = IPAddress(ipText), publicIP.isIPv4
        else { return nil }
        var attributes = LeaseAttributes(publicIP: publicIP, backendType: annotations[Annotation.backendType] ?? "")
        // An annotation that is not BackendData's JSON leaves the device unknown, as flannel's "null".
        if let backend = Self.backendData(annotations[Annotation.backendData]) {
            attributes.vni = backend.vni
            attributes.vtepMAC = backend.vtepMAC.flatMap(MAC.parse)
        }
        if let text = annotations[Annotation.publicIPv6], let address = IPAddress(text), address.family == .v6 {
            attributes.publicIPv6 = address
            attributes.ipv6VtepMAC = Self.backendData(annotations[Annotation.backendV6Data])?.vtepMAC.flatMap(MAC.parse)
        }
        return SubnetLease(subnet: podCIDR, ipv6Subnet: attributes.publicIPv6 == nil ? nil : ipv6PodCIDR, attributes: attributes)
    }

    static func backendData(_ text: String?) -> VxlanBackendData? {
        guard let text else { return nil }
        return (try? DecodedJSON.decode(VxlanBackendData?.self, from: text, "backend-data") { AgentError(.engine, $0) }) ?? nil
    }

    /// The merge patch that publishes `attributes` on a node, as flanneld writes them: backend-data
    /// is the BackendData JSON ("null" for host-gw); a dual-stack node adds public-ipv6 and backend-v6-data.
    public static func annotationPatch(_ attributes: LeaseAttributes) throws(AgentError) -> NodeAnnotationPatch {
        func backendData(_ mac: [UInt8]?) throws(AgentError) -> String {
            guard let vni = attributes.vni, let mac else { return "null" }
            return try VxlanBackendAnnotation(VNI: vni, VtepMAC: MAC.text(mac)).text()
        }
        var annotations = [
            Annotation.backendType: attributes.backendType,
            Annotation.backendData: try backendData(attributes.vtepMAC),
            Annotation.publicIP: "\(attributes.publicIP)",
            Annotation.kubeSubnetManager: "true",
        ]
        if let publicIPv6 = attributes.publicIPv6 {
            annotations[Annotation.publicIPv6] = "\(publicIPv6)"
            annotations[Annotation.backendV6Data] = try backendData(attributes.ipv6VtepMAC)
        }
        return NodeAnnotationPatch(annotations: annotations)
    }

    /// One line of a Node watch: ADDED/MODIFIED/DELETED with the node, BOOKMARK with a new
    /// resourceVersion only, ERROR with a Status (410 Gone: the resourceVersion is too old, list again).
    public static func watchEvent(_ line: Data) throws -> (type: String, node: KubeNode?) {
        let event = try DecodedJSON.decode(NodeWatchEvent.self, from: line, "node watch") { AgentError(.engine, $0) }
        if let status = event.status { throw AgentError(.engine, "node watch: \(status.summary)") }
        return (event.type, event.node.map(KubeNode.init))
    }
}
