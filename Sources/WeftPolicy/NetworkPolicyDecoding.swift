import WeftAddress

/// NetworkPolicies (networking.k8s.io/v1) from the API's JSON. Every field enforcement reads is
/// checked here; one that cannot be read throws, named by its key path (PolicyAPIObject.decode), and
/// the caller keeps the policy as `unreadable` isolates it. Fields the API adds are ignored.
extension NetworkPolicy: Decodable {
    private enum Keys: String, CodingKey { case metadata, spec }
    private enum SpecKeys: String, CodingKey { case podSelector, policyTypes, ingress, egress }
    private struct IngressRule: Decodable {
        let from: [Peer]?
        let ports: [Port]?
    }
    private struct EgressRule: Decodable {
        let to: [Peer]?
        let ports: [Port]?
    }

    public init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: Keys.self)
        let metadata = try object.decode(ObjectMetadata.self, forKey: .metadata)
        // No spec reads as an empty one: every pod of the namespace, isolated for ingress.
        let spec = try object.contains(.spec) && !object.decodeNil(forKey: .spec) ? object.nestedContainer(keyedBy: SpecKeys.self, forKey: .spec) : nil
        let ingress = try spec?.decodeIfPresent([IngressRule].self, forKey: .ingress) ?? []
        let egress = try spec?.decodeIfPresent([EgressRule].self, forKey: .egress) ?? []
        // The API's default: Ingress always, Egress when the policy has egress rules.
        let defaultTypes: Set<Direction> = spec?.contains(.egress) == true ? [.ingress, .egress] : [.ingress]
        self.init(
            namespace: metadata.namespace ?? "default", name: metadata.name,
            podSelector: try spec?.decodeIfPresent(LabelSelector.self, forKey: .podSelector) ?? .everything,
            policyTypes: try spec?.decodeIfPresent([Direction].self, forKey: .policyTypes).map(Set.init) ?? defaultTypes,
            ingress: ingress.map { Rule(peers: $0.from ?? [], ports: $0.ports ?? []) },
            egress: egress.map { Rule(peers: $0.to ?? [], ports: $0.ports ?? []) })
    }

    /// What can be read of a policy that cannot be read whole, enforced so that it isolates (never open):
    /// - its peers or ports are beyond this compiler: no rule, for the pods its podSelector selects and
    ///   the directions it names;
    /// - its spec is not an object, or its podSelector or policyTypes cannot be read: every pod of its
    ///   namespace, in both directions (what it selects and for what cannot be known);
    /// - its name cannot be read: the same, named "(no name)".
    /// Nil only when its namespace cannot be read: the caller isolates every namespace's pods.
    public static func unreadable(_ object: PolicyAPIObject) -> NetworkPolicy? {
        guard let namespace = object.namespace else { return nil }
        let read = object.decodeIfPossible(Isolating.self)
        let everything: Set<Direction> = [.ingress, .egress]
        var selector = LabelSelector.everything
        var types = everything
        if let spec = read?.spec?.value {
            // An absent (or null) podSelector is every pod, as the readable decoding reads it.
            let podSelector: LabelSelector? = spec.podSelector == nil ? .everything : spec.podSelector?.value
            // The directions named, when every one can be read ([] when none are named).
            let named: [Direction]? =
                switch spec.policyTypes {
                case nil: []
                case let listed?: listed.value.flatMap { list in list.allSatisfy { $0.value != nil } ? list.compactMap(\.value) : nil }
                }
            if let podSelector, let named {
                selector = podSelector
                types = named.isEmpty ? everything : Set(named)
            }
        }
        return NetworkPolicy(namespace: namespace, name: object.name ?? "(no name)", podSelector: selector, policyTypes: types, ingress: [], egress: [])
    }

    /// Every part read on its own: a part that cannot be read is nil, never an error.
    private struct Isolating: Decodable {
        struct Spec: Decodable {
            let podSelector: Lenient<LabelSelector>?
            let policyTypes: Lenient<[Lenient<Direction>]>?
        }
        let spec: Lenient<Spec>?
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
}

extension Direction: Decodable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let direction = Direction(rawValue: text) else { throw refused(decoder.codingPath, "not Ingress or Egress") }
        self = direction
    }
}

extension NetworkPolicy.Peer: Decodable {
    private enum Keys: String, CodingKey { case ipBlock, podSelector, namespaceSelector }
    private enum BlockKeys: String, CodingKey { case cidr, except }

    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: Keys.self)
        // ipBlock is exclusive with the selectors (the API server refuses both); it is read first.
        if fields.contains(.ipBlock), !(try fields.decodeNil(forKey: .ipBlock)) {
            let block = try fields.nestedContainer(keyedBy: BlockKeys.self, forKey: .ipBlock)
            guard let cidr = NetworkPolicy.apiCIDR(try block.decode(String.self, forKey: .cidr)) else {
                throw refused(block.codingPath + [BlockKeys.cidr], "not a CIDR")
            }
            let except = try (block.decodeIfPresent([String].self, forKey: .except) ?? []).enumerated().map { index, text in
                guard let network = NetworkPolicy.apiCIDR(text), network.family == cidr.family else {
                    throw refused(block.codingPath + [BlockKeys.except, PathKey(index)], "not a CIDR of the block's family")
                }
                return network.canonical
            }
            self = .ipBlock(cidr: cidr.canonical, except: except)
            return
        }
        let pods = try fields.decodeIfPresent(LabelSelector.self, forKey: .podSelector)
        let namespaces = try fields.decodeIfPresent(LabelSelector.self, forKey: .namespaceSelector)
        guard pods != nil || namespaces != nil else { throw refused(decoder.codingPath, "needs podSelector, namespaceSelector or ipBlock") }
        self = .pods(podSelector: pods, namespaceSelector: namespaces)
    }
}

extension NetworkPolicy.Port: Decodable {
    private enum Keys: String, CodingKey { case `protocol`, port, endPort }

    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: Keys.self)
        let protoText = try fields.decodeIfPresent(String.self, forKey: .protocol) ?? "TCP"
        guard let proto = TransportProtocol(kubernetesName: protoText) else {
            throw refused(fields.codingPath + [Keys.protocol], "unknown protocol \(protoText)")
        }
        let endPort = try fields.decodeIfPresent(Int.self, forKey: .endPort).map { number -> UInt16 in
            guard let end = UInt16(exactly: number), end > 0 else { throw refused(fields.codingPath + [Keys.endPort], "not a port") }
            return end
        }
        // An IntOrString: a number, a string of digits (a number, as intstr parses it) or a port's name.
        let number: Int
        if try !fields.contains(.port) || fields.decodeNil(forKey: .port) {
            self.init(proto: proto, value: .any, endPort: nil)
            return
        } else if let value = try? fields.decode(Int.self, forKey: .port) {
            number = value
        } else if let text = try? fields.decode(String.self, forKey: .port) {
            guard let value = Int(text) else {
                self.init(proto: proto, value: .name(text), endPort: nil)
                return
            }
            number = value
        } else {
            throw refused(fields.codingPath + [Keys.port], "not a port number or name")
        }
        guard let port = UInt16(exactly: number), port > 0 else { throw refused(fields.codingPath + [Keys.port], "not a port number or name") }
        if let endPort, endPort < port { throw refused(fields.codingPath + [Keys.endPort], "below port \(port)") }
        self.init(proto: proto, value: .number(port), endPort: endPort)
    }
}
