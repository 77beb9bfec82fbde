import WeftAddress

/// Namespaces and Pods from the API's JSON (core/v1): the fields enforcement reads, the rest ignored.
extension PolicyNamespace: Decodable {
    private struct Object: Decodable { let metadata: ObjectMetadata }

    public init(from decoder: Decoder) throws {
        let metadata = try Object(from: decoder).metadata
        self.init(name: metadata.name, labels: metadata.labels ?? [:])
    }
}

extension PolicyPod: Decodable {
    private struct Object: Decodable {
        struct ContainerPort: Decodable {
            let name: String?
            let containerPort: Int?
            let `protocol`: String?
        }
        struct Container: Decodable { let ports: [ContainerPort]? }
        struct Spec: Decodable {
            let containers: [Container]?
            let hostNetwork: Bool?
            let nodeName: String?
        }
        struct PodIP: Decodable { let ip: String? }
        struct Status: Decodable {
            let podIPs: [PodIP]?
            let podIP: String?
            let phase: String?
        }
        let metadata: ObjectMetadata
        let spec: Spec?
        let status: Status?
    }

    public init(from decoder: Decoder) throws {
        let object = try Object(from: decoder)
        let status = object.status
        // An address that is not one is left out, as the pod before the sandbox has none.
        var addresses = (status?.podIPs ?? []).compactMap { $0.ip.flatMap(IPAddress.init) }
        if addresses.isEmpty, let single = status?.podIP.flatMap(IPAddress.init) { addresses = [single] }
        // A finished pod's address may already be another pod's.
        let finished = status?.phase == "Succeeded" || status?.phase == "Failed"
        if finished { addresses = [] }
        // Only a port with a name can be named by a policy; an unknown protocol is TCP, the API's default.
        let ports = (object.spec?.containers ?? []).flatMap { $0.ports ?? [] }.compactMap { port -> NamedPort? in
            guard let name = port.name, let number = port.containerPort.flatMap(UInt16.init(exactly:)) else { return nil }
            return NamedPort(name: name, port: number, proto: TransportProtocol(kubernetesName: port.protocol ?? "TCP") ?? .tcp)
        }
        let metadata = object.metadata
        self.init(
            namespace: metadata.namespace ?? "default", name: metadata.name, labels: metadata.labels ?? [:], addresses: addresses,
            namedPorts: ports, hostNetwork: object.spec?.hostNetwork ?? false, nodeName: object.spec?.nodeName)
        uid = metadata.uid
        ending = finished || metadata.deletionTimestamp != nil
    }
}
