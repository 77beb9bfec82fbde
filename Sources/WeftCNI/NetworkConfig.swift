import FoundationEssentials

/// The network configuration JSON as the runtime sends it on stdin.
/// Flannel's keys (`subnetFile`, `delegate`), bridge keys (top level or in `delegate`),
/// and host-local-style `ipam` are all understood; unknown keys are ignored, as the spec allows.
public struct NetworkConfig: Decodable, Sendable {
    public var cniVersion: String?
    public var name: String
    public var type: String
    public var subnetFile: String?
    public var dataDir: String?
    public var subnet: String?
    public var routes: [RouteConfig]?
    /// Destinations that are not masqueraded with ipMasq (default: FLANNEL_NETWORK, else the node subnets).
    public var clusterNetworks: [String]?
    public var ipam: IPAMConfig?
    public var delegate: DatapathConfig?
    /// Bridge keys given at the top level; `delegate` wins key by key.
    public var topLevel: DatapathConfig
    public var prevResult: PreviousResult?
    public var runtimeConfig: RuntimeConfig?
    public var args: ConfigArgs?

    enum CodingKeys: String, CodingKey {
        case cniVersion, name, type, subnetFile, dataDir, subnet, routes, clusterNetworks, ipam, delegate, prevResult, runtimeConfig, args
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // DEL and GC must never fail on configuration they do not use (a DEL that fails is retried forever
        // and the pod can never be removed): for them everything but the network's identity (name, type,
        // cniVersion, dataDir) is read when it can be and ignored when it cannot.
        let forRemoval = decoder.userInfo[Self.forRemovalKey] as? Bool == true
        func optional<T: Decodable>(_ type: T.Type, _ key: CodingKeys) throws -> T? {
            forRemoval ? (try? container.decodeIfPresent(type, forKey: key)) ?? nil : try container.decodeIfPresent(type, forKey: key)
        }
        cniVersion = try container.decodeIfPresent(String.self, forKey: .cniVersion)
        name = try container.decode(String.self, forKey: .name)
        type = try container.decode(String.self, forKey: .type)
        dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir)
        subnetFile = try optional(String.self, .subnetFile)
        subnet = try optional(String.self, .subnet)
        routes = try optional([RouteConfig].self, .routes)
        clusterNetworks = try optional([String].self, .clusterNetworks)
        ipam = try optional(IPAMConfig.self, .ipam)
        if forRemoval, ipam == nil, let store = try container.decodeIfPresent(IPAMStoreOnly.self, forKey: .ipam) {
            // The rest of ipam is unusable, but its dataDir still says where the reservation is.
            ipam = IPAMConfig(dataDir: store.dataDir)
        }
        delegate = try optional(DatapathConfig.self, .delegate)
        prevResult = try optional(PreviousResult.self, .prevResult)
        runtimeConfig = try optional(RuntimeConfig.self, .runtimeConfig)
        args = try optional(ConfigArgs.self, .args)
        topLevel = forRemoval ? (try? DatapathConfig(from: decoder)) ?? DatapathConfig() : try DatapathConfig(from: decoder)
    }

    static let forRemovalKey = CodingUserInfoKey(rawValue: "weft.forRemoval")!

    /// Decodes stdin, turning JSON and type errors into CNI errors that name the key and its value.
    /// `forRemoval` (DEL, GC) reads only what removal uses and ignores the rest when it cannot be used.
    public static func decode(_ data: Data, forRemoval: Bool = false) throws -> NetworkConfig {
        let config: NetworkConfig
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[forRemovalKey] = forRemoval
            config = try decoder.decode(NetworkConfig.self, from: data)
        } catch let error as DecodingError {
            throw ConfigDecodingError.translate(error, input: data)
        }
        try DuplicateKeys.check(data, relevant: forRemoval ? { removalKeys.contains($0) } : { _ in true })
        return config
    }

    /// The keys removal reads: a repeated one makes the attachment's identity ambiguous.
    static let removalKeys: Set<[String]> = [["name"], ["type"], ["cniVersion"], ["dataDir"], ["ipam", "dataDir"]]
}

/// `ipam.dataDir` alone, for removal when the rest of `ipam` cannot be used.
private struct IPAMStoreOnly: Decodable {
    var dataDir: String?
    enum CodingKeys: String, CodingKey { case dataDir }
    init(from decoder: Decoder) throws {
        dataDir = try? decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .dataDir)
    }
}

/// The keys that shape the bridge datapath, flannel's `delegate` object.
public struct DatapathConfig: Decodable, Sendable {
    public var type: String?
    public var name: String?
    public var bridge: String?
    public var isGateway: Bool?
    public var isDefaultGateway: Bool?
    public var hairpinMode: Bool?
    public var promiscMode: Bool?
    public var mtu: Int?
    public var ipMasq: Bool?
    public var hasIPAM: Bool = false

