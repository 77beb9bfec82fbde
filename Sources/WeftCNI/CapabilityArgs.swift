import FoundationEssentials

/// Capability arguments the runtime fills in (`capabilities` in the conflist). Keys match in any case
/// (see AnyCaseContainer): go-cni writes `HostPort`, `Subnet`, `Servers`, `IngressRate`.
public struct RuntimeConfig: Decodable, Sendable {
    /// `ips`: addresses the pod must get.
    public var ips: [String]?
    /// `ipRanges`: range sets replacing the config's.
    public var ipRanges: [[RangeConfig]]?
    /// `portMappings`: hostPorts.
    public var portMappings: [PortMappingConfig]?
    /// `dns`: the pod's resolver settings, returned in the result.
    public var dns: DNSConfig?
    /// `bandwidth`: the pod's rates (from the `kubernetes.io/ingress-bandwidth` and `egress-bandwidth` annotations).
    public var bandwidth: BandwidthConfig?

    enum CodingKeys: String, CodingKey, CaseIterable { case ips, ipRanges, portMappings, dns, bandwidth }

    public init(ips: [String]? = nil, ipRanges: [[RangeConfig]]? = nil, portMappings: [PortMappingConfig]? = nil, dns: DNSConfig? = nil) {
        self.ips = ips; self.ipRanges = ipRanges; self.portMappings = portMappings; self.dns = dns
    }

    public init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate)
        ips = try container.decodeIfPresent([String].self, forKey: .ips)
        ipRanges = try container.decodeIfPresent([[AnyCaseRange]].self, forKey: .ipRanges)?.map { $0.map(\.range) }
        portMappings = try container.decodeIfPresent([PortMappingConfig].self, forKey: .portMappings)
        dns = try container.decodeIfPresent(DNSConfig.self, forKey: .dns)
        bandwidth = try container.decodeIfPresent(BandwidthConfig.self, forKey: .bandwidth)
    }
}

/// One `portMappings` entry as the runtime sends it; validated into a PortMapping.
public struct PortMappingConfig: Decodable, Sendable {
    public var hostPort: Int
    public var containerPort: Int
    public var protocol_: String?
    public var hostIP: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case hostPort, containerPort, protocol_ = "protocol", hostIP }

    public init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate)
        hostPort = try container.decode(Int.self, forKey: .hostPort)
        containerPort = try container.decode(Int.self, forKey: .containerPort)
        protocol_ = try container.decodeIfPresent(String.self, forKey: .protocol_)
        hostIP = try container.decodeIfPresent(String.self, forKey: .hostIP)
    }
}

/// `runtimeConfig.dns` (go-cni's `DNS{Servers, Searches, Options}`; `domain` as the spec's result names it).
public struct DNSConfig: Decodable, Sendable {
    public var servers: [String]?
    public var searches: [String]?
    public var options: [String]?
    public var domain: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case servers, searches, options, domain }

    public init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate)
        servers = try container.decodeIfPresent([String].self, forKey: .servers)
        searches = try container.decodeIfPresent([String].self, forKey: .searches)
        options = try container.decodeIfPresent([String].self, forKey: .options)
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
    }
}

/// `args` in the config; Weft reads `args.cni.ips` (keys in any case, as Go plugins read them).
public struct ConfigArgs: Decodable, Sendable {
    public struct CNI: Decodable, Sendable {
        public var ips: [String]?
        enum CodingKeys: String, CodingKey, CaseIterable { case ips }
        public init(from decoder: Decoder) throws {
            ips = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate).decodeIfPresent([String].self, forKey: .ips)
        }
    }
    public var cni: CNI?
    enum CodingKeys: String, CodingKey, CaseIterable { case cni }
    public init(from decoder: Decoder) throws {
        cni = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate).decodeIfPresent(CNI.self, forKey: .cni)
    }
}

/// A range of `runtimeConfig.ipRanges`, whose keys match in any case (go-cni's `Subnet`, `RangeStart`, …).
struct AnyCaseRange: Decodable {
    let range: RangeConfig
    enum CodingKeys: String, CodingKey, CaseIterable { case subnet, rangeStart, rangeEnd, gateway }
    init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder, refusing: CNIError.duplicate)
        range = RangeConfig(
            subnet: try container.decode(String.self, forKey: .subnet),
            rangeStart: try container.decodeIfPresent(String.self, forKey: .rangeStart),
            rangeEnd: try container.decodeIfPresent(String.self, forKey: .rangeEnd),
            gateway: try container.decodeIfPresent(String.self, forKey: .gateway))
    }
}
