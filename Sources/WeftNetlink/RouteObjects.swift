import CMnl
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// A link as RTM_NEWLINK describes it.
public struct Link: Equatable, Sendable {
    public let index: Int32
    public let name: String
    public let flags: UInt32
    public let mtu: UInt32
    public let masterIndex: Int32?
    public let mac: [UInt8]
    /// IFLA_INFO_KIND: "bridge", "veth", …; nil for physical devices and lo.
    public let kind: String?
    /// IFLA_BRPORT_MODE of a bridge port; nil when the link is no bridge port.
    public let hairpin: Bool?
    /// IFLA_IFALIAS, free text an owner can attach to a link.
    public let alias: String?

    public var isUp: Bool { flags & RouteRequests.interfaceUp != 0 }
    public var isPromiscuous: Bool { flags & RouteRequests.interfacePromiscuous != 0 }
    /// IFLA_LINK: a veth's peer index (in the peer's namespace), 0 when absent.
    public let peerIndex: Int32
    public var macText: String { MAC.text(mac) }

    public init(
        index: Int32, name: String, flags: UInt32 = 0, mtu: UInt32 = 1500, masterIndex: Int32? = nil, mac: [UInt8] = [],
        kind: String? = nil, hairpin: Bool? = nil, alias: String? = nil, peerIndex: Int32 = 0
    ) {
        self.index = index; self.name = name; self.flags = flags; self.mtu = mtu; self.masterIndex = masterIndex
        self.mac = mac; self.kind = kind; self.hairpin = hairpin; self.alias = alias; self.peerIndex = peerIndex
    }

    /// Parses RTM_NEWLINK's payload: ifinfomsg (16 bytes), then attributes.
    public init?(payload: [UInt8]) {
        guard let index = payload.loadInteger(Int32.self, at: 4), let flags = payload.loadInteger(UInt32.self, at: 8),
            payload.count >= 16
        else { return nil }
        self.index = index
        self.flags = flags
        let attributes = NetlinkAttribute.parse(payload, from: 16)
        name = attributes.first(Int(IFLA_IFNAME))?.string ?? ""
        mtu = attributes.first(Int(IFLA_MTU))?.u32 ?? 0
        masterIndex = attributes.first(Int(IFLA_MASTER))?.int32
        mac = attributes.first(Int(IFLA_ADDRESS))?.value ?? []
        let info = attributes.first(Int(IFLA_LINKINFO))?.nested ?? []
        kind = info.first(Int(IFLA_INFO_KIND))?.string
        let portKind = info.first(Int(IFLA_INFO_SLAVE_KIND))?.string
        let portData = info.first(Int(IFLA_INFO_SLAVE_DATA))?.nested ?? []
        hairpin = portKind == "bridge" ? portData.first(Int(IFLA_BRPORT_MODE))?.u8.map { $0 != 0 } : nil
        alias = attributes.first(Int(IFLA_IFALIAS))?.string
        peerIndex = attributes.first(Int(IFLA_LINK))?.int32 ?? 0
    }
}

/// An address as RTM_NEWADDR describes it.
public struct InterfaceAddress: Equatable, Sendable {
    public let index: Int32
    public let address: IPNetwork

    /// Parses ifaddrmsg (8 bytes), then attributes; IFA_LOCAL wins over IFA_ADDRESS (they differ only on point-to-point links).
    public init?(payload: [UInt8]) {
        guard let index = payload.loadInteger(Int32.self, at: 4), payload.count >= 8 else { return nil }
        let prefixLength = Int(payload[1])
        self.index = index
        let attributes = NetlinkAttribute.parse(payload, from: 8)
        guard let bytes = (attributes.first(Int(IFA_LOCAL)) ?? attributes.first(Int(IFA_ADDRESS)))?.value,
            let ip = IPAddress(bytes: bytes), let network = IPNetwork(address: ip, prefixLength: prefixLength)
        else { return nil }
        address = network
    }
}

/// A route of the main table as RTM_NEWROUTE describes it.
public struct Route: Equatable, Sendable {
    public let destination: IPNetwork
    public let gateway: IPAddress?
    public let outputIndex: Int32?
    public let table: UInt32

    /// Parses rtmsg (12 bytes), then attributes. A missing RTA_DST means the default route.
    public init?(payload: [UInt8]) {
        guard payload.count >= 12 else { return nil }
        let family = Int32(payload[0])
        let length = Int(payload[1])
        let attributes = NetlinkAttribute.parse(payload, from: 12)
        let zero = IPAddress.unspecified(family == AF_INET ? .v4 : .v6)
        let dst = attributes.first(Int(RTA_DST.rawValue)).flatMap { IPAddress(bytes: $0.value) } ?? zero
        guard let destination = IPNetwork(address: dst, prefixLength: length) else { return nil }
        self.destination = destination
        gateway = attributes.first(Int(RTA_GATEWAY.rawValue)).flatMap { IPAddress(bytes: $0.value) }
        outputIndex = attributes.first(Int(RTA_OIF.rawValue))?.int32
        table = attributes.first(Int(RTA_TABLE.rawValue))?.u32 ?? UInt32(payload[4])
    }
}
