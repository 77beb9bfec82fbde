import SystemPackage
import WeftAddress
import WeftCNI
import WeftIPAM
import WeftIdentity
import WeftNetlink
#if canImport(Glibc)
import Glibc
#endif

/// One pod interface on the routed datapath: a veth pair with no bridge. The pod holds its address as
/// a /32 (/128) and sends everything to a link-local next hop (169.254.1.1, fe80::1) that a permanent
/// neighbour entry in the pod resolves to the host end's MAC: no ARP leaves the pod for it and nothing on
/// the node has to answer. The node reaches the pod by a /32 route through the host end, so which pod
/// gets a packet is the node's routing decision alone: a pod announcing a neighbour's address captures
/// nothing.
///
/// With an uplink (Terway's shared ENI) each address also gets two rules: `to ADDRESS lookup main`
/// (priority 1000: traffic to the pod, from anywhere, follows the /32 route) and `from ADDRESS lookup
/// TABLE` (priority 1100: the pod's own traffic leaves by the uplink's gateway, not the node's default
/// route), TABLE holding `default via GATEWAY dev UPLINK`; and a proxy neighbour entry on the uplink, so
/// hosts of the underlay reach the pod directly at its address, without NAT.
struct RoutedAttachment {
    let plan: NetworkPlan
    let id: AttachmentID
    let uplink: Uplink?

    static let nextHop4 = IPAddress("169.254.1.1")
    static let nextHop6 = IPAddress("fe80::1")
    static let toPodPriority: UInt32 = 1000
    static let fromPodPriority: UInt32 = 1100
    /// RT_TABLE_MAIN.
    static let mainTable: UInt32 = 254

    /// The uplink's routing table: 0x5745 ("WE") in the high half, 16 bits of FNV-1a over the device's
    /// name below, so several uplinks get distinct tables and a node keeps them across restarts.
    static func table(of device: String) -> UInt32 {
        0x5745_0000 | UInt32(truncatingIfNeeded: FNV1a.hash(Array(device.utf8)) & 0xffff)
    }

    /// Node state shared by the network's pods: forwarding, and the uplink's table.
    static func prepareNode(_ plan: NetworkPlan, uplink: Uplink?, links: LinkControl, sysctl: SysctlControl) throws {
        if plan.ranges.contains(where: { $0.family == .v4 }), sysctl.read("net/ipv4/ip_forward") != "1" {
            try sysctl.write("net/ipv4/ip_forward", "1", optional: false)
        }
        if plan.ranges.contains(where: { $0.family == .v6 }), sysctl.read("net/ipv6/conf/all/forwarding") != "1" {
            try sysctl.write("net/ipv6/conf/all/forwarding", "1", optional: false)
        }
        guard let uplink else { return }
        guard let device = try links.link(named: uplink.device) else {
            throw CNIError(.invalidConfig, "uplink.device \(uplink.device) does not exist on the node")
        }
        if uplink.gateway.family == .v6 { try sysctl.write("net/ipv6/conf/\(uplink.device)/proxy_ndp", "1", optional: false) }
        do {
            try links.addRoute(IPNetwork.defaultRoute(uplink.gateway.family), gateway: uplink.gateway, index: device.index, table: table(of: uplink.device))
        } catch let error as NetlinkError where error.isExists {}
    }

