import FoundationEssentials
import WeftAddress
import WeftCNI
import WeftIPAM
import WeftNetlink
import WeftNftables

/// ADD, DEL, STATUS and GC against the node. CHECK lives in CheckCommand.swift.
struct Commands {
    let environment: CNIEnvironment
    let config: NetworkConfig
    let version: CNIVersion
    let loadSubnetEnv: (String) throws -> SubnetEnv

    var owner: Owner { Owner(containerID: environment.containerID, ifname: environment.ifname) }

    var firewall: NodeFirewall {
        NodeFirewall(network: config.name, containerID: environment.containerID, ifname: environment.ifname)
    }

    func add() throws -> CNIResult {
        let plan = try NetworkPlan.resolve(config, loadSubnetEnv: loadSubnetEnv)
        let requested = try RequestedAddresses.resolve(config, args: environment.args)
        let namespace = try openPodNamespace()
        let pod = try RouteNetlink(in: namespace)
        if try pod.link(named: environment.ifname) != nil {
            throw CNIError(.nodeConflict, "CNI_IFNAME \(environment.ifname) already exists in \(namespace.path)")
        }
        let node = try RouteNetlink()
        let store = FileStore(dataDir: plan.dataDir, network: plan.name)
        let heldBefore = try store.addresses(of: owner) != nil
        // The bridge first: a node that conflicts with the config is refused before any reservation.
        let bridge = try Bridge.ensure(plan, node: node)
        try StoreRecovery.recoverIfEmpty(store, network: plan.name, node: node)
        var rollback: [() -> Void] = []
        do {
            let addresses = try store.reserve(owner, netns: namespace.path, ranges: plan.ranges, requested: requested)
            if !heldBefore { rollback.append { _ = try? store.release(owner) } }
            FaultInjection.point("add-after-reserve")
            let attachment = Attachment(plan: plan, containerID: environment.containerID, ifname: environment.ifname)
            let result = try attachment.create(bridge: bridge, node: node, pod: pod, namespace: namespace, addresses: addresses) {
                rollback.append { _ = try? node.deleteLink(named: attachment.hostName) }
            }
            FaultInjection.point("add-after-pod")
            if NodeFirewall.needed(plan) {
                // One nftables transaction: all of it lands or none, so a failure leaves nothing to undo there.
                try firewall.install(plan, podAddresses: addresses, store: store, storeOwner: owner)
            }
            FaultInjection.point("add-after-firewall")
            return result
        } catch {
            for undo in rollback.reversed() { undo() }
            throw error
        }
    }

    /// Best effort and repeatable: removes the veth (from the host side, which takes the pod side with it)
    /// and releases the addresses, whether or not ADD ran and whether or not the netns still exists.
    func del() throws {
        let identity = try NetworkIdentity(config)
        let hostName = Naming.hostVeth(network: identity.name, containerID: environment.containerID, ifname: environment.ifname)
        let node = try RouteNetlink()
        let removed = try node.deleteLink(named: hostName)
        if !removed, !environment.netns.isEmpty,
           let namespace = try? NetworkNamespace(path: environment.netns), !namespace.isCurrentThreadNamespace,
           let pod = try? RouteNetlink(in: namespace),
           let link = try pod.link(named: environment.ifname), link.kind == "veth" {
            // The host end was renamed or moved: the pod end is still ours to remove.
            try pod.deleteLink(index: link.index)
        }
        try firewall.remove()
        try FileStore(dataDir: identity.dataDir, network: identity.name).release(owner)
    }

    /// Ready when the subnet is known, the store takes writes and every range has a free address;
    /// code 50 with the reason otherwise.
    func status() throws {
        try Readiness.check { let plan = try NetworkPlan.resolve(config, loadSubnetEnv: loadSubnetEnv); return (plan.name, plan.dataDir, plan.ranges) }
    }

    /// Removes every attachment of this network not in `cni.dev/valid-attachments` (or the older `cni.dev/attachments`):
    /// its host veth and its reservation. Keeps going past failures and reports them all.
    func gc(validAttachments: [Owner]) throws {
        let identity = try NetworkIdentity(config)
        let store = FileStore(dataDir: identity.dataDir, network: identity.name)
        let valid = Set(validAttachments)
        let node = try RouteNetlink()
        var failures: [String] = []
        // Host veths of unlisted attachments, found through the store and through the veths' own aliases
        // (which outlive a wiped store).
        var stale = Set(try store.owners().filter { !valid.contains($0) })
        for link in try node.links() where link.kind == "veth" {
            if let (owner, _) = link.alias.flatMap({ StoreRecovery.parse($0, network: identity.name) }), !valid.contains(owner) {
                stale.insert(owner)
            }
        }
        for owner in stale.sorted(by: { $0.fileName < $1.fileName }) {
            do {
                try node.deleteLink(named: Naming.hostVeth(network: identity.name, containerID: owner.containerID, ifname: owner.ifname))
            } catch {
                failures.append("\(owner): \(ErrorMapping.cniError(error).msg)")
            }
        }
        do {
            let keep = Set(valid.map { HostPortElements.ownerTag(network: identity.name, containerID: $0.containerID, ifname: $0.ifname) })
            try NodeFirewall.collectGarbage(network: identity.name, keep: keep)
        } catch {
            failures.append("hostPorts: \(ErrorMapping.cniError(error).msg)")
        }
        failures += try store.collectGarbage(keep: valid).failures
        if !failures.isEmpty {
            throw CNIError(.ioFailure, "GC could not remove \(failures.count) attachment(s)", details: failures.joined(separator: "; "))
        }
    }

    /// CNI_NETNS, checked to be a namespace file other than the plugin's own before anything changes.
    func openPodNamespace() throws -> NetworkNamespace {
        let namespace: NetworkNamespace
        do {
            namespace = try NetworkNamespace(path: environment.netns)
        } catch let error as NetlinkError {
            throw CNIError(.invalidEnvironment, "CNI_NETNS \"\(Validation.printable(environment.netns))\" is not a usable network namespace",
                           details: error.description)
        }
        if namespace.isCurrentThreadNamespace {
            throw CNIError(.invalidEnvironment, "CNI_NETNS \"\(environment.netns)\" is the plugin's own network namespace",
                           details: "refusing to configure the host as a pod")
        }
        if namespace.isInitNamespace {
            throw CNIError(.invalidEnvironment, "CNI_NETNS \"\(environment.netns)\" is the init process's network namespace",
                           details: "refusing to configure the host as a pod")
        }
        return namespace
    }
}
