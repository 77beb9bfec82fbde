import WeftAddress
import WeftCNI
import WeftIPAM
import WeftNetlink

/// One pod interface: the veth pair between the pod's namespace and the bridge, with its addresses and routes.
struct Attachment {
    let plan: NetworkPlan
    let containerID: String
    let ifname: String

    var hostName: String { Naming.hostVeth(network: plan.name, containerID: containerID, ifname: ifname) }

    /// Creates the pair and configures both ends. Undoes nothing itself: the caller rolls back on error.
    func create(bridge: Link, node: RouteNetlink, pod: RouteNetlink, namespace: NetworkNamespace,
                addresses: [IPAddress], onCreated: () -> Void) throws -> CNIResult {
        let mtu = plan.mtu.map(UInt32.init)
        do {
            try node.createVeth(hostName: hostName, master: bridge.index, mtu: mtu, peerName: ifname,
                                peerMAC: addresses.first.map(MAC.derived(from:)), peerNamespace: namespace)
        } catch let error as NetlinkError where error.isExists {
            throw CNIError(.nodeConflict, "host interface \(hostName) for container \(containerID) already exists",
                           details: "an earlier ADD of this container was not followed by DEL; run DEL first")
        }
        onCreated()
        FaultInjection.point("add-after-veth")
        guard let host = try node.link(named: hostName) else {
            throw CNIError(.datapathFailure, "host interface \(hostName) vanished after it was created")
        }
        try node.setAlias(index: host.index,
                          alias: StoreRecovery.alias(network: plan.name, owner: Owner(containerID: containerID, ifname: ifname), addresses: addresses))
        // Hairpin lets a pod's own traffic, DNATed back to it by kube-proxy on the bridge, leave by the port it came in.
        if plan.hairpinMode { try node.setHairpin(index: host.index, on: true) }
        try Sysctl.write("net/ipv6/conf/\(hostName)/accept_ra", "0", optional: true)

        guard let podLink = try pod.link(named: ifname) else {
            throw CNIError(.datapathFailure, "\(ifname) vanished from \(namespace.path) after it was created")
        }
        if plan.ranges.contains(where: { $0.family == .v6 }) {
            // DAD would hold the link-local address "tentative" after the link comes up; the global
            // address skips it through IFA_F_NODAD. /proc/sys shows the writing thread's namespace.
            try namespace.run { try Sysctl.write("net/ipv6/conf/\(ifname)/accept_dad", "0", optional: true) }
        }
        let loopbackIndex: Int32 = 1
        try pod.setLinkUp(index: loopbackIndex)
        try pod.setLinkUp(index: podLink.index)

        var ips: [CNIResult.IPConfig] = []
        for address in addresses {
            guard let range = plan.ranges.first(where: { $0.family == address.family }),
                  let assigned = IPNetwork(address: address, prefixLength: range.subnet.prefixLength)
            else { continue }
            try pod.addAddress(assigned, index: podLink.index)
            ips.append(CNIResult.IPConfig(address: assigned, gateway: range.gateway, interface: 2))
        }
        for route in plan.routes {
            try pod.addRoute(route.destination, gateway: route.gateway, index: podLink.index)
        }
        return CNIResult(
            interfaces: [
                .init(name: bridge.name, mac: bridge.macText),
                .init(name: host.name, mac: host.macText),
                .init(name: ifname, mac: podLink.macText, sandbox: namespace.path, mtu: Int(podLink.mtu)),
            ],
            ips: ips,
            routes: plan.routes,
            dns: plan.dns)
    }
}
