/// The API's endpoint objects, as a Service proxy reads them: EndpointSlice in `discovery.k8s.io/v1`
/// (1.21+: `nodeName`) and `v1beta1` (1.16–1.24: the node in `topology["kubernetes.io/hostname"]`),
/// decoded by one type, and core/v1 Endpoints, the fallback where the server serves no EndpointSlice.
/// Unknown fields are ignored; a field of the wrong type is refused naming its key.
public struct EndpointSliceObject: Codable, Hashable, Sendable {
    public struct Metadata: Codable, Hashable, Sendable {
        public var name: String
        public var namespace: String?
        public var resourceVersion: String?
        public var labels: [String: String]?
    }

    public struct Conditions: Codable, Hashable, Sendable {
        /// nil is "ready" (the API's documented reading of an unknown state).
        public var ready: Bool?
        public var serving: Bool?
        public var terminating: Bool?
    }

    public struct Endpoint: Codable, Hashable, Sendable {
        public var addresses: [String]
        public var conditions: Conditions?
        /// v1 (and v1beta1 from 1.20 behind a gate).
        public var nodeName: String?
        /// v1beta1: `kubernetes.io/hostname` names the node.
        public var topology: [String: String]?
        public var hostname: String?

        /// The endpoint's node, from either version's field.
        public var node: String? { nodeName ?? topology?["kubernetes.io/hostname"] }
    }

    public struct Port: Codable, Hashable, Sendable {
        public var name: String?
        public var port: Int?
        public var `protocol`: String?
    }

    public var metadata: Metadata
    /// "IPv4", "IPv6" or "FQDN" (not served: kube-proxy ignores FQDN slices too).
    public var addressType: String
    public var endpoints: [Endpoint]?
    public var ports: [Port]?

    /// The label naming the Service a slice belongs to.
    public static let serviceNameLabel = "kubernetes.io/service-name"

    /// "namespace/name" of the slice's Service; nil when the label is missing (such a slice serves nothing).
    public var serviceKey: String? {
        metadata.labels?[Self.serviceNameLabel].map { "\(metadata.namespace ?? "default")/\($0)" }
    }

    public var key: String { "\(metadata.namespace ?? "default")/\(metadata.name)" }
}

/// core/v1 Endpoints: named as its Service, subsets of addresses (ready) and notReadyAddresses with ports.
public struct EndpointsObject: Codable, Hashable, Sendable {
    public struct Metadata: Codable, Hashable, Sendable {
        public var name: String
        public var namespace: String?
        public var resourceVersion: String?
    }

    public struct Address: Codable, Hashable, Sendable {
        public var ip: String
        public var nodeName: String?
        public var hostname: String?
    }

    public struct Port: Codable, Hashable, Sendable {
        public var name: String?
        public var port: Int
        public var `protocol`: String?
    }

    public struct Subset: Codable, Hashable, Sendable {
        public var addresses: [Address]?
        public var notReadyAddresses: [Address]?
        public var ports: [Port]?
    }

    public var metadata: Metadata
    public var subsets: [Subset]?

    /// Its Service's "namespace/name" (an Endpoints object is named as its Service).
    public var key: String { "\(metadata.namespace ?? "default")/\(metadata.name)" }

    /// The same endpoints as slices (one per subset and family), so the planner reads one shape. The
    /// not-ready addresses are carried with ready = false: the planner leaves them out as for slices.
    public var slices: [EndpointSliceObject] {
        var slices: [EndpointSliceObject] = []
        for (index, subset) in (subsets ?? []).enumerated() {
            let ports = (subset.ports ?? []).map { EndpointSliceObject.Port(name: $0.name, port: $0.port, protocol: $0.protocol) }
            let all =
                (subset.addresses ?? []).map { ($0, true) } + (subset.notReadyAddresses ?? []).map { ($0, false) }
            for family in ["IPv4", "IPv6"] {
                let endpoints = all.filter { ($0.0.ip.contains(":") ? "IPv6" : "IPv4") == family }.map { address, ready in
                    EndpointSliceObject.Endpoint(
                        addresses: [address.ip], conditions: .init(ready: ready, serving: ready, terminating: nil), nodeName: address.nodeName,
                        topology: nil, hostname: address.hostname)
                }
                guard !endpoints.isEmpty else { continue }
                slices.append(
                    EndpointSliceObject(
                        metadata: .init(
                            name: "\(metadata.name)-subset\(index)-\(family)", namespace: metadata.namespace, resourceVersion: metadata.resourceVersion,
                            labels: [EndpointSliceObject.serviceNameLabel: metadata.name]),
                        addressType: family, endpoints: endpoints, ports: ports))
            }
        }
        return slices
    }
}
