import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// ADD's steps, in the order `add` runs them. Each makes its feature's objects and registers their undo
/// in `undo` as each one exists.
extension WeftCommands {
    /// The node state every pod of the network shares, made or checked before anything of the pod's: the
    /// bridge (returned) and br_netfilter's switches, or the routed datapath's forwarding and proxy
    /// settings. Never undone: other pods use it.
    func prepareNode(_ plan: NetworkPlan, links: LinkControl) throws -> Link? {
        switch plan.datapath {
        case .bridge:
            let bridge = try Bridge.ensure(plan, node: links, sysctl: node.sysctl)
            // Pods on one bridge talk at layer 2: only br_netfilter hands their packets to the forward
            // hook, where policies are enforced. Without it same-node traffic would pass unfiltered.
            if plan.networkPolicy != nil {
                for key in ["net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"] where node.sysctl.read(key) != "1" {
                    try node.sysctl.write(key, "1", optional: false)
                }
            }
            return bridge
        case .routed(let uplink):
            try RoutedAttachment.prepareNode(plan, uplink: uplink, links: links, sysctl: node.sysctl)
            return nil
        case .device:
            return nil
        }
    }

    /// The pod's addresses, reserved in the store (released on undo unless this attachment held them
    /// before: a repeated ADD must not free what the first one made), with whatever their earlier holders
    /// left removed first.
    func reserve(
        _ id: AttachmentID, plan: NetworkPlan, requested: [IPAddress], pod: PodSandbox, store: AddressStore, heldBefore: Bool,
        undo: UndoLog
    ) throws -> [IPAddress] {
        let reservation = try store.reserve(id, netns: pod.path, ranges: plan.ranges, requested: requested)
        if !heldBefore { undo.register { try store.release(id) } }
        // Reservations reclaimed to make room leave nothing behind, before their addresses are reused.
        try Teardown(node: node).removeReclaimed(reservation.reclaimed)
        // Flows an earlier holder of the addresses left (a DEL that never came, or failed to flush):
        // an established one would pass the new pod's NetworkPolicy, a DNATed one its old target. Not
        // when this attachment held them already (a repeated ADD): the flows are its own pod's.
        if !heldBefore { try FirewallSettle.forgetFlows(of: reservation.addresses, conntrack: node.conntrack) }
        FaultInjection.point("add-after-reserve")
        return reservation.addresses
    }

    /// Before the pod has an interface: no packet passes before its policies are in force. A repeated ADD
    /// (`heldBefore`) registers no undo: what it would release (the claim, the isolation) is the first
    /// ADD's, still in use by its pod.
    func attachPolicy(_ plan: NetworkPlan, addresses: [IPAddress], heldBefore: Bool, undo: UndoLog) throws {
        guard let setting = plan.networkPolicy else { return }
        try PodPolicy.attach(
            setting, args: environment.args, sandbox: environment.containerID, addresses: addresses, gate: node.policy(),
            undo: heldBefore ? { _ in } : undo.register)
    }

    /// The datapath's attachment: the pod's interface, addresses and routes, and the node's side of it.
    func attach(
        _ id: AttachmentID, plan: NetworkPlan, bridge: Link?, links: LinkControl, pod: PodSandbox, store: AddressStore,
        addresses: [IPAddress], undo: UndoLog
    ) throws -> CNIResult {
        if let bridge {
            return try VethAttachment(plan: plan, id: id).create(
                bridge: bridge, links: links, pod: pod, addresses: addresses, sysctl: node.sysctl, undo: undo.register)
        }
        switch plan.datapath {
        case .device(let pool):
            // Claimed under the store's lock: concurrent ADDs never share a device. Released with the reservation.
            let claim = try store.claimDevice(id, pool: pool) { name in try links.link(named: name)?.mtu }
            try Teardown(node: node).removeReclaimed(claim.reclaimed)
            return try DeviceAttachment(plan: plan, id: id).create(claim, node: node, links: links, pod: pod, addresses: addresses, undo: undo.register)
        case .routed(let uplink):
            // Recorded first, so DEL finds the rules and proxy entries even after a kill in between.
            if let uplink { try store.recordUplink(id, uplink.device) }
            return try RoutedAttachment(plan: plan, id: id, uplink: uplink).create(
                links: links, pod: pod, addresses: addresses, sysctl: node.sysctl, undo: undo.register)
        case .bridge:
            throw CNIError(.invalidConfig, "the bridge datapath without its bridge")
        }
    }

    /// Per-pod bandwidth (`runtimeConfig.bandwidth`): the host veth's egress and an IFB for ingress.
    func shape(_ id: AttachmentID, plan: NetworkPlan, links: LinkControl, addresses: [IPAddress], undo: UndoLog) throws {
        guard let limits = plan.bandwidth else { return }
        guard let host = try links.link(named: id.hostVethName) else {
            throw CNIError(.datapathFailure, "host interface \(id.hostVethName) vanished before it was shaped")
        }
        let shaper = node.shaper()
        try shaper.apply(
            limits, hostVethIndex: host.index, attachment: id, alias: id.alias(addresses: addresses.map(\.description)),
            mtu: plan.mtu.map(UInt32.init)
        ) {
            undo.register { try shaper.remove(id) }
        }
        FaultInjection.point("add-after-shaping")
    }

    /// The node's nftables table (masquerade, hostPorts, the loopback guard) and the sysctls and flows that
    /// go with it.
    func commitFirewall(_ id: AttachmentID, plan: NetworkPlan, bridge: Link?, store: AddressStore, addresses: [IPAddress], undo: UndoLog) throws {
        // Every network writes the table, even with neither ipMasq nor hostPorts: it carries the loopback
        // guard (`localnet-input`), and kube-proxy turns route_localnet on for every interface, which
        // without the guard lets a pod's packet to 127.0.0.1 reach the node's loopback-only services.
        let firewall = node.firewall()
        // Recorded before the commit, so DEL finds every element this ADD may have made by its key
        // (and a flushed or lost table gets this pod's hostPorts back from the next ADD).
        if !plan.portMappings.isEmpty { try store.recordHostPorts(id, plan.portMappings) }
        try firewall.commit(plan, podAddresses: addresses, attachment: id, restoring: store.hostPorts)
        let committed = RecordedHostPorts(addresses: addresses, mappings: plan.portMappings)
        undo.register { try FirewallSettle.remove(id, recorded: committed, firewall: firewall, conntrack: self.node.conntrack) }
        try FirewallSettle.settle(plan, localnetDevice: bridge?.name ?? id.hostVethName, sysctl: node.sysctl, conntrack: node.conntrack)
        FaultInjection.point("add-after-firewall")
    }
}
