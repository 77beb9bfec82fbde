import WeftAddress

/// Which datapath wires the pod (`"datapath"`), and the keys only it takes.
public enum Datapath: Sendable, Equatable {
    /// flannel's: a bridge per network, a veth pair per pod on it (the default).
    case bridge
    /// A veth pair per pod with no bridge: the pod's address as a /32 (/128), reached by a route per pod
    /// on the node. With an uplink (Terway's shared ENI), traffic from the pod leaves by the uplink's
    /// gateway under its own address, and the underlay reaches the pod through the node's proxy ARP/NDP.
    case routed(uplink: Uplink?)
    /// A whole node interface per pod, taken from `devices` and moved into the pod (Terway's exclusive
    /// ENI, SR-IOV VFs): the pod's traffic never crosses the node's stack.
    case device(pool: [String])

    public var name: String {
        switch self {
        case .bridge: return "bridge"
        case .routed: return "routed"
        case .device: return "device"
        }
    }
}

/// `"uplink": {"device": "eth1", "gateway": "192.168.60.1"}`.
public struct Uplink: Sendable, Equatable {
    public var device: String
    public var gateway: IPAddress

    public init(device: String, gateway: IPAddress) {
        self.device = device
        self.gateway = gateway
    }
}

public struct UplinkConfig: Decodable, Sendable {
    public var device: String
    public var gateway: String
}

enum DatapathChoice {
    /// The datapath the config asks for, every key it does not take refused (code 7) rather than ignored.
    static func resolve(_ config: NetworkConfig, ranges: [AddressRange], hasPortMappings: Bool, hasBandwidth: Bool) throws -> Datapath {
        let name = config.datapath ?? "bridge"
        switch name {
        case "bridge":
            if config.uplink != nil { throw refused("uplink", name, "it needs \"datapath\": \"routed\"") }
            if config.devices != nil { throw refused("devices", name, "it needs \"datapath\": \"device\"") }
            return .bridge
        case "routed":
            try refuseBridgeKeys(
                config, name, why: "a routed pod has one route, a default through the node; the key shapes a bridge",
                allowing: [])
            if config.devices != nil { throw refused("devices", name, "it needs \"datapath\": \"device\"") }
            guard let uplink = config.uplink else { return .routed(uplink: nil) }
            try Validation.interfaceName(uplink.device, key: "uplink.device")
            guard let gateway = IPAddress(uplink.gateway) else {
                throw CNIError(.invalidConfig, "uplink.gateway \"\(Validation.printable(uplink.gateway))\" is not an IP address")
            }
            guard ranges.contains(where: { $0.family == gateway.family }) else {
                throw CNIError(.invalidConfig, "uplink.gateway \(gateway) is IPv\(gateway.isIPv4 ? 4 : 6), and no range of the network is")
            }
            if config.topLevel.overridden(by: config.delegate).ipMasq == true {
                throw refused("ipMasq", "routed with an uplink", "the underlay sees the pod's own address: nothing is masqueraded")
            }
            if hasPortMappings {
                throw refused(
                    "runtimeConfig.portMappings", "routed with an uplink", "the underlay reaches the pod at its own address; hostPorts are not published")
            }
            return .routed(uplink: Uplink(device: uplink.device, gateway: gateway))
        case "device":
            let why = "the pod owns the whole device: its traffic never crosses the node's stack, so node-side keys have nothing to act on"
            try refuseBridgeKeys(config, name, why: why, allowing: ["isDefaultGateway", "routes"])
            if config.uplink != nil { throw refused("uplink", name, "it needs \"datapath\": \"routed\"") }
            if config.topLevel.overridden(by: config.delegate).ipMasq == true { throw refused("ipMasq", name, why) }
            if hasPortMappings { throw refused("runtimeConfig.portMappings", name, why) }
            if hasBandwidth { throw refused(config.bandwidth != nil ? "bandwidth" : "runtimeConfig.bandwidth", name, why) }
            guard let pool = config.devices, !pool.isEmpty else {
                throw CNIError(.invalidConfig, "datapath device needs \"devices\": the node interfaces it may hand to pods")
            }
            for (index, device) in pool.enumerated() {
                try Validation.interfaceName(device, key: "devices[\(index)]")
                if pool[..<index].contains(device) { throw CNIError(.invalidConfig, "devices[\(index)] \(device) is listed twice") }
            }
            return .device(pool: pool)
        default:
            throw CNIError(.invalidConfig, "datapath \"\(Validation.printable(name))\" is not bridge, routed or device")
        }
    }

    /// The bridge's keys (flannel's `delegate` among them), refused unless `allowing` names them.
    private static func refuseBridgeKeys(_ config: NetworkConfig, _ name: String, why: String, allowing: Set<String>) throws {
        let datapath = config.topLevel.overridden(by: config.delegate)
        let bridgeKeys: [(String, Bool)] = [
            ("delegate", config.delegate != nil), ("bridge", datapath.bridge != nil), ("isGateway", datapath.isGateway != nil),
            ("isDefaultGateway", datapath.isDefaultGateway != nil), ("hairpinMode", datapath.hairpinMode != nil),
            ("promiscMode", datapath.promiscMode != nil), ("routes", config.routes != nil || config.ipam?.routes != nil),
        ]
        if let (key, _) = bridgeKeys.first(where: { $0.1 && !allowing.contains($0.0) }) { throw refused(key, name, why) }
    }

    private static func refused(_ key: String, _ datapath: String, _ why: String) -> CNIError {
        CNIError(.invalidConfig, "\(key) is not taken by datapath \(datapath)", details: why)
    }
}
