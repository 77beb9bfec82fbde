import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// A route to a remote node's pod subnet: through its VTEP address on the vxlan device (onlink), or
/// through its underlay address (host-gw).
public struct FabricRoute: Hashable, Sendable, CustomStringConvertible {
    public let destination: IPNetwork
    public let gateway: IPAddress
    public let outputIndex: Int32
    public let onlink: Bool

    public init(destination: IPNetwork, gateway: IPAddress, outputIndex: Int32, onlink: Bool) {
        self.destination = destination.canonical
        self.gateway = gateway; self.outputIndex = outputIndex; self.onlink = onlink
    }

    public var description: String {
        "\(destination) via \(gateway) dev \(outputIndex)\(onlink ? " onlink" : "")"
    }
}

/// A permanent neighbour entry: a remote VTEP address and the MAC of that node's vxlan device.
public struct FabricNeighbour: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let mac: [UInt8]
    public let index: Int32

    public init(address: IPAddress, mac: [UInt8], index: Int32) {
        self.address = address; self.mac = mac; self.index = index
    }

    public var description: String { "\(address) lladdr \(MAC.text(mac)) dev \(index)" }
}

/// A vxlan forwarding entry: frames for a remote vxlan device's MAC go to that node's underlay address.
public struct FabricForwarding: Hashable, Sendable, CustomStringConvertible {
    public let mac: [UInt8]
    public let remote: IPAddress
    public let index: Int32

    public init(mac: [UInt8], remote: IPAddress, index: Int32) {
        self.mac = mac; self.remote = remote; self.index = index
    }

    public var description: String { "\(MAC.text(mac)) dst \(remote) dev \(index)" }
}

/// What a route dump says, as far as the fabric cares: enough to recognise the agent's own routes.
public struct RouteEntry: Equatable, Sendable {
    public let route: FabricRoute
    public let protocolID: UInt8
    public let table: UInt32

    /// Parses rtmsg (12 bytes: family, dst_len, src_len, tos, table, protocol, scope, type, flags)
    /// and its attributes; routes without a gateway or an output link are not fabric routes.
    public init?(payload: [UInt8]) {
        guard payload.count >= 12, let flags = payload.loadInteger(UInt32.self, at: 8) else { return nil }
        let length = Int(payload[1])
        protocolID = payload[5]
        let attributes = NetlinkAttribute.parse(payload, from: 12)
        table = attributes.first(Int(RTA_TABLE.rawValue))?.u32 ?? UInt32(payload[4])
        guard let dst = attributes.first(Int(RTA_DST.rawValue)).flatMap({ IPAddress(bytes: $0.value) }),
            let destination = IPNetwork(address: dst, prefixLength: length),
            let gateway = attributes.first(Int(RTA_GATEWAY.rawValue)).flatMap({ IPAddress(bytes: $0.value) }),
            let index = attributes.first(Int(RTA_OIF.rawValue))?.int32
        else { return nil }
        route = FabricRoute(
            destination: destination, gateway: gateway, outputIndex: index,
            onlink: flags & UInt32(RTNH_F_ONLINK) != 0)
    }
}

/// One RTM_NEWNEIGH of a dump: a neighbour (AF_INET/AF_INET6) or an FDB entry (AF_BRIDGE).
public struct NeighbourEntry: Equatable, Sendable {
    public let family: UInt8
    public let index: Int32
    public let state: UInt16
    public let flags: UInt8
    /// NDA_DST: the neighbour's IP, or an FDB entry's remote underlay IP.
    public let destination: IPAddress?
    public let mac: [UInt8]

    /// Parses ndmsg (12 bytes: family, 3 pad, ifindex, state u16, flags u8, type u8), then attributes.
    public init?(payload: [UInt8]) {
        guard payload.count >= 12, let index = payload.loadInteger(Int32.self, at: 4),
            let state = payload.loadInteger(UInt16.self, at: 8)
        else { return nil }
        family = payload[0]
        self.index = index
        self.state = state
        flags = payload[10]
        let attributes = NetlinkAttribute.parse(payload, from: 12)
        destination = attributes.first(Int(NDA_DST)).flatMap { IPAddress(bytes: $0.value) }
        mac = attributes.first(Int(NDA_LLADDR))?.value ?? []
    }

    public var isPermanent: Bool { state & NeighbourRequests.permanent != 0 }
}

/// The parts of a vxlan link's IFLA_INFO_DATA that decide whether an existing device can be kept.
public struct VxlanInfo: Equatable, Sendable {
    public let vni: UInt32?
    public let local: IPAddress?
    public let underlayIndex: Int32?
    public let port: UInt16?
    public let learning: Bool?

    /// Parses RTM_NEWLINK's payload; nil when the link is no vxlan device.
    public init?(linkPayload payload: [UInt8]) {
        guard payload.count >= 16 else { return nil }
        let info = NetlinkAttribute.parse(payload, from: 16).first(Int(IFLA_LINKINFO))?.nested ?? []
        guard info.first(Int(IFLA_INFO_KIND))?.string == "vxlan" else { return nil }
        let data = info.first(Int(IFLA_INFO_DATA))?.nested ?? []
        vni = data.first(Int(IFLA_VXLAN_ID))?.u32
        local = (data.first(Int(IFLA_VXLAN_LOCAL)) ?? data.first(Int(IFLA_VXLAN_LOCAL6))).flatMap { IPAddress(bytes: $0.value) }
        underlayIndex = data.first(Int(IFLA_VXLAN_LINK))?.int32
        port = data.first(Int(IFLA_VXLAN_PORT)).flatMap { $0.value.count == 2 ? UInt16($0.value[0]) << 8 | UInt16($0.value[1]) : nil }
        learning = data.first(Int(IFLA_VXLAN_LEARNING))?.u8.map { $0 != 0 }
    }

    /// Whether a device described by this info is the one `spec` asks for.
    public func matches(_ spec: VxlanSpec) -> Bool {
        vni == spec.vni && local == spec.local && underlayIndex == spec.underlayIndex && port == spec.port && learning == false
    }
}
