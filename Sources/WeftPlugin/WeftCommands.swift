import WeftAddress
import WeftCNI
import WeftIdentity
import WeftIPAM
import WeftNetlink

/// `weft`'s ADD, DEL, STATUS and GC, for the bridge datapath (flannel's layout, VethAttachment), the
/// routed one (RoutedAttachment) and the device one (DeviceAttachment); the store, hostPorts, shaping and
/// teardown are common. ADD's steps live in AddSteps.swift, CHECK in CheckCommand.swift. Everything on the node is reached through `node`, so tests can run it in-process.
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

    /// Shared node state first (a node that conflicts with the config is refused before any
    /// reservation), then the pod's addresses, its policy, the datapath's attachment and the features on
    /// top of it (AddSteps.swift): each step registers the undo of every object it makes the moment the
    /// object exists, and a failure anywhere runs them all in reverse.
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
        let bridge = try prepareNode(plan, links: links)
        try StoreRecovery.recoverIfEmpty(store, network: plan.name, links: links)
        let undo = UndoLog()
        do {
            let addresses = try reserve(id, plan: plan, requested: requested, pod: pod, store: store, heldBefore: heldBefore, undo: undo)
            try attachPolicy(plan, addresses: addresses, heldBefore: heldBefore, undo: undo)
            let result = try attach(id, plan: plan, bridge: bridge, links: links, pod: pod, store: store, addresses: addresses, undo: undo)
            FaultInjection.point("add-after-pod")
            try shape(id, plan: plan, links: links, addresses: addresses, undo: undo)
            try commitFirewall(id, plan: plan, bridge: bridge, store: store, addresses: addresses, undo: undo)
            return result
        } catch {
            undo.run(after: error, report: node.report)
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
