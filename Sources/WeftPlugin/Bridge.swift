import WeftAddress
import WeftCNI
import WeftNetlink

/// The node's bridge for one network: created on first use, then only read.
enum Bridge {
    /// Returns the bridge, creating it (up, with the gateway addresses) when it is missing.
    /// Many ADDs race to create it on a fresh node: EEXIST from the kernel means another won, so re-read it.
    static func ensure(_ plan: NetworkPlan, node: LinkControl, sysctl: SysctlControl) throws -> Link {
        var link = try node.link(named: plan.bridge)
        if link == nil {
            // A fixed MAC, derived from the gateway: the bridge's would otherwise follow its lowest port's.
            guard let mac = PodMAC.derived(from: plan.ranges.map(\.gateway)) else {
                throw CNIError(.invalidConfig, "network \(plan.name) has no address range")
            }
            do {
                try node.createBridge(name: plan.bridge, mac: mac, mtu: plan.mtu.map(UInt32.init))
            } catch let error as NetlinkError where error.isExists {}
            link = try node.link(named: plan.bridge)
        }
        guard let bridge = link else {
            throw CNIError(.datapathFailure, "bridge \(plan.bridge) vanished while it was being set up")
        }
        guard bridge.kind == "bridge" else {
            throw CNIError(
                .nodeConflict, "\(plan.bridge) exists and is not a bridge (kind \(bridge.kind ?? "none"))",
                details: "choose another bridge name in the config, or remove the link")
        }
        if plan.isGateway { try ensureGatewayAddresses(plan, bridge: bridge, node: node) }
        if !bridge.isUp { try node.setLinkUp(index: bridge.index) }
        // promiscMode: the bridge receives every frame on its ports, as the reference bridge plugin does.
        if plan.promiscMode && !bridge.isPromiscuous { try node.setPromiscuous(index: bridge.index, on: true) }
        try configureNode(plan, sysctl: sysctl)
        return bridge
    }

    private static func ensureGatewayAddresses(_ plan: NetworkPlan, bridge: Link, node: LinkControl) throws {
        let held = try node.addresses(index: bridge.index)
        for range in plan.ranges {
            guard let wanted = IPNetwork(address: range.gateway, prefixLength: range.subnet.prefixLength) else { continue }
            if held.contains(wanted) { continue }
            if let other = held.first(where: { $0.family == wanted.family && !$0.address.isIPv6LinkLocal }) {
                throw CNIError(
                    .nodeConflict, "bridge \(plan.bridge) holds \(other), expected \(wanted)",
                    details: "another network or an old lease configured it; remove the address or the bridge")
            }
            do {
                try node.addAddress(wanted, index: bridge.index)
            } catch let error as NetlinkError where error.isExists {}
        }
    }

    /// Forwarding on, router advertisements off on the bridge: the node must never take a route
    /// from an RA a pod sends (CVE-2020-10749).
    private static func configureNode(_ plan: NetworkPlan, sysctl: SysctlControl) throws {
        if plan.ranges.contains(where: { $0.family == .v4 }), sysctl.read("net/ipv4/ip_forward") != "1" {
            try sysctl.write("net/ipv4/ip_forward", "1", optional: false)
        }
        try sysctl.write("net/ipv6/conf/\(plan.bridge)/accept_ra", "0", optional: true)
        if plan.ranges.contains(where: { $0.family == .v6 }), sysctl.read("net/ipv6/conf/all/forwarding") != "1" {
            try sysctl.write("net/ipv6/conf/all/forwarding", "1", optional: false)
        }
    }
}
