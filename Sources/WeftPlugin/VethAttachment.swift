import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// One pod interface on the bridge datapath: the veth pair between the pod's namespace and the bridge,
/// with its addresses and routes.
struct VethAttachment {
    let plan: NetworkPlan
    let id: AttachmentID

    /// Creates the pair and configures both ends. Undoes nothing itself: the pair's undo (deleting the host
    /// end, which takes the pod's with it) goes to `undo` as soon as the pair exists, and the caller rolls
    /// back on error.
    func create(
        bridge: Link, links: LinkControl, pod: PodSandbox, addresses: [IPAddress], sysctl: SysctlControl,
        undo: (@escaping Undo) -> Void
    ) throws -> CNIResult {
        // Hairpin lets a pod's own traffic, DNATed back to it by kube-proxy on the bridge, leave by the port it came in.
        let host = try PodVeth.create(
            id, master: bridge.index, mtu: plan.mtu.map(UInt32.init), peerMAC: PodMAC.derived(from: addresses, avoiding: bridge.mac),
            hairpin: plan.hairpinMode, addresses: addresses, links: links, pod: pod, sysctl: sysctl, undo: undo)

        guard let podLink = try pod.links.link(named: id.ifname) else {
            throw CNIError(.datapathFailure, "\(id.ifname) vanished from \(pod.path) after it was created")
        }
        let ips = try PodInterface.configure(podLink, in: pod, plan: plan, addresses: addresses, resultIndex: 2)
        return CNIResult(
            interfaces: [
                .init(name: bridge.name, mac: bridge.macText),
                .init(name: host.name, mac: host.macText),
                .init(name: id.ifname, mac: podLink.macText, sandbox: pod.path, mtu: Int(podLink.mtu)),
            ],
            ips: ips,
            routes: plan.routes,
            dns: plan.dns)
    }
}

/// The veth pair of one attachment (the bridge and routed datapaths): the pod's end made in its
/// namespace, the pair's undo registered the moment it exists, the host end named after the attachment
/// by its alias, hairpin (bridge) and no router advertisements taken on it. Returns the host end.
enum PodVeth {
    static func create(
        _ id: AttachmentID, master: Int32?, mtu: UInt32?, peerMAC: [UInt8]?, hairpin: Bool, addresses: [IPAddress], links: LinkControl,
        pod: PodSandbox, sysctl: SysctlControl, undo: (@escaping Undo) -> Void
    ) throws -> Link {
        let hostName = id.hostVethName
        do {
            try links.createVeth(hostName: hostName, master: master, mtu: mtu, peerName: id.ifname, peerMAC: peerMAC, peer: pod)
        } catch let error as NetlinkError where error.isExists {
            throw CNIError(
                .nodeConflict, "host interface \(hostName) for \(id) already exists",
                details: "an earlier ADD of this container was not followed by DEL; run DEL first")
        }
        undo { _ = try links.deleteLink(named: hostName) }
        FaultInjection.point("add-after-veth")
        guard let host = try links.link(named: hostName) else {
            throw CNIError(.datapathFailure, "host interface \(hostName) vanished after it was created")
        }
        try links.setAlias(index: host.index, alias: id.alias(addresses: addresses.map(\.description)))
        if hairpin { try links.setHairpin(index: host.index, on: true) }
        try sysctl.write("net/ipv6/conf/\(hostName)/accept_ra", "0", optional: true)
        return host
    }
}

/// The pod side of an interface on a shared subnet (bridge, device): up with lo, the range's address
/// with the range's prefix, the plan's routes.
enum PodInterface {
    /// Returns the result's `ips`, naming `resultIndex` in the result's interfaces.
    static func configure(_ podLink: Link, in pod: PodSandbox, plan: NetworkPlan, addresses: [IPAddress], resultIndex: Int) throws -> [CNIResult.IPConfig] {
        if plan.ranges.contains(where: { $0.family == .v6 }) {
            // DAD would hold the link-local address "tentative" after the link comes up; the global
            // address skips it through IFA_F_NODAD.
            try pod.writeSysctl("net/ipv6/conf/\(podLink.name)/accept_dad", "0", optional: true)
        }
        let loopbackIndex: Int32 = 1
        try pod.links.setLinkUp(index: loopbackIndex)
        try pod.links.setLinkUp(index: podLink.index)
        var ips: [CNIResult.IPConfig] = []
        for address in addresses {
            guard let range = plan.ranges.first(where: { $0.family == address.family }),
                let assigned = IPNetwork(address: address, prefixLength: range.subnet.prefixLength)
            else { continue }
            try pod.links.addAddress(assigned, index: podLink.index)
            ips.append(CNIResult.IPConfig(address: assigned, gateway: range.gateway, interface: resultIndex))
        }
        for route in plan.routes {
            try pod.links.addRoute(route.destination, gateway: route.gateway, index: podLink.index)
        }
        return ips
    }
}
