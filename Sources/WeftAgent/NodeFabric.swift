import WeftAddress
import WeftNetlink
import WeftSystem

/// The underlay link the fabric runs over: the node's address other nodes reach it by.
public struct Underlay: Equatable, Sendable {
    public let name: String
    public let index: Int32
    public let publicIP: IPAddress
    public let mtu: UInt32
    /// The networks directly attached to the link: host-gw peers must be inside one.
    public let networks: [IPNetwork]
    /// A dual-stack node's IPv6 address other nodes reach it by.
    public var publicIPv6: IPAddress? = nil
}

/// The kernel side of the fabric in the agent's namespace: the vxlan device, and routes, neighbour
/// and FDB entries as plain values in and out. Not thread-safe: used from the KernelQueue only
/// (hence the unchecked Sendable).
public final class NodeFabric: @unchecked Sendable {
    /// rtm_protocol of the agent's routes, so a later run tells its own from others' (0x57, "W").
    public static let routeProtocol: UInt8 = 0x57
    /// VXLAN adds 50 bytes on IPv4: outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14; 70 over IPv6
    /// (outer header 40). flannel takes 50 off for both, which drops full-size packets on the IPv6
    /// device; weftd takes 70 off on a dual-stack vxlan network, for both (pods have one MTU).
    public static let vxlanOverhead: UInt32 = 50
    public static let ipv6VxlanOverhead: UInt32 = 70

    private let netlink: OverlayNetlink
    /// The vxlan devices' checksum offload (ethtool's ioctl): opened with the netlink socket, in the
    /// same namespace, which is where its requests act.
    private let ethtool: EthtoolSocket

    /// Sockets in the calling thread's namespace: weftd's own (it runs in the node's namespace and never
    /// calls setns), or a test's throwaway namespace entered for the call.
    public init() throws {
        netlink = OverlayNetlink(handle: .current())
        ethtool = try EthtoolSocket()
    }

    public init(netlink: OverlayNetlink, ethtool: EthtoolSocket) {
        self.netlink = netlink
        self.ethtool = ethtool
    }

    /// The link named `name` (or the default route's link) and its first IPv4 address, unless `publicIP` says which.
    public func underlay(name: String?, publicIP: IPAddress?, publicIPv6: IPAddress? = nil, ipv6: Bool = false) throws -> Underlay {
        let link: Link
        if let name {
            guard let found = try netlink.link(named: name) else { throw AgentError(.node, "--iface \(name): no such link") }
            link = found
        } else {
            let routes = RouteNetlink(handle: netlink.handle)
            guard let index = try routes.routes(family: .v4).first(where: { $0.destination.prefixLength == 0 })?.outputIndex,
                let found = try routes.link(index: index)
            else { throw AgentError(.node, "no default route to pick the underlay link from: give --iface") }
            link = found
        }
        let all = try netlink.addresses(index: link.index)
        let networks = all.filter { $0.family == .v4 }
        guard let address = publicIP ?? networks.first?.address else {
            throw AgentError(.node, "link \(link.name) has no IPv4 address to use as PublicIP")
        }
        // Global IPv6 addresses only: a link-local one reaches nobody beyond the link's scope.
        let ipv6Networks = all.filter { $0.family == .v6 && !$0.address.isIPv6LinkLocal }
        var underlay = Underlay(
            name: link.name, index: link.index, publicIP: address, mtu: link.mtu,
            networks: (networks + ipv6Networks).map(\.canonical))
        if ipv6 {
            guard let v6 = publicIPv6 ?? ipv6Networks.first?.address else {
                throw AgentError(.node, "the network is dual-stack (EnableIPv6) and link \(link.name) has no global IPv6 address to use as PublicIPv6")
            }
            underlay.publicIPv6 = v6
        }
        return underlay
    }

    /// A MAC that depends only on the node's underlay address: a device recreated after a crash or a
    /// reboot keeps it, so peers' neighbour and FDB entries stay right. Locally administered, unicast.
    public static func vtepMAC(publicIP: IPAddress) -> [UInt8] { [0x0e, 0x57] + publicIP.bytes.suffix(4) }
    /// The IPv6 device's MAC, from the IPv6 address: 0e:36 ("6") and its last four bytes.
    public static func ipv6VtepMAC(publicIPv6: IPAddress) -> [UInt8] { [0x0e, 0x36] + publicIPv6.bytes.suffix(4) }

