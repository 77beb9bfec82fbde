import WeftAddress
import WeftNetlink

/// The kernel objects that connect this node to its peers, as plain values: what should be there
/// (from the leases) or what is there (from dumps).
public struct FabricState: Equatable, Sendable {
    public var routes: Set<FabricRoute> = []
    public var neighbours: Set<FabricNeighbour> = []
    public var forwarding: Set<FabricForwarding> = []

    public init(routes: Set<FabricRoute> = [], neighbours: Set<FabricNeighbour> = [], forwarding: Set<FabricForwarding> = []) {
        self.routes = routes; self.neighbours = neighbours; self.forwarding = forwarding
    }
}

/// Where the fabric lives on this node: the vxlan devices (vxlan; a second one for IPv6 on a
/// dual-stack network) or the underlay link (host-gw).
public struct FabricLinks: Equatable, Sendable {
    public let vxlanIndex: Int32?
    public let underlayIndex: Int32
    public let ipv6VxlanIndex: Int32?

    public init(vxlanIndex: Int32?, underlayIndex: Int32, ipv6VxlanIndex: Int32? = nil) {
        self.vxlanIndex = vxlanIndex; self.underlayIndex = underlayIndex; self.ipv6VxlanIndex = ipv6VxlanIndex
    }
}

public enum FabricPlan {
    /// flannel's scheme, so weftd and flanneld nodes interoperate. vxlan, per remote lease: a route to
    /// its subnet via its VTEP address (onlink on the vxlan device), a permanent neighbour entry (VTEP
    /// address → VtepMAC) and an FDB entry (VtepMAC → PublicIP). host-gw: a route via its PublicIP.
    /// Leases of another backend type, or vxlan leases without a VtepMAC, are left out.
    /// IPv6: the same per peer with an IPv6 subnet and PublicIPv6, on the IPv6 vxlan device (vxlan) or
    /// the underlay (host-gw), when this node is dual-stack too.
    public static func desired(peers: [SubnetLease], own: IPNetwork, backend: NetConf.Backend, links: FabricLinks) -> FabricState {
        desired(peers: peers, own: (own, links.ipv6VxlanIndex != nil), backend: backend, links: links)
    }

    public static func desired(
        peers: [SubnetLease], own: (subnet: IPNetwork, ipv6: Bool), backend: NetConf.Backend,
        links: FabricLinks
    ) -> FabricState {
        var state = FabricState()
        for peer in peers where peer.subnet != own.subnet.canonical && peer.attributes.backendType == backend.typeName {
            switch backend {
            case .vxlan:
                if let index = links.vxlanIndex, let mac = peer.attributes.vtepMAC {
                    state.connectVxlan(peer.subnet, vtep: peer.vtepAddress, mac: mac, remote: peer.attributes.publicIP, index: index)
                }
                if let index = links.ipv6VxlanIndex, let subnet = peer.ipv6Subnet, let vtep = peer.ipv6VtepAddress,
                    let mac = peer.attributes.ipv6VtepMAC, let remote = peer.attributes.publicIPv6
                {
                    state.connectVxlan(subnet, vtep: vtep, mac: mac, remote: remote, index: index)
                }
            case .hostGateway:
                state.routes.insert(
                    FabricRoute(
                        destination: peer.subnet, gateway: peer.attributes.publicIP,
                        outputIndex: links.underlayIndex, onlink: false))
                if own.ipv6, let subnet = peer.ipv6Subnet, let remote = peer.attributes.publicIPv6 {
                    state.routes.insert(FabricRoute(destination: subnet, gateway: remote, outputIndex: links.underlayIndex, onlink: false))
                }
            }
        }
        return state
    }
}

extension FabricState {
    /// flannel's vxlan entries for one remote subnet: route via the remote VTEP address (onlink),
    /// neighbour entry (VTEP address → VtepMAC), FDB entry (VtepMAC → the remote's underlay address).
    mutating func connectVxlan(_ subnet: IPNetwork, vtep: IPAddress, mac: [UInt8], remote: IPAddress, index: Int32) {
        routes.insert(FabricRoute(destination: subnet, gateway: vtep, outputIndex: index, onlink: true))
        neighbours.insert(FabricNeighbour(address: vtep, mac: mac, index: index))
        forwarding.insert(FabricForwarding(mac: mac, remote: remote, index: index))
    }
}

extension FabricPlan {
    /// host-gw routes through a peer's PublicIP (and PublicIPv6) directly, so each must lie on one of
    /// the underlay's subnets (the same L2 segment); vxlan reaches any routable PublicIP. Returns the peers that can
    /// be connected and the subnets of those that cannot.
    public static func reachable(_ peers: [SubnetLease], backend: NetConf.Backend, underlayNetworks: [IPNetwork])
        -> (peers: [SubnetLease], unreachable: Set<IPNetwork>)
    {
        guard backend == .hostGateway else { return (peers, []) }
        var connected: [SubnetLease] = []
        var unreachable: Set<IPNetwork> = []
        for peer in peers {
            let ipv6OK = peer.attributes.publicIPv6.map { address in underlayNetworks.contains { $0.contains(address) } } ?? true
            if underlayNetworks.contains(where: { $0.contains(peer.attributes.publicIP) }) && ipv6OK {
                connected.append(peer)
            } else {
                unreachable.insert(peer.subnet)
            }
        }
        return (connected, unreachable)
    }
}

/// What to change so `present` becomes `desired`. Objects are matched by key (a route by destination,
/// a neighbour by address, an FDB entry by MAC and remote): a key present with other values is set
/// again (the requests replace), a key not desired is deleted.
public struct FabricDiff: Equatable, Sendable {
    public var routesToSet: [FabricRoute] = []
    public var routesToDelete: [FabricRoute] = []
    public var neighboursToSet: [FabricNeighbour] = []
    public var neighboursToDelete: [FabricNeighbour] = []
    public var forwardingToSet: [FabricForwarding] = []
    public var forwardingToDelete: [FabricForwarding] = []

    public init(desired: FabricState, present: FabricState) {
        let wantedRoutes = Set(desired.routes.map(\.destination))
        routesToSet = desired.routes.subtracting(present.routes).sorted { $0.destination.description < $1.destination.description }
        routesToDelete = present.routes.filter { !wantedRoutes.contains($0.destination) }
            .sorted { $0.destination.description < $1.destination.description }
        let wantedNeighbours = Set(desired.neighbours.map(\.address))
        neighboursToSet = desired.neighbours.subtracting(present.neighbours).sorted { $0.address < $1.address }
        neighboursToDelete = present.neighbours.filter { !wantedNeighbours.contains($0.address) }.sorted { $0.address < $1.address }
        forwardingToSet = desired.forwarding.subtracting(present.forwarding).sorted { $0.remote < $1.remote }
        forwardingToDelete = present.forwarding.subtracting(desired.forwarding).sorted { $0.remote < $1.remote }
    }

    public var isEmpty: Bool {
        routesToSet.isEmpty && routesToDelete.isEmpty && neighboursToSet.isEmpty && neighboursToDelete.isEmpty
            && forwardingToSet.isEmpty && forwardingToDelete.isEmpty
    }

    public var changeCount: Int {
        routesToSet.count + routesToDelete.count + neighboursToSet.count + neighboursToDelete.count
            + forwardingToSet.count + forwardingToDelete.count
    }
}