    init() {}

    enum CodingKeys: String, CodingKey {
        case type, name, bridge, isGateway, isDefaultGateway, hairpinMode, promiscMode, mtu, ipMasq, ipam
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        bridge = try container.decodeIfPresent(String.self, forKey: .bridge)
        isGateway = try container.decodeIfPresent(Bool.self, forKey: .isGateway)
        isDefaultGateway = try container.decodeIfPresent(Bool.self, forKey: .isDefaultGateway)
        hairpinMode = try container.decodeIfPresent(Bool.self, forKey: .hairpinMode)
        promiscMode = try container.decodeIfPresent(Bool.self, forKey: .promiscMode)
        mtu = try container.decodeIfPresent(Int.self, forKey: .mtu)
        ipMasq = try container.decodeIfPresent(Bool.self, forKey: .ipMasq)
        hasIPAM = container.contains(.ipam)
    }

    /// Each key from `preferred` when set there, else from `self`.
    func overridden(by preferred: DatapathConfig?) -> DatapathConfig {
        guard let preferred else { return self }
        var merged = self
        merged.bridge = preferred.bridge ?? bridge
        merged.isGateway = preferred.isGateway ?? isGateway
        merged.isDefaultGateway = preferred.isDefaultGateway ?? isDefaultGateway
        merged.hairpinMode = preferred.hairpinMode ?? hairpinMode
        merged.promiscMode = preferred.promiscMode ?? promiscMode
        merged.mtu = preferred.mtu ?? mtu
        merged.ipMasq = preferred.ipMasq ?? ipMasq
        return merged
    }
}

/// host-local's IPAM keys.
public struct IPAMConfig: Decodable, Sendable {
    public var type: String?
    public var subnet: String?
    public var rangeStart: String?
    public var rangeEnd: String?
    public var gateway: String?
    public var ranges: [[RangeConfig]]?
    public var routes: [RouteConfig]?
    public var dataDir: String?
    public var resolvConf: String?

    init(dataDir: String?) { self.dataDir = dataDir }
}

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

    enum CodingKeys: String, CodingKey, CaseIterable { case ips, ipRanges, portMappings, dns }

    public init(ips: [String]? = nil, ipRanges: [[RangeConfig]]? = nil, portMappings: [PortMappingConfig]? = nil, dns: DNSConfig? = nil) {
        self.ips = ips; self.ipRanges = ipRanges; self.portMappings = portMappings; self.dns = dns
    }

    public init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder)
        ips = try container.decodeIfPresent([String].self, forKey: .ips)
        ipRanges = try container.decodeIfPresent([[AnyCaseRange]].self, forKey: .ipRanges)?.map { $0.map(\.range) }
        portMappings = try container.decodeIfPresent([PortMappingConfig].self, forKey: .portMappings)
        dns = try container.decodeIfPresent(DNSConfig.self, forKey: .dns)
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
        let container = try AnyCaseContainer<CodingKeys>(decoder)
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
        let container = try AnyCaseContainer<CodingKeys>(decoder)
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
            ips = try AnyCaseContainer<CodingKeys>(decoder).decodeIfPresent([String].self, forKey: .ips)
        }
    }
    public var cni: CNI?
    enum CodingKeys: String, CodingKey, CaseIterable { case cni }
    public init(from decoder: Decoder) throws {
        cni = try AnyCaseContainer<CodingKeys>(decoder).decodeIfPresent(CNI.self, forKey: .cni)
    }
}

/// A range of `runtimeConfig.ipRanges`, whose keys match in any case (go-cni's `Subnet`, `RangeStart`, …).
struct AnyCaseRange: Decodable {
    let range: RangeConfig
    enum CodingKeys: String, CodingKey, CaseIterable { case subnet, rangeStart, rangeEnd, gateway }
    init(from decoder: Decoder) throws {
        let container = try AnyCaseContainer<CodingKeys>(decoder)
        range = RangeConfig(subnet: try container.decode(String.self, forKey: .subnet),
                            rangeStart: try container.decodeIfPresent(String.self, forKey: .rangeStart),
                            rangeEnd: try container.decodeIfPresent(String.self, forKey: .rangeEnd),
                            gateway: try container.decodeIfPresent(String.self, forKey: .gateway))
    }
}

public struct RangeConfig: Decodable, Sendable {
    public var subnet: String
    public var rangeStart: String?
    public var rangeEnd: String?
    public var gateway: String?

    public init(subnet: String, rangeStart: String? = nil, rangeEnd: String? = nil, gateway: String? = nil) {
        self.subnet = subnet; self.rangeStart = rangeStart; self.rangeEnd = rangeEnd; self.gateway = gateway
    }
}

public struct RouteConfig: Codable, Sendable, Equatable {
    public var dst: String
    public var gw: String?
}
