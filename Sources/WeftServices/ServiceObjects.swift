import Foundation

/// The Kubernetes API's Service (core/v1), the fields a Service proxy reads. Unknown fields are ignored;
/// a field of the wrong type is refused naming its key (ServiceObjectError.decoding). Values are kept
/// as the API wrote them (addresses as text): ServicePlanner judges them.
public struct ServiceObject: Codable, Hashable, Sendable {
    public struct Metadata: Codable, Hashable, Sendable {
        public var name: String
        public var namespace: String?
        public var resourceVersion: String?
        public var labels: [String: String]?
    }

    public struct Port: Codable, Hashable, Sendable {
        public var name: String?
        /// "TCP" (the API's default), "UDP" or "SCTP".
        public var `protocol`: String?
        public var port: Int
        /// A number, or the name of a container port (resolved per EndpointSlice port by name).
        public var targetPort: IntOrString?
        public var nodePort: Int?
    }

    public struct ClientIPConfig: Codable, Hashable, Sendable {
        public var timeoutSeconds: Int?
    }

    public struct SessionAffinityConfig: Codable, Hashable, Sendable {
        public var clientIP: ClientIPConfig?
    }

    public struct Spec: Codable, Hashable, Sendable {
        /// "ClusterIP" (default), "NodePort", "LoadBalancer" or "ExternalName".
        public var type: String?
        /// "None" for a headless Service.
        public var clusterIP: String?
        /// One per family, the first equal to clusterIP (1.20 with the IPv6DualStack gate, GA in 1.23).
        public var clusterIPs: [String]?
        public var ipFamilies: [String]?
        public var ports: [Port]?
        public var externalIPs: [String]?
        public var loadBalancerSourceRanges: [String]?
        /// "None" (default) or "ClientIP".
        public var sessionAffinity: String?
        public var sessionAffinityConfig: SessionAffinityConfig?
        /// "Cluster" (default) or "Local".
        public var externalTrafficPolicy: String?
        /// "Cluster" (default) or "Local"; from 1.21.
        public var internalTrafficPolicy: String?
        public var healthCheckNodePort: Int?
        public var externalName: String?
    }

    public struct LoadBalancerIngress: Codable, Hashable, Sendable {
        public var ip: String?
        public var hostname: String?
    }

    public struct LoadBalancerStatus: Codable, Hashable, Sendable {
        public var ingress: [LoadBalancerIngress]?
    }

    public struct Status: Codable, Hashable, Sendable {
        public var loadBalancer: LoadBalancerStatus?
    }

    public var metadata: Metadata
    public var spec: Spec?
    public var status: Status?

    /// "namespace/name".
    public var key: String { "\(metadata.namespace ?? "default")/\(metadata.name)" }
}

/// A port number or a port's name, as `targetPort` holds it (intstr.IntOrString).
public enum IntOrString: Codable, Hashable, Sendable {
    case number(Int)
    case name(String)

    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let number = try? value.decode(Int.self) {
            self = .number(number)
        } else if let name = try? value.decode(String.self) {
            // The API writes a numeric targetPort as a number; a string of digits is a number too, as intstr parses it.
            self = Int(name).map { .number($0) } ?? .name(name)
        } else {
            throw DecodingError.typeMismatch(IntOrString.self, .init(codingPath: decoder.codingPath, debugDescription: "neither a number nor a string"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .number(let number): try value.encode(number)
        case .name(let name): try value.encode(name)
        }
    }
}
