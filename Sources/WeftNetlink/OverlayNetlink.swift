import CMnl
import SystemPackage
import WeftAddress
#if canImport(Glibc)
import Glibc
#endif

/// rtnetlink operations for the node-to-node fabric: the vxlan device, routes to remote subnets,
/// neighbour and FDB entries. A view of its handle's NETLINK_ROUTE socket; not thread-safe (the agent
/// calls it from one serial queue).
public final class OverlayNetlink {
    public let handle: NetlinkHandle
    private var connection: NetlinkSocket { get throws { try handle.route } }

    public init(handle: NetlinkHandle) {
        self.handle = handle
    }

    /// Over one transport (a test's replayed bytes).
    public convenience init(transport: NetlinkTransport) {
        self.init(handle: NetlinkHandle(route: transport))
    }

    // MARK: links and addresses

    /// The link named `name` with its vxlan info (nil info when it is no vxlan device), or nil.
    public func linkWithVxlanInfo(named name: String) throws -> (link: Link, vxlan: VxlanInfo?)? {
        do {
            let replies = try connection.execute(RouteRequests.getLink(name: name), operation: "get link \(name)")
            guard let payload = replies.first?.payload, let link = Link(payload: payload) else { return nil }
            return (link, VxlanInfo(linkPayload: payload))
        } catch let error as NetlinkError where error.isNoDevice {
            return nil
        }
    }

    public func link(named name: String) throws -> Link? { try linkWithVxlanInfo(named: name)?.link }

    public func createVxlan(_ spec: VxlanSpec) throws {
        try connection.execute(OverlayRequests.createVxlan(spec), operation: "create vxlan \(spec.name) (VNI \(spec.vni))")
    }

    public func deleteLink(index: Int32) throws {
        try connection.execute(RouteRequests.deleteLink(index: index), operation: "delete link \(index)")
    }

    public func setMTU(index: Int32, mtu: UInt32) throws {
        try connection.execute(OverlayRequests.setMTU(index: index, mtu: mtu), operation: "set mtu \(mtu) on link \(index)")
    }

    public func setLinkUp(index: Int32) throws {
        try connection.execute(RouteRequests.setLinkUp(index: index), operation: "set link \(index) up")
    }

    public func addresses(index: Int32) throws -> [IPNetwork] {
        try connection.execute(RouteRequests.dumpAddresses(family: nil, index: index), operation: "list addresses")
            .compactMap { InterfaceAddress(payload: $0.payload) }
            .filter { $0.index == index }
            .map(\.address)
    }

    public func addAddress(_ address: IPNetwork, index: Int32) throws {
        try connection.execute(RouteRequests.addAddress(address, index: index), operation: "add address \(address) to link \(index)")
    }

    public func deleteAddress(_ address: IPNetwork, index: Int32) throws {
        try connection.execute(OverlayRequests.deleteAddress(address, index: index), operation: "delete address \(address) from link \(index)")
    }

    // MARK: routes

    /// The main table's routes of one family carrying `protocolID`: the ones the agent installed.
    public func routes(family: IPAddress.Family, protocolID: UInt8) throws -> [FabricRoute] {
        try connection.execute(RouteRequests.dumpRoutes(family: family), operation: "list routes")
            .compactMap { RouteEntry(payload: $0.payload) }
            .filter { $0.protocolID == protocolID && $0.table == UInt32(RT_TABLE_MAIN.rawValue) }
            .map(\.route)
    }

    /// The destinations of the main table's routes that do not carry `protocolID`: routes someone
    /// else made (the kernel's, an operator's, another agent's), which the agent must never replace.
    public func foreignRouteDestinations(family: IPAddress.Family, protocolID: UInt8) throws -> Set<IPNetwork> {
        Set(
            try connection.execute(RouteRequests.dumpRoutes(family: family), operation: "list routes").compactMap { message -> IPNetwork? in
                // rtmsg's sixth byte is rtm_protocol.
                guard message.payload.count >= 12, message.payload[5] != protocolID, let route = Route(payload: message.payload),
                    route.table == UInt32(RT_TABLE_MAIN.rawValue)
                else { return nil }
                return route.destination.canonical
            })
    }

    public func replaceRoute(_ route: FabricRoute, protocolID: UInt8) throws {
        try connection.execute(OverlayRequests.replaceRoute(route, protocolID: protocolID), operation: "set route \(route)")
    }

    /// Deletes the route to `destination`; returns false when there was none (ESRCH).
    @discardableResult
    public func deleteRoute(_ destination: IPNetwork, protocolID: UInt8) throws -> Bool {
        do {
            try connection.execute(OverlayRequests.deleteRoute(destination, protocolID: protocolID), operation: "delete route \(destination)")
            return true
        } catch let error as NetlinkError where [.noSuchProcess, .noSuchFileOrDirectory].contains(error.code) {
            return false
        }
    }

    // MARK: neighbours and forwarding entries

    /// Permanent neighbour entries on `index`.
    public func neighbours(family: IPAddress.Family, index: Int32) throws -> [FabricNeighbour] {
        try connection.execute(NeighbourRequests.dumpNeighbours(family: family, index: index), operation: "list neighbours")
            .compactMap { NeighbourEntry(payload: $0.payload) }
            .filter { $0.index == index && $0.isPermanent && $0.mac.count == 6 }
            .compactMap { entry in entry.destination.map { FabricNeighbour(address: $0, mac: entry.mac, index: index) } }
    }

    public func replaceNeighbour(_ entry: FabricNeighbour) throws {
        try connection.execute(NeighbourRequests.replaceNeighbour(entry), operation: "set neighbour \(entry)")
    }

    public func deleteNeighbour(_ entry: FabricNeighbour) throws {
        do {
            try connection.execute(
                NeighbourRequests.deleteNeighbour(address: entry.address, index: entry.index),
                operation: "delete neighbour \(entry)")
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {}
    }

    /// Permanent forwarding entries of the vxlan device `index` that name a remote.
    public func forwardingEntries(index: Int32) throws -> [FabricForwarding] {
        try connection.execute(NeighbourRequests.dumpForwarding(index: index), operation: "list forwarding entries")
            .compactMap { NeighbourEntry(payload: $0.payload) }
            .filter { $0.family == UInt8(AF_BRIDGE) && $0.index == index && $0.isPermanent && $0.mac.count == 6 }
            .compactMap { entry in entry.destination.map { FabricForwarding(mac: entry.mac, remote: $0, index: index) } }
    }

    public func replaceForwarding(_ entry: FabricForwarding) throws {
        try connection.execute(NeighbourRequests.replaceForwarding(entry), operation: "set forwarding entry \(entry)")
    }

    public func deleteForwarding(_ entry: FabricForwarding) throws {
        do {
            try connection.execute(NeighbourRequests.deleteForwarding(entry), operation: "delete forwarding entry \(entry)")
        } catch let error as NetlinkError where error.code == .noSuchFileOrDirectory {}
    }
}
