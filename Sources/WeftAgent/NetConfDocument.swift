import WeftCNI

/// net-conf.json as written, before flannel's defaults and checks (NetConf): flannel's field names,
/// matched in any case as Go's encoding/json matches them. Unknown fields are ignored; a field of the
/// wrong type is refused, naming it.
struct NetConfDocument: Decodable {
    var enableIPv4: Bool?
    var enableIPv6: Bool?
    var network: String?
    var subnetLength: Int?
    var subnetMin: String?
    var subnetMax: String?
    var ipv6Network: String?
    var ipv6SubnetLength: Int?
    var ipv6SubnetMin: String?
    var ipv6SubnetMax: String?
    var backend: Backend?

    /// `Backend`: flannel's type name and, for vxlan, the VNI and UDP port (0: the default).
    struct Backend: Decodable {
        var type: String?
        var vni: Int?
        var port: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case type = "Type", vni = "VNI", port = "Port"
        }

        init(from decoder: Decoder) throws {
            let fields = try AnyCaseContainer<CodingKeys>(decoder)
            type = try fields.decodeIfPresent(String.self, forKey: .type)
            vni = try fields.decodeIntegerIfPresent(Int.self, forKey: .vni)
            port = try fields.decodeIntegerIfPresent(Int.self, forKey: .port)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enableIPv4 = "EnableIPv4", enableIPv6 = "EnableIPv6", network = "Network", subnetLength = "SubnetLen"
        case subnetMin = "SubnetMin", subnetMax = "SubnetMax", ipv6Network = "IPv6Network", ipv6SubnetLength = "IPv6SubnetLen"
        case ipv6SubnetMin = "IPv6SubnetMin", ipv6SubnetMax = "IPv6SubnetMax", backend = "Backend"
    }

    init(from decoder: Decoder) throws {
        let fields = try AnyCaseContainer<CodingKeys>(decoder)
        enableIPv4 = try fields.decodeIfPresent(Bool.self, forKey: .enableIPv4)
        enableIPv6 = try fields.decodeIfPresent(Bool.self, forKey: .enableIPv6)
        network = try fields.decodeIfPresent(String.self, forKey: .network)
        subnetLength = try fields.decodeIntegerIfPresent(Int.self, forKey: .subnetLength)
        subnetMin = try fields.decodeIfPresent(String.self, forKey: .subnetMin)
        subnetMax = try fields.decodeIfPresent(String.self, forKey: .subnetMax)
        ipv6Network = try fields.decodeIfPresent(String.self, forKey: .ipv6Network)
        ipv6SubnetLength = try fields.decodeIntegerIfPresent(Int.self, forKey: .ipv6SubnetLength)
        ipv6SubnetMin = try fields.decodeIfPresent(String.self, forKey: .ipv6SubnetMin)
        ipv6SubnetMax = try fields.decodeIfPresent(String.self, forKey: .ipv6SubnetMax)
        backend = try fields.decodeIfPresent(Backend.self, forKey: .backend)
    }
}
