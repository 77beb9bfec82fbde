import WeftCNI

/// flannel's LeaseAttrs as etcd's lease value holds them, before weftd's checks (LeaseAttributes.parse):
/// Go's field names, matched in any case as encoding/json matches them. Unknown fields are ignored; a
/// field of the wrong type is refused, naming it.
struct LeaseDocument: Decodable {
    var publicIP: String?
    var publicIPv6: String?
    var backendType: String?
    var backendData: VxlanBackendData?
    var backendV6Data: VxlanBackendData?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case publicIP = "PublicIP", publicIPv6 = "PublicIPv6", backendType = "BackendType"
        case backendData = "BackendData", backendV6Data = "BackendV6Data"
    }

    init(from decoder: Decoder) throws {
        let fields = try AnyCaseContainer<CodingKeys>(decoder)
        publicIP = try fields.decodeIfPresent(String.self, forKey: .publicIP)
        publicIPv6 = try fields.decodeIfPresent(String.self, forKey: .publicIPv6)
        backendType = try fields.decodeIfPresent(String.self, forKey: .backendType)
        backendData = try fields.decodeIfPresent(VxlanBackendData.self, forKey: .backendData)
        backendV6Data = try fields.decodeIfPresent(VxlanBackendData.self, forKey: .backendV6Data)
    }
}

/// vxlan's BackendData and BackendV6Data (in a lease value, or as the Node annotations' JSON text):
/// the VNI and the VTEP device's MAC in Go's colon form. host-gw writes none (`null`).
struct VxlanBackendData: Decodable {
    var vni: UInt32?
    var vtepMAC: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vni = "VNI", vtepMAC = "VtepMAC"
    }

    init(from decoder: Decoder) throws {
        let fields = try AnyCaseContainer<CodingKeys>(decoder)
        vni = try fields.decodeIntegerIfPresent(UInt32.self, forKey: .vni)
        vtepMAC = try fields.decodeIfPresent(String.self, forKey: .vtepMAC)
    }
}
