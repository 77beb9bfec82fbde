import WeftAddress

/// The Kubernetes objects NetworkPolicy enforcement reads, decoded from the API's JSON (a YAML file
/// decodes to the same values). Only the fields enforcement uses are kept.

public enum Direction: String, CaseIterable, Sendable { case ingress = "Ingress", egress = "Egress" }

public struct PolicyNamespace: Equatable, Sendable {
    public let name: String
    public let labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

    public init(json: Any) throws {
        let metadata = try Metadata(json, kind: "Namespace")
        self.init(name: metadata.name, labels: metadata.labels)
    }
}

public struct PolicyPod: Equatable, Sendable {
    /// A container port with a name, which a policy may name instead of a number.
    public struct NamedPort: Equatable, Hashable, Sendable {
        public let name: String
        public let port: UInt16
        public let proto: TransportProtocol
    }

    public let namespace: String
    public let name: String
    public let labels: [String: String]
    /// `status.podIPs` (else `status.podIP`): empty before the sandbox has its network.
    public let addresses: [IPAddress]
    public let namedPorts: [NamedPort]
    /// Pods on the node's own network are neither isolated nor told apart from the node.
    public let hostNetwork: Bool
    /// `spec.nodeName`: a node enforces policies for its own pods (others' are only peers).
    public let nodeName: String?
    /// `metadata.uid`: a pod deleted and created again under its name is another pod.
    public var uid: String? = nil
    /// Being deleted (`metadata.deletionTimestamp`) or finished (phase Succeeded or Failed): its sandbox
    /// is going or gone, so the addresses the API still reports for it may already be another pod's.
    public var ending = false

    public init(
        namespace: String, name: String, labels: [String: String] = [:], addresses: [IPAddress] = [],
        namedPorts: [NamedPort] = [], hostNetwork: Bool = false, nodeName: String? = nil
    ) {
        self.namespace = namespace; self.name = name; self.labels = labels
        self.addresses = addresses; self.namedPorts = namedPorts; self.hostNetwork = hostNetwork; self.nodeName = nodeName
    }

    public var key: String { "\(namespace)/\(name)" }

    /// The same pod with other addresses (the ones its ADD announced before the API has them).
    public func with(addresses: [IPAddress]) -> PolicyPod {
        var pod = PolicyPod(
            namespace: namespace, name: name, labels: labels, addresses: addresses, namedPorts: namedPorts,
            hostNetwork: hostNetwork, nodeName: nodeName)
        pod.uid = uid
        pod.ending = ending
        return pod
    }

    public init(json: Any) throws {
        let metadata = try Metadata(json, kind: "Pod")
        let object = json as? [String: Any] ?? [:]
        let spec = object["spec"] as? [String: Any] ?? [:]
        let status = object["status"] as? [String: Any] ?? [:]
        var addresses = (status["podIPs"] as? [Any] ?? []).compactMap { (($0 as? [String: Any])?["ip"] as? String).flatMap(IPAddress.init) }
        if addresses.isEmpty, let single = (status["podIP"] as? String).flatMap(IPAddress.init) { addresses = [single] }
        // A finished pod's address may already be another pod's.
        let finished = (status["phase"] as? String).map { $0 == "Succeeded" || $0 == "Failed" } ?? false
        if finished { addresses = [] }
        var ports: [NamedPort] = []
        for container in spec["containers"] as? [Any] ?? [] {
            for raw in (container as? [String: Any])?["ports"] as? [Any] ?? [] {
                guard let port = raw as? [String: Any], let name = port["name"] as? String, let number = integer(port["containerPort"]),
                    let value = UInt16(exactly: number)
                else { continue }
                let proto = TransportProtocol(kubernetesName: port["protocol"] as? String ?? "TCP") ?? .tcp
                ports.append(NamedPort(name: name, port: value, proto: proto))
            }
        }
        self.init(
            namespace: metadata.namespace, name: metadata.name, labels: metadata.labels, addresses: addresses,
            namedPorts: ports, hostNetwork: spec["hostNetwork"] as? Bool ?? false, nodeName: spec["nodeName"] as? String)
        let objectMetadata = object["metadata"] as? [String: Any] ?? [:]
        uid = objectMetadata["uid"] as? String
        ending = finished || objectMetadata["deletionTimestamp"] != nil
    }
}

