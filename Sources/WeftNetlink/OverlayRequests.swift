import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// The vxlan device a node agent creates: one per network, named after its VNI.
public struct VxlanSpec: Equatable, Sendable {
    public var name: String
    public var vni: UInt32
    /// The UDP destination port (flannel's default 8472, the Linux one; IANA's is 4789).
    public var port: UInt16
    /// The underlay address encapsulated packets leave from, and the underlay link it belongs to.
    public var local: IPAddress
    public var underlayIndex: Int32
    public var mac: [UInt8]
    public var mtu: UInt32

    public init(name: String, vni: UInt32, port: UInt16, local: IPAddress, underlayIndex: Int32, mac: [UInt8], mtu: UInt32) {
        self.name = name; self.vni = vni; self.port = port; self.local = local
        self.underlayIndex = underlayIndex; self.mac = mac; self.mtu = mtu
    }
}

/// Builders for links, addresses and routes of the node-to-node fabric (vxlan and host-gw). Pure:
/// they only lay out bytes, so tests compare them.
public enum OverlayRequests {
    /// Create or overwrite: routes and neighbour entries are set to the wanted value whatever was there.
    static let replace = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK

    /// A vxlan link with learning off: the agent fills the FDB and the neighbour table itself, so the
    /// kernel must neither learn remote MACs from received packets nor flood unknown ones.
    public static func createVxlan(_ spec: VxlanSpec) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: RouteRequests.create)
        request.putStruct(RouteRequests.linkHeader())
        request.put(Int(IFLA_IFNAME), string: spec.name)
        request.put(Int(IFLA_MTU), u32: spec.mtu)
        request.put(Int(IFLA_ADDRESS), bytes: spec.mac)
        request.nest(Int(IFLA_LINKINFO)) {
            request.put(Int(IFLA_INFO_KIND), string: "vxlan")
            request.nest(Int(IFLA_INFO_DATA)) {
                request.put(Int(IFLA_VXLAN_ID), u32: spec.vni)
                request.put(Int(IFLA_VXLAN_LINK), u32: UInt32(bitPattern: spec.underlayIndex))
                request.put(spec.local.isIPv4 ? Int(IFLA_VXLAN_LOCAL) : Int(IFLA_VXLAN_LOCAL6), bytes: spec.local.bytes)
                // The port is the one attribute vxlan reads in network byte order.
                request.put(Int(IFLA_VXLAN_PORT), bytes: [UInt8(spec.port >> 8), UInt8(spec.port & 0xff)])
                request.put(Int(IFLA_VXLAN_LEARNING), u8: 0)
            }
        }
        return request
    }

    public static func setMTU(index: Int32, mtu: UInt32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: NLM_F_ACK)
        request.putStruct(RouteRequests.linkHeader(index: index))
        request.put(Int(IFLA_MTU), u32: mtu)
        return request
    }

    public static func deleteAddress(_ address: IPNetwork, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELADDR), flags: NLM_F_ACK)
        var header = ifaddrmsg()
        header.ifa_family = UInt8(address.family.socketFamily)
        header.ifa_prefixlen = UInt8(address.prefixLength)
        header.ifa_index = UInt32(bitPattern: index)
        request.putStruct(header)
        request.put(Int(IFA_LOCAL), bytes: address.address.bytes)
        return request
    }

    /// A route owned by the agent, marked with `protocolID` so a later run finds its own among the
    /// node's routes. `onlink` tells the kernel the gateway is reachable on `index` without a route
    /// to it: the vxlan device has only a /32, and a remote VTEP address lies outside it.
    public static func replaceRoute(_ route: FabricRoute, protocolID: UInt8) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWROUTE), flags: replace)
        request.putStruct(routeHeader(route.destination, protocolID: protocolID, onlink: route.onlink))
        request.put(Int(RTA_DST.rawValue), bytes: route.destination.networkAddress.bytes)
        request.put(Int(RTA_GATEWAY.rawValue), bytes: route.gateway.bytes)
        request.put(Int(RTA_OIF.rawValue), u32: UInt32(bitPattern: route.outputIndex))
        return request
    }

    /// Deletes the main table's route to `destination`, whatever its gateway.
    public static func deleteRoute(_ destination: IPNetwork, protocolID: UInt8) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELROUTE), flags: NLM_F_ACK)
        request.putStruct(routeHeader(destination, protocolID: protocolID, onlink: false))
        request.put(Int(RTA_DST.rawValue), bytes: destination.networkAddress.bytes)
        return request
    }

    static func routeHeader(_ destination: IPNetwork, protocolID: UInt8, onlink: Bool) -> rtmsg {
        var header = rtmsg()
        header.rtm_family = UInt8(destination.family.socketFamily)
        header.rtm_dst_len = UInt8(destination.prefixLength)
        header.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        header.rtm_protocol = protocolID
        header.rtm_scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
        header.rtm_type = UInt8(RTN_UNICAST)
        header.rtm_flags = onlink ? UInt32(RTNH_F_ONLINK) : 0
        return header
    }
}