    func create(
        links: LinkControl, pod: PodSandbox, addresses: [IPAddress], sysctl: SysctlControl,
        undo: (@escaping Undo) -> Void
    ) throws -> CNIResult {
        let host = try PodVeth.create(
            id, master: nil, mtu: plan.mtu.map(UInt32.init), peerMAC: PodMAC.derived(from: addresses), hairpin: false, addresses: addresses,
            links: links, pod: pod, sysctl: sysctl, undo: undo)
        guard let podLink = try pod.links.link(named: id.ifname) else {
            throw CNIError(.datapathFailure, "\(id.ifname) vanished from \(pod.path) after it was created")
        }
        if addresses.contains(where: { $0.family == .v6 }) {
            try pod.writeSysctl("net/ipv6/conf/\(id.ifname)/accept_dad", "0", optional: true)
        }
        try pod.links.setLinkUp(index: 1)
        try pod.links.setLinkUp(index: podLink.index)

        var ips: [CNIResult.IPConfig] = []
        var routes: [CNIResult.Route] = []
        for address in addresses {
            guard let single = IPNetwork(address: address, prefixLength: address.bitWidth), let nextHop = Self.nextHop(address.family) else { continue }
            try pod.links.addAddress(single, index: podLink.index)
            try pod.links.addPermanentNeighbour(nextHop, mac: host.mac, index: podLink.index)
            if address.family == .v4, let onLink = IPNetwork(address: nextHop, prefixLength: 32) {
                try pod.links.addRoute(onLink, gateway: nil, index: podLink.index)
            }
            let everywhere = IPNetwork.defaultRoute(address.family)
            try pod.links.addRoute(everywhere, gateway: nextHop, index: podLink.index)
            try links.addRoute(single, gateway: nil, index: host.index)
            ips.append(CNIResult.IPConfig(address: single, gateway: nextHop, interface: 1))
            routes.append(CNIResult.Route(destination: everywhere, gateway: nextHop))
        }
        if let uplink {
            try attachToUplink(uplink, addresses: addresses, links: links, undo: undo)
            FaultInjection.point("add-after-uplink")
        }
        return CNIResult(
            interfaces: [
                .init(name: host.name, mac: host.macText),
                .init(name: id.ifname, mac: podLink.macText, sandbox: pod.path, mtu: Int(podLink.mtu)),
            ],
            ips: ips, routes: routes, dns: plan.dns)
    }

    private func attachToUplink(_ uplink: Uplink, addresses: [IPAddress], links: LinkControl, undo: (@escaping Undo) -> Void) throws {
        guard let device = try links.link(named: uplink.device) else {
            throw CNIError(.invalidConfig, "uplink.device \(uplink.device) does not exist on the node")
        }
        let table = Self.table(of: uplink.device)
        for address in addresses where address.family == uplink.gateway.family {
            guard let single = IPNetwork(address: address, prefixLength: address.bitWidth) else { continue }
            try links.rule(add: true, from: nil, to: single, table: Self.mainTable, priority: Self.toPodPriority)
            undo { _ = try links.rule(add: false, from: nil, to: single, table: Self.mainTable, priority: Self.toPodPriority) }
            try links.rule(add: true, from: single, to: nil, table: table, priority: Self.fromPodPriority)
            undo { _ = try links.rule(add: false, from: single, to: nil, table: table, priority: Self.fromPodPriority) }
            try links.proxyNeighbour(add: true, address, index: device.index)
            undo { _ = try links.proxyNeighbour(add: false, address, index: device.index) }
        }
    }

    /// DEL's part: the rules and proxy entries of `addresses` on `uplink` (the /32 routes went with the veth).
    /// Missing ones are no error: DEL is repeatable.
    static func removeUplinkState(addresses: [IPAddress], uplink: String, links: LinkControl) throws {
        let device = try links.link(named: uplink)
        for address in addresses {
            guard let single = IPNetwork(address: address, prefixLength: address.bitWidth) else { continue }
            for (from, to, table, priority) in [(nil, single, mainTable, toPodPriority), (single, nil, Self.table(of: uplink), fromPodPriority)] {
                do { try links.rule(add: false, from: from, to: to, table: table, priority: priority) } catch let error as NetlinkError
                    where error.code == .noSuchFileOrDirectory
                {}
            }
            if let device {
                do { try links.proxyNeighbour(add: false, address, index: device.index) } catch let error as NetlinkError
                    where error.code == .noSuchFileOrDirectory
                {}
            }
        }
    }

    static func nextHop(_ family: IPAddress.Family) -> IPAddress? { family == .v4 ? nextHop4 : nextHop6 }
}
