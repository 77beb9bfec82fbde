import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// Builders for the rtnetlink requests Weft sends. Pure: they only lay out bytes, so tests compare them.
public enum RouteRequests {
    static let create = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK
    /// IFF_UP from <net/if.h>.
    static let interfaceUp: UInt32 = 0x1
    /// IFF_PROMISC from <net/if.h>.
    static let interfacePromiscuous: UInt32 = 0x100
    /// BR_HAIRPIN_MODE value for IFLA_BRPORT_MODE.
    static let hairpinOn: UInt8 = 1

    static func linkHeader(index: Int32 = 0, family: UInt8 = UInt8(AF_UNSPEC), up: Bool? = nil) -> ifinfomsg {
        var header = ifinfomsg()
        header.ifi_family = family
        header.ifi_index = index
        if let up {
            header.ifi_flags = up ? interfaceUp : 0
            header.ifi_change = interfaceUp
        }
        return header
    }

    public static func getLink(name: String) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader())
        request.put(Int(IFLA_IFNAME), string: name)
        return request
    }

    public static func dumpLinks() -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETLINK), flags: NLM_F_DUMP)
        request.putStruct(linkHeader())
        return request
    }

    public static func getLink(index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index))
        return request
    }

    /// A bridge created up, with a fixed MAC: a bridge whose address was set never changes it as ports
    /// come and go, so pods' ARP entries for the gateway stay valid.
    public static func createBridge(name: String, mac: [UInt8], mtu: UInt32?) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: create)
        request.putStruct(linkHeader(up: true))
        request.put(Int(IFLA_IFNAME), string: name)
        request.put(Int(IFLA_ADDRESS), bytes: mac)
        if let mtu { request.put(Int(IFLA_MTU), u32: mtu) }
        request.nest(Int(IFLA_LINKINFO)) {
            request.put(Int(IFLA_INFO_KIND), string: "bridge")
        }
        return request
    }

    /// A veth pair in one message: the host end up and enslaved to `master`, the peer born inside
    /// the pod's namespace with its final name and MAC (it cannot be set up here: the kernel answers
    /// ENOTCONN while the pair is half made, so the pod side brings it up afterwards).
    public static func createVeth(
        hostName: String, master: Int32?, mtu: UInt32?,
        peerName: String, peerMAC: [UInt8]?, peerNamespaceFD: Int32
    ) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: create)
        request.putStruct(linkHeader(up: true))
        request.put(Int(IFLA_IFNAME), string: hostName)
        if let mtu { request.put(Int(IFLA_MTU), u32: mtu) }
        if let master { request.put(Int(IFLA_MASTER), u32: UInt32(bitPattern: master)) }
        request.nest(Int(IFLA_LINKINFO)) {
            request.put(Int(IFLA_INFO_KIND), string: "veth")
            request.nest(Int(IFLA_INFO_DATA)) {
                request.nest(Int(VETH_INFO_PEER)) {
                    request.putStruct(linkHeader())
                    request.put(Int(IFLA_IFNAME), string: peerName)
                    if let peerMAC { request.put(Int(IFLA_ADDRESS), bytes: peerMAC) }
                    if let mtu { request.put(Int(IFLA_MTU), u32: mtu) }
                    request.put(Int(IFLA_NET_NS_FD), u32: UInt32(bitPattern: peerNamespaceFD))
                }
            }
        }
        return request
    }

    /// The kernel ignores IFLA_IFALIAS in a create message, so the alias is set on the existing link.
    public static func setAlias(index: Int32, alias: String) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index))
        request.put(Int(IFLA_IFALIAS), string: alias)
        return request
    }

    /// One change to an existing link: down (moving it needs no "down": the kernel closes a device it
    /// moves), MTU, and a move into the namespace open at `namespaceFD` under `name`. With both, the
    /// kernel moves the device first (keeping its name unless that name is taken there) and renames it
    /// inside the new namespace, all in this one request (rtnetlink's do_setlink).
    public static func changeLink(
        index: Int32, name: String? = nil, mtu: UInt32? = nil, namespaceFD: Int32? = nil,
        up: Bool? = nil
    ) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index, up: up))
        if let namespaceFD { request.put(Int(IFLA_NET_NS_FD), u32: UInt32(bitPattern: namespaceFD)) }
        if let name { request.put(Int(IFLA_IFNAME), string: name) }
        if let mtu { request.put(Int(IFLA_MTU), u32: mtu) }
        return request
    }

    public static func setLinkUp(index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index, up: true))
        return request
    }

    /// Promiscuous mode through the link flags: ifi_change names the one flag changed.
    public static func setPromiscuous(index: Int32, on: Bool) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWLINK), flags: NLM_F_ACK)
        var header = linkHeader(index: index)
        header.ifi_flags = on ? interfacePromiscuous : 0
        header.ifi_change = interfacePromiscuous
        request.putStruct(header)
        return request
    }

    /// Bridge port flags go through the bridge's own setlink (family AF_BRIDGE), in a nested IFLA_PROTINFO.
    public static func setHairpin(index: Int32, on: Bool) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_SETLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index, family: UInt8(AF_BRIDGE)))
        request.nest(Int(IFLA_PROTINFO)) {
            request.put(Int(IFLA_BRPORT_MODE), u8: on ? hairpinOn : 0)
        }
        return request
    }

    public static func deleteLink(index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader(index: index))
        return request
    }

    public static func deleteLink(name: String) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_DELLINK), flags: NLM_F_ACK)
        request.putStruct(linkHeader())
        request.put(Int(IFLA_IFNAME), string: name)
        return request
    }

    /// IPv6 addresses are added with IFA_F_NODAD: the pod's address is unique by allocation, and
    /// duplicate address detection would leave it "tentative" (unusable) for a second after ADD returns.
    public static func addAddress(_ address: IPNetwork, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWADDR), flags: create)
        var header = ifaddrmsg()
        header.ifa_family = UInt8(address.family.socketFamily)
        header.ifa_prefixlen = UInt8(address.prefixLength)
        header.ifa_index = UInt32(bitPattern: index)
        let flags: UInt32 = address.family == .v6 ? UInt32(IFA_F_NODAD) : 0
        header.ifa_flags = UInt8(truncatingIfNeeded: flags)
        request.putStruct(header)
        request.put(Int(IFA_LOCAL), bytes: address.address.bytes)
        request.put(Int(IFA_ADDRESS), bytes: address.address.bytes)
        if address.family == .v4 { request.put(Int(IFA_BROADCAST), bytes: address.lastAddress.bytes) }
        if flags != 0 { request.put(Int(IFA_FLAGS), u32: flags) }
        return request
    }

    /// With NETLINK_GET_STRICT_CHK on the socket the kernel returns only `index`'s addresses.
    public static func dumpAddresses(family: IPAddress.Family?, index: Int32 = 0) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETADDR), flags: NLM_F_DUMP)
        var header = ifaddrmsg()
        header.ifa_family = UInt8(family?.socketFamily ?? AF_UNSPEC)
        header.ifa_index = UInt32(bitPattern: index)
        request.putStruct(header)
        return request
    }

    /// A route in `table` (main by default); without a gateway it is scope link, the destination on the link.
    public static func addRoute(_ destination: IPNetwork, gateway: IPAddress?, index: Int32, table: UInt32? = nil) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_NEWROUTE), flags: create)
        var header = rtmsg()
        header.rtm_family = UInt8(destination.family.socketFamily)
        header.rtm_dst_len = UInt8(destination.prefixLength)
        // Tables above 255 travel in RTA_TABLE, with RT_TABLE_UNSPEC in the header.
        header.rtm_table = UInt8(table.map { $0 < 256 ? $0 : UInt32(RT_TABLE_UNSPEC.rawValue) } ?? UInt32(RT_TABLE_MAIN.rawValue))
        header.rtm_protocol = UInt8(RTPROT_BOOT)
        header.rtm_scope = UInt8(gateway == nil ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue)
        header.rtm_type = UInt8(RTN_UNICAST)
        request.putStruct(header)
        if destination.prefixLength > 0 { request.put(Int(RTA_DST.rawValue), bytes: destination.networkAddress.bytes) }
        if let gateway { request.put(Int(RTA_GATEWAY.rawValue), bytes: gateway.bytes) }
        request.put(Int(RTA_OIF.rawValue), u32: UInt32(bitPattern: index))
        if let table { request.put(Int(RTA_TABLE.rawValue), u32: table) }
        return request
    }

    public static func dumpRoutes(family: IPAddress.Family) -> NetlinkRequest {
        let request = NetlinkRequest(type: Int(RTM_GETROUTE), flags: NLM_F_DUMP)
        var header = rtmsg()
        header.rtm_family = UInt8(family.socketFamily)
        request.putStruct(header)
        return request
    }
}
