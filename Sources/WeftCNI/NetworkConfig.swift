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
        cniVersion = try container.decodeIfPresent(String.self, forKey: .cniVersion)
        name = try container.decode(String.self, forKey: .name)
        type = try container.decode(String.self, forKey: .type)
        subnetFile = try container.decodeIfPresent(String.self, forKey: .subnetFile)
        dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir)
        subnet = try container.decodeIfPresent(String.self, forKey: .subnet)
        routes = try container.decodeIfPresent([RouteConfig].self, forKey: .routes)
        clusterNetworks = try container.decodeIfPresent([String].self, forKey: .clusterNetworks)
        ipam = try container.decodeIfPresent(IPAMConfig.self, forKey: .ipam)
        delegate = try container.decodeIfPresent(DatapathConfig.self, forKey: .delegate)
        prevResult = try container.decodeIfPresent(PreviousResult.self, forKey: .prevResult)
        runtimeConfig = try container.decodeIfPresent(RuntimeConfig.self, forKey: .runtimeConfig)
        args = try container.decodeIfPresent(ConfigArgs.self, forKey: .args)
        topLevel = try DatapathConfig(from: decoder)
    }

    /// Decodes stdin, turning JSON and type errors into CNI errors that name the key and its value.
    public static func decode(_ data: Data) throws -> NetworkConfig {
        let config: NetworkConfig
        do {
            config = try JSONDecoder().decode(NetworkConfig.self, from: data)
        } catch let error as DecodingError {
            throw ConfigDecodingError.translate(error, input: data)
        }
        try DuplicateKeys.check(data)
        return config
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
    public var hasIPAM: Bool

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
}

/// Capability arguments the runtime fills in (`capabilities` in the conflist).
public struct RuntimeConfig: Decodable, Sendable {
    /// `ips`: addresses the pod must get.
    public var ips: [String]?
    /// `ipRanges`: range sets replacing the config's.
    public var ipRanges: [[RangeConfig]]?
    /// `portMappings`: hostPorts.
    public var portMappings: [PortMappingConfig]?
}

/// One `portMappings` entry as the runtime sends it; validated into a PortMapping.
public struct PortMappingConfig: Decodable, Sendable {
    public var hostPort: Int
    public var containerPort: Int
    public var protocol_: String?
    public var hostIP: String?

    enum CodingKeys: String, CodingKey { case hostPort, containerPort, protocol_ = "protocol", hostIP }
}

/// `args` in the config; Weft reads `args.cni.ips`.
public struct ConfigArgs: Decodable, Sendable {
    public struct CNI: Decodable, Sendable { public var ips: [String]? }
    public var cni: CNI?
}

public struct RangeConfig: Decodable, Sendable {
    public var subnet: String
    public var rangeStart: String?
    public var rangeEnd: String?
    public var gateway: String?
}

public struct RouteConfig: Codable, Sendable, Equatable {
    public var dst: String
    public var gw: String?
}