public struct NetworkPolicy: Equatable, Sendable {
    public enum Peer: Equatable, Sendable {
        /// Pods: `podSelector` in the policy's namespace, `namespaceSelector` alone every pod of the
        /// matching namespaces, both the matching pods of the matching namespaces.
        case pods(podSelector: LabelSelector?, namespaceSelector: LabelSelector?)
        /// Addresses: the CIDR without the `except` CIDRs.
        case ipBlock(cidr: IPNetwork, except: [IPNetwork])
    }

    public struct Port: Equatable, Sendable {
        public enum Value: Equatable, Sendable { case any, number(UInt16), name(String) }
        public let proto: TransportProtocol
        public let value: Value
        /// With a number: the range's last port.
        public let endPort: UInt16?
    }

    /// One ingress (`from`) or egress (`to`) rule: empty `peers` is every peer, empty `ports` every port.
    public struct Rule: Equatable, Sendable {
        public let peers: [Peer]
        public let ports: [Port]
    }

    public let namespace: String
    public let name: String
    public let podSelector: LabelSelector
    public let policyTypes: Set<Direction>
    public let ingress: [Rule]
    public let egress: [Rule]

    public var key: String { "\(namespace)/\(name)" }

    public init(json: Any) throws {
        let metadata = try Metadata(json, kind: "NetworkPolicy")
        let object = "NetworkPolicy \(metadata.namespace)/\(metadata.name)"
        let spec = (json as? [String: Any])?["spec"] as? [String: Any] ?? [:]
        namespace = metadata.namespace
        name = metadata.name
        podSelector = try LabelSelector(spec["podSelector"], object: object, path: "spec.podSelector")
        ingress = try Self.rules(spec["ingress"], peersKey: "from", object: object, path: "spec.ingress")
        egress = try Self.rules(spec["egress"], peersKey: "to", object: object, path: "spec.egress")
        if let types = spec["policyTypes"] as? [Any] {
            policyTypes = Set(
                try types.enumerated().map { index, raw in
                    guard let text = raw as? String, let direction = Direction(rawValue: text) else {
                        throw PolicyError(object, "spec.policyTypes[\(index)]", "not Ingress or Egress")
                    }
                    return direction
                })
        } else {
            // The API's default: Ingress always, Egress when the policy has egress rules.
            policyTypes = spec["egress"] != nil ? [.ingress, .egress] : [.ingress]
        }
    }

    static func rules(_ value: Any?, peersKey: String, object: String, path: String) throws -> [Rule] {
        guard let value else { return [] }
        guard let list = value as? [Any] else { throw PolicyError(object, path, "not a list") }
        return try list.enumerated().map { index, raw in
            let at = "\(path)[\(index)]"
            let rule = raw as? [String: Any] ?? [:]
            let peers = try (rule[peersKey] as? [Any] ?? []).enumerated().map { try peer($1, object: object, path: "\(at).\(peersKey)[\($0)]") }
            let ports = try (rule["ports"] as? [Any] ?? []).enumerated().map { try port($1, object: object, path: "\(at).ports[\($0)]") }
            return Rule(peers: peers, ports: ports)
        }
    }

    static func peer(_ value: Any, object: String, path: String) throws -> Peer {
        guard let fields = value as? [String: Any] else { throw PolicyError(object, path, "not an object") }
        if let block = fields["ipBlock"] as? [String: Any] {
            guard let text = block["cidr"] as? String, let cidr = apiCIDR(text) else {
                throw PolicyError(object, "\(path).ipBlock.cidr", "not a CIDR")
            }
            let except = try (block["except"] as? [Any] ?? []).enumerated().map { index, raw in
                guard let text = raw as? String, let network = apiCIDR(text), network.family == cidr.family else {
                    throw PolicyError(object, "\(path).ipBlock.except[\(index)]", "not a CIDR of the block's family")
                }
                return network.canonical
            }
            return .ipBlock(cidr: cidr.canonical, except: except)
        }
        let pods = try fields["podSelector"].map { try LabelSelector($0, object: object, path: "\(path).podSelector") }
        let namespaces = try fields["namespaceSelector"].map { try LabelSelector($0, object: object, path: "\(path).namespaceSelector") }
        guard pods != nil || namespaces != nil else {
            throw PolicyError(object, path, "needs podSelector, namespaceSelector or ipBlock")
        }
        return .pods(podSelector: pods, namespaceSelector: namespaces)
    }