    /// Makes the vxlan device what `spec` says with `vtep`/32 (/128) its only address of that family, up; reuses a
    /// matching device (its MAC, hence peers' entries, survive), replaces one that differs. Its transmit
    /// checksum offload is set to `txChecksumOffload` whether the device is new or adopted from an
    /// earlier run (TxChecksumOffload says why it may have to be off).
    public func ensureVxlan(_ spec: VxlanSpec, vtep: IPAddress, txChecksumOffload: Bool) throws -> Int32 {
        if let existing = try netlink.linkWithVxlanInfo(named: spec.name),
            existing.vxlan?.matches(spec) != true || existing.link.mac != spec.mac
        {
            try netlink.deleteLink(index: existing.link.index)
        }
        if try netlink.link(named: spec.name) == nil {
            try netlink.createVxlan(spec)
        }
        guard let link = try netlink.link(named: spec.name) else {
            throw AgentError(.node, "vxlan device \(spec.name) vanished after its creation")
        }
        if link.mtu != spec.mtu { try netlink.setMTU(index: link.index, mtu: spec.mtu) }
        try setTxChecksumOffload(device: spec.name, enabled: txChecksumOffload)
        let wanted = IPNetwork(address: vtep, prefixLength: vtep.bitWidth)
        // The kernel's own IPv6 link-local address stays.
        let present = try netlink.addresses(index: link.index).filter { $0.family == vtep.family && !$0.address.isIPv6LinkLocal }
        for stale in present where stale != wanted {
            try netlink.deleteAddress(stale, index: link.index)
        }
        if let wanted, !present.contains(wanted) {
            do { try netlink.addAddress(wanted, index: link.index) } catch let error as NetlinkError where error.isExists {}
        }
        if !link.isUp { try netlink.setLinkUp(index: link.index) }
        return link.index
    }

    /// Sets `device`'s transmit checksum offload when it differs, then reads it back: the kernel may
    /// refuse a feature silently (it recomputes the features from what the device can do).
    func setTxChecksumOffload(device: String, enabled: Bool) throws {
        let state = enabled ? "on" : "off"
        do {
            if try ethtool.txChecksumOffload(device: device) == enabled { return }
            try ethtool.setTxChecksumOffload(device: device, enabled: enabled)
            guard try ethtool.txChecksumOffload(device: device) == enabled else {
                throw AgentError(.node, "vxlan device \(device): tx checksum offload is still \(enabled ? "off" : "on") after asking for \(state)")
            }
        } catch let error as SystemError {
            throw AgentError(.node, "vxlan device \(device): cannot turn tx checksum offload \(state): \(error)")
        }
    }

    /// What the agent owns in the kernel now: its routes (by protocol) and the vxlan device's entries.
    public func present(links: FabricLinks) throws -> FabricState {
        var state = FabricState(
            routes: Set(
                try netlink.routes(family: .v4, protocolID: Self.routeProtocol)
                    + netlink.routes(family: .v6, protocolID: Self.routeProtocol)))
        for (index, family) in [(links.vxlanIndex, IPAddress.Family.v4), (links.ipv6VxlanIndex, .v6)] {
            guard let index else { continue }
            state.neighbours.formUnion(try netlink.neighbours(family: family, index: index))
            state.forwarding.formUnion(try netlink.forwardingEntries(index: index))
        }
        return state
    }

    /// Routes weftd must leave alone: any main-table route to the same destination made by someone else.
    public func foreignRouteDestinations() throws -> Set<IPNetwork> {
        try netlink.foreignRouteDestinations(family: .v4, protocolID: Self.routeProtocol)
            .union(netlink.foreignRouteDestinations(family: .v6, protocolID: Self.routeProtocol))
    }

    /// Applies `diff`, deletions first; keeps going after a failure and returns every failure, so
    /// one refused entry does not hold back the rest.
    public func apply(_ diff: FabricDiff) -> [Error] {
        var failures: [Error] = []
        func attempt(_ body: () throws -> Void) {
            do { try body() } catch { failures.append(error) }
        }
        for route in diff.routesToDelete { attempt { try netlink.deleteRoute(route.destination, protocolID: Self.routeProtocol) } }
        for entry in diff.neighboursToDelete { attempt { try netlink.deleteNeighbour(entry) } }
        for entry in diff.forwardingToDelete { attempt { try netlink.deleteForwarding(entry) } }
        // Neighbour and FDB entries before routes: a packet following a new route finds its VTEP resolved.
        for entry in diff.forwardingToSet { attempt { try netlink.replaceForwarding(entry) } }
        for entry in diff.neighboursToSet { attempt { try netlink.replaceNeighbour(entry) } }
        for route in diff.routesToSet { attempt { try netlink.replaceRoute(route, protocolID: Self.routeProtocol) } }
        return failures
    }
}
