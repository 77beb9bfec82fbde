import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// `weft`'s ADD, DEL, STATUS and GC, for the bridge datapath (flannel's layout, VethAttachment), the
/// routed one (RoutedAttachment) and the device one (DeviceAttachment); the store, hostPorts, shaping and
/// teardown are common. CHECK lives in
/// CheckCommand.swift. Everything on the node is reached through `node`, so tests can run it in-process.
struct WeftCommands: PluginCommands {
    let environment: CNIEnvironment
    let config: NetworkConfig
    let version: CNIVersion
    let node: Node
    let loadSubnetEnv: (String) throws -> SubnetEnv

    init(
        environment: CNIEnvironment, config: NetworkConfig, version: CNIVersion, node: Node,
        loadSubnetEnv: @escaping (String) throws -> SubnetEnv
    ) {
        self.environment = environment
        self.config = config
        self.version = version
        self.node = node
        self.loadSubnetEnv = loadSubnetEnv
    }

    func attachment(network: String) -> AttachmentID {
        AttachmentID(network: network, containerID: environment.containerID, ifname: environment.ifname)
    }

    func add() throws -> CNIResult {
        let plan = try NetworkPlan.resolve(config, loadSubnetEnv: loadSubnetEnv)
        let id = attachment(network: plan.name)
        let requested = try RequestedAddresses.resolve(config, args: environment.args)
        let pod = try node.openPod(environment.netns)
        if try pod.links.link(named: environment.ifname) != nil {
            throw CNIError(.nodeConflict, "CNI_IFNAME \(environment.ifname) already exists in \(pod.path)")
        }
        let links = try node.links()
        let store = node.store(plan.dataDir, plan.name)
        let heldBefore = try store.addresses(of: id) != nil
        // Shared node state first: a node that conflicts with the config is refused before any reservation.
        var bridge: Link?
        switch plan.datapath {
        case .bridge:
            bridge = try Bridge.ensure(plan, node: links, sysctl: node.sysctl)
            // Pods on one bridge talk at layer 2: only br_netfilter hands their packets to the forward
            // hook, where policies are enforced. Without it same-node traffic would pass unfiltered.
            if plan.networkPolicy != nil {
                for key in ["net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"] where node.sysctl.read(key) != "1" {
                    try node.sysctl.write(key, "1", optional: false)
                }
            }
        case .routed(let uplink): try RoutedAttachment.prepareNode(plan, uplink: uplink, links: links, sysctl: node.sysctl)
        case .device: break
        }
        try StoreRecovery.recoverIfEmpty(store, network: plan.name, links: links)
        // Everything ADD makes registers its undo as soon as it exists; a failure undoes it all in reverse.
        var rollback: [Undo] = []
        do {
            let reservation = try store.reserve(id, netns: pod.path, ranges: plan.ranges, requested: requested)
            if !heldBefore { rollback.append { try store.release(id) } }
            // Reservations reclaimed to make room leave nothing behind, before their addresses are reused.
            try Teardown(node: node).removeReclaimed(reservation.reclaimed)
            // Flows an earlier holder of the addresses left (a DEL that never came, or failed to flush):
            // an established one would pass the new pod's NetworkPolicy, a DNATed one its old target.
            try FirewallSettle.forgetFlows(of: reservation.addresses, conntrack: node.conntrack)
            FaultInjection.point("add-after-reserve")
            // Before the pod has an interface: no packet passes before its policies are in force.
            if let setting = plan.networkPolicy {
                try PodPolicy.attach(
                    setting, args: environment.args, sandbox: environment.containerID, addresses: reservation.addresses,
                    gate: node.policy()
                ) { rollback.append($0) }
            }
            let result: CNIResult
            if let bridge {
                result = try VethAttachment(plan: plan, id: id).create(
                    bridge: bridge, links: links, pod: pod, addresses: reservation.addresses, sysctl: node.sysctl
                ) {
                    rollback.append { _ = try links.deleteLink(named: id.hostVethName) }
                }
            } else if case .device(let pool) = plan.datapath {
                // Claimed under the store's lock: concurrent ADDs never share a device. Released with the reservation.
                let claim = try store.claimDevice(id, pool: pool) { name in try links.link(named: name)?.mtu }
                try Teardown(node: node).removeReclaimed(claim.reclaimed)
                result = try DeviceAttachment(plan: plan, id: id).create(
                    claim, node: node, links: links, pod: pod,
                    addresses: reservation.addresses
                ) { rollback.append($0) }
            } else {
                guard case .routed(let uplink) = plan.datapath else { throw CNIError(.invalidConfig, "no datapath") }
                // Recorded first, so DEL finds the rules and proxy entries even after a kill in between.
                if let uplink { try store.recordUplink(id, uplink.device) }
                result = try RoutedAttachment(plan: plan, id: id, uplink: uplink).create(
                    links: links, pod: pod, addresses: reservation.addresses, sysctl: node.sysctl
                ) { rollback.append($0) }
            }
            FaultInjection.point("add-after-pod")
            if let limits = plan.bandwidth {
                guard let host = try links.link(named: id.hostVethName) else {
                    throw CNIError(.datapathFailure, "host interface \(id.hostVethName) vanished before it was shaped")
                }
                let shaper = node.shaper()
                try shaper.apply(
                    limits, hostVethIndex: host.index, attachment: id,
                    alias: id.alias(addresses: reservation.addresses.map(\.description)), mtu: plan.mtu.map(UInt32.init)
                ) {
                    rollback.append { try shaper.remove(id) }
                }
                FaultInjection.point("add-after-shaping")
            }
            // Every network writes the table, even with neither ipMasq nor hostPorts: it carries the loopback
            // guard (`localnet-input`), and kube-proxy turns route_localnet on for every interface, which
            // without the guard lets a pod's packet to 127.0.0.1 reach the node's loopback-only services.
            let firewall = node.firewall()
            // Recorded before the commit, so DEL finds every element this ADD may have made by its key
            // (and a flushed or lost table gets this pod's hostPorts back from the next ADD).
            if !plan.portMappings.isEmpty { try store.recordHostPorts(id, plan.portMappings) }
            try firewall.commit(plan, podAddresses: reservation.addresses, attachment: id, restoring: store.hostPorts)
            let committed = RecordedHostPorts(addresses: reservation.addresses, mappings: plan.portMappings)
            rollback.append { try FirewallSettle.remove(id, recorded: committed, firewall: firewall, conntrack: node.conntrack) }
            try FirewallSettle.settle(plan, localnetDevice: bridge?.name ?? id.hostVethName, sysctl: node.sysctl, conntrack: node.conntrack)
            FaultInjection.point("add-after-firewall")
            return result
        } catch {
            Rollback.run(rollback, after: error, report: node.report)
            throw error
        }
    }

