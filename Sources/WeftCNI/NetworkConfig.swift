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
    /// Per-pod rates for every pod of the network; `runtimeConfig.bandwidth` overrides it direction by direction.
    public var bandwidth: BandwidthConfig?
    /// "bridge" (default), "routed" or "device"; see Datapath.
    public var datapath: String?
    /// The routed datapath's uplink (Terway's shared ENI).
    public var uplink: UplinkConfig?
    /// The device datapath's pool: node interfaces handed to pods whole (Terway's exclusive ENI, SR-IOV VFs).
    public var devices: [String]?
    /// Ask weftd for the pod's NetworkPolicy verdicts during ADD.
    public var networkPolicy: NetworkPolicyConfig?
    public var ipam: IPAMConfig?
    public var delegate: DatapathConfig?
    /// Bridge keys given at the top level; `delegate` wins key by key.
    public var topLevel: DatapathConfig
    public var prevResult: PreviousResult?
    public var runtimeConfig: RuntimeConfig?
    public var args: ConfigArgs?

    enum CodingKeys: String, CodingKey {
        case cniVersion, name, type, subnetFile, dataDir, subnet, routes, clusterNetworks, bandwidth, datapath, uplink, devices, networkPolicy, ipam, delegate,
            prevResult, runtimeConfig, args
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
        bandwidth = try optional(BandwidthConfig.self, .bandwidth)
        datapath = try optional(String.self, .datapath)
        uplink = try optional(UplinkConfig.self, .uplink)
        devices = try optional([String].self, .devices)
        networkPolicy = try optional(NetworkPolicyConfig.self, .networkPolicy)
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