    /// A CIDR as the API server accepts it: also IPv4 with leading zeros, read as decimal ("010.1.0.0/16"
    /// is 10.1.0.0/16), as Go before 1.17 and Kubernetes' ParseCIDRSloppy read it. Objects stored then
    /// are still served in that form.
    public static func apiCIDR(_ text: String) -> IPNetwork? {
        if let network = IPNetwork(text) { return network }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber) else { return nil }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var values: [Int] = []
        for octet in octets {
            guard (1...3).contains(octet.count), octet.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(octet), value <= 255 else { return nil }
            values.append(value)
        }
        return IPNetwork(values.map(String.init).joined(separator: ".") + "/\(prefix)")
    }

    /// What can be read of a policy that cannot be read whole (its peers or ports are beyond this
    /// compiler): its namespace, name and podSelector, with no rule, for the directions it names (both
    /// when those cannot be read either). Enforced, it isolates the pods it selects: never open.
    public static func unreadable(json: Any) throws -> NetworkPolicy {
        let metadata = try Metadata(json, kind: "NetworkPolicy")
        let object = "NetworkPolicy \(metadata.namespace)/\(metadata.name)"
        let spec = (json as? [String: Any])?["spec"] as? [String: Any] ?? [:]
        let selector = try LabelSelector(spec["podSelector"], object: object, path: "spec.podSelector")
        var types = Set((spec["policyTypes"] as? [Any] ?? []).compactMap { ($0 as? String).flatMap(Direction.init(rawValue:)) })
        if types.isEmpty { types = [.ingress, .egress] }
        return NetworkPolicy(
            namespace: metadata.namespace, name: metadata.name, podSelector: selector, policyTypes: types,
            ingress: [], egress: [])
    }

    public init(namespace: String, name: String, podSelector: LabelSelector, policyTypes: Set<Direction>, ingress: [Rule], egress: [Rule]) {
        self.namespace = namespace; self.name = name; self.podSelector = podSelector
        self.policyTypes = policyTypes; self.ingress = ingress; self.egress = egress
    }

    static func port(_ value: Any, object: String, path: String) throws -> Port {
        guard let fields = value as? [String: Any] else { throw PolicyError(object, path, "not an object") }
        let protoText = fields["protocol"] as? String ?? "TCP"
        guard let proto = TransportProtocol(kubernetesName: protoText) else { throw PolicyError(object, "\(path).protocol", "unknown protocol \(protoText)") }
        let endPort = try integer(fields["endPort"]).map { number -> UInt16 in
            guard let end = UInt16(exactly: number), end > 0 else { throw PolicyError(object, "\(path).endPort", "not a port") }
            return end
        }
        switch fields["port"] {
        case nil:
            return Port(proto: proto, value: .any, endPort: nil)
        case let name as String where integer(name) == nil:
            return Port(proto: proto, value: .name(name), endPort: nil)
        case let raw:
            guard let number = integer(raw), let port = UInt16(exactly: number), port > 0 else {
                throw PolicyError(object, "\(path).port", "not a port number or name")
            }
            if let endPort, endPort < port { throw PolicyError(object, "\(path).endPort", "below port \(port)") }
            return Port(proto: proto, value: .number(port), endPort: endPort)
        }
    }
}

/// `metadata` as the three kinds use it.
struct Metadata {
    let name: String
    let namespace: String
    let labels: [String: String]

    init(_ json: Any, kind: String) throws {
        guard let metadata = (json as? [String: Any])?["metadata"] as? [String: Any], let name = metadata["name"] as? String else {
            throw PolicyError(kind, "metadata.name", "missing")
        }
        self.name = name
        namespace = metadata["namespace"] as? String ?? "default"
        labels = (metadata["labels"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
    }
}

/// An integer from JSON (NSNumber, Int) or YAML (Int), or a string of digits (an IntOrString).
func integer(_ value: Any?) -> Int? {
    switch value {
    case let number as Int: return number
    case let text as String: return Int(text)
    case let number as Double where number.rounded() == number: return Int(number)
    default: return nil
    }
}