    /// Best effort and repeatable: removes the veth (from the host side, which takes the pod side with it),
    /// the hostPorts, and the reservation, whether or not ADD ran and whether or not the netns still exists.
    func del() throws {
        let identity = try NetworkIdentity(config)
        let id = attachment(network: identity.name)
        let store = node.store(identity.dataDir, identity.name)
        // The record names the attachment's hostPorts: DEL then removes them by key, not by a dump of every pod's.
        let recorded = try store.recorded(id)
        try Teardown(node: node).removeFromNode(id, netns: environment.netns, recorded: recorded)
        // Best effort: a DEL must not fail on it, and the next ADD of these addresses flushes them again.
        do {
            try FirewallSettle.forgetFlows(of: recorded?.addresses ?? [], conntrack: node.conntrack)
        } catch {
            node.report("DEL \(id): the pod's conntrack flows were not flushed (the next ADD of its addresses flushes them): \(error)")
        }
        if let setting = try? NetworkPolicySetting.resolve(config.networkPolicy) {
            PodPolicy.detach(
                setting, sandbox: environment.containerID, addresses: recorded?.addresses ?? [], gate: node.policy(),
                report: node.report)
        }
        try store.release(id)
    }

    /// Ready when the subnet is known, the store takes writes and every range has a free address;
    /// code 50 with the reason otherwise.
    func status() throws {
        try Readiness.check(store: node.store) {
            let plan = try NetworkPlan.resolve(config, loadSubnetEnv: loadSubnetEnv); return (plan.name, plan.dataDir, plan.ranges)
        }
    }

    /// Removes every attachment of this network not in `cni.dev/valid-attachments` (or the older
    /// `cni.dev/attachments`): its host veth, its IFB, its hostPorts and its reservation. Keeps going past
    /// failures and reports them all.
    func gc(validAttachments: [GCInput.ValidAttachment]) throws {
        let identity = try NetworkIdentity(config)
        let store = node.store(identity.dataDir, identity.name)
        let valid = validAttachments.map { AttachmentID(network: identity.name, containerID: $0.containerID, ifname: $0.ifname) }
        let keep = Set(valid.map(\.recordName))
        let links = try node.links()
        var failures: [String] = []
        // Host veths of unlisted attachments, found through the store and through the veths' own aliases
        // (which outlive a wiped store).
        var stale: [String: AttachmentID] = [:]
        for owner in try store.owners() where !keep.contains(owner.recordName) { stale[owner.recordName] = owner }
        for link in try links.links() where link.kind == "veth" || link.kind == "ifb" {
            if let (owner, _) = link.alias.flatMap({ StoreRecovery.parse($0, network: identity.name) }), !keep.contains(owner.recordName),
                stale[owner.recordName] == nil
            {
                // An alias holds only the container's key: delete the link it is on, whatever its name.
                do { try links.deleteLink(index: link.index) } catch { failures.append("\(owner): \(ErrorMapping.cniError(error).msg)") }
            }
        }
        for (_, owner) in stale.sorted(by: { $0.key < $1.key }) {
            do {
                if let record = try store.recorded(owner), let device = record.device {
                    try DeviceAttachment.giveBack(owner, original: device, mtu: record.deviceMTU, netns: record.netns, node: node, links: links)
                }
                try links.deleteOwnedLink(named: owner.hostVethName, of: owner)
                try links.deleteOwnedLink(named: owner.ifbName, of: owner)
            } catch {
                failures.append("\(owner): \(ErrorMapping.cniError(error).msg)")
            }
        }
        do {
            try node.firewall().collectGarbage(network: identity.name, keep: Set(valid.map(\.elementTag)))
        } catch {
            failures.append("hostPorts: \(ErrorMapping.cniError(error).msg)")
        }
        failures += try store.collectGarbage(keep: keep).failures
        if !failures.isEmpty {
            throw CNIError(.ioFailure, "GC could not remove \(failures.count) attachment(s)", details: failures.joined(separator: "; "))
        }
    }
}
