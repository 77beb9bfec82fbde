import Foundation
import Logging
import WeftAddress
import WeftNetlink

extension Agent {
    /// Lists the leases, reconciles, then follows the engine's changes, reconciling after each batch.
    /// A broken stream is followed by a fresh list (changes missed meanwhile are in it) after a backoff;
    /// an engine that resumes its watch itself (kube) says so with watchBroke/watchCurrent. Either way a
    /// watch broken longer than `options.watchBrokenBound` turns /healthz red (AgentStatus.health):
    /// the routes may miss nodes that came or went. Throws only when this node's subnet went to another node.
    func watchLoop() async throws {
        var backoff = 0.2
        var listed = false
        while !Task.isCancelled {
            do {
                let (stored, cursor) = try await engine.leases()
                peers = Dictionary(stored.map { ($0.lease.subnet, $0.lease) }, uniquingKeysWith: { _, last in last })
                watching = true
                listed = true
                watchRecovered()
                await reconcile()
                backoff = 0.2
                for try await batch in engine.changes(after: cursor) {
                    for event in batch {
                        switch event {
                        case .upsert(let lease): peers[lease.subnet] = lease
                        case .removed(let subnet): peers[subnet] = nil
                        case .watchBroke(let reason): watchBroke(reason)
                        case .watchCurrent: watchRecovered()
                        }
                        try await guardOwnRecord(event)
                    }
                    if batch.contains(where: \.changesLeases) { await reconcile() }
                }
            } catch let error as AgentError where error.kind == .leaseLost {
                throw error
            } catch {
                if Task.isCancelled { return }
                lastError = "\(error)"
                // Before the first list there is no watch to call broken: /healthz says "not watching yet".
                if listed { watchBroke("\(error)") }
                logger.warning("lease watch broke: listing again", metadata: ["error": "\(error)", "retryIn": "\(backoff)s"])
            }
            if Task.isCancelled { return }
            watching = false
            metrics.watchRestarts.increment()
            writeStatus()
            try? await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
            backoff = min(backoff * 2, 5)
        }
    }

    /// The lease watch failed (listing again, or the engine resuming it): broken from now unless it
    /// already was; the latest failure is what /healthz reports once the bound passes.
    func watchBroke(_ reason: String) {
        if watchBrokenSince == nil {
            watchBrokenSince = Date()
            logger.warning(
                "lease watch broken: /healthz fails if it stays so",
                metadata: [
                    "error": "\(reason)", "bound": "\(options.watchBrokenBound)s",
                ])
        }
        watchBrokenBy = reason
        writeStatus()
    }

    /// Listed again, or the resumed watch delivers: the leases are current.
    func watchRecovered() {
        guard let since = watchBrokenSince else { return }
        logger.notice("lease watch current again", metadata: ["brokenFor": "\(String(format: "%.1f", Date().timeIntervalSince(since)))s"])
        watchBrokenSince = nil
        watchBrokenBy = nil
        writeStatus()
    }

    /// This node's own record deleted (by hand, or expired while etcd was out of reach) is written
    /// again under the current grant; taken by another node, the agent gives the subnet up (loseLease):
    /// never a new subnet under running pods.
    func guardOwnRecord(_ event: LeaseEvent) async throws {
        guard let acquired, leaseLost == nil else { return }
        let own = acquired.lease
        switch event {
        case .removed(let subnet) where subnet == own.subnet:
            if try await engine.restore(own, grant: acquired.grant) {
                logger.warning("own lease record was deleted: written again", metadata: ["subnet": "\(own.subnet)"])
                peers[own.subnet] = own
            }
        case .upsert(let lease) where lease.subnet == own.subnet && lease.attributes.publicIP != own.attributes.publicIP:
            loseLease("subnet \(own.subnet) is now leased by \(lease.attributes.publicIP)")
        default:
            break
        }
    }

    /// Makes the kernel match the leases: every remote lease connected, nothing else of the agent's left.
    func reconcile() async {
        guard let config, let acquired, let links, let underlay else { return }
        let began = Date()
        let own = acquired.lease.subnet
        let remote = peers.values.filter { $0.subnet != own || $0.attributes.publicIP != acquired.lease.attributes.publicIP }
            .sorted { $0.subnet.description < $1.subnet.description }
        let (trusted, refused) = PeerTrust.check(remote, own: acquired.lease, config: config)
        for lease in refused where !self.refused.contains(lease.subnet) {
            logger.error("lease refused: no route to it", metadata: ["subnet": "\(lease.subnet)", "reason": "\(lease.reason)"])
        }
        self.refused = Set(refused.map(\.subnet))
        let (reachable, unreachableNow) = FabricPlan.reachable(trusted, backend: config.backend, underlayNetworks: underlay.networks)
        for subnet in unreachableNow.subtracting(unreachable) {
            logger.error(
                "host-gw peer is not on this node's L2 segment: no route to its subnet",
                metadata: [
                    "subnet": "\(subnet)", "publicIP": "\(peers[subnet]?.attributes.publicIP.description ?? "")",
                    "underlay": "\(underlay.name) \(underlay.networks.map(\.description).joined(separator: ","))",
                ])
        }
        unreachable = unreachableNow
        let desired = FabricPlan.desired(peers: reachable, own: (own, acquired.lease.ipv6Subnet != nil), backend: config.backend, links: links)
        let fabric = self.fabric
        do {
            let (diff, failures, foreign) = try await kernel.run { () -> (FabricDiff, [Error], Set<IPNetwork>) in
                // A route weftd did not make is never replaced, whatever a lease says.
                let foreign = try fabric.foreignRouteDestinations()
                var wanted = desired
                wanted.routes = wanted.routes.filter { !foreign.contains($0.destination) }
                let diff = FabricDiff(desired: wanted, present: try fabric.present(links: links))
                return (diff, fabric.apply(diff), foreign.intersection(desired.routes.map(\.destination)))
            }
            for destination in foreign.subtracting(foreignKept) {
                logger.error("a route weftd did not make is in the way of a lease: left alone", metadata: ["destination": "\(destination)"])
            }
            foreignKept = foreign
            log(diff)
            for failure in failures {
                logger.error("kernel refused a fabric change", metadata: ["error": "\(failure)"])
            }
            record(errors: failures.count, lastError: failures.last.map { "\($0)" })
            reconcileFailing = !failures.isEmpty
        } catch {
            logger.error("reconcile failed", metadata: ["error": "\(error)"])
            record(errors: 1, lastError: "\(error)")
            reconcileFailing = true
        }
        if reconcileFailing { reconcileRetry.failed() }
        metrics.reconciles.increment()
        metrics.peers.set(Double(reachable.count))
        metrics.unreachablePeers.set(Double(unreachableNow.count))
        metrics.reconcileSeconds.recordSeconds(Date().timeIntervalSince(began))
        lastReconcileAt = Date()
        if !announcedReady {
            announcedReady = true
            logger.info(
                "fabric ready",
                metadata: [
                    "peers": "\(reachable.count)",
                    "sinceStart": "\(String(format: "%.3f", Date().timeIntervalSince(started)))s",
                ])
        }
        writeStatus()
    }

    /// The retry timer's reconcile (RetryTimer): the same leases, the kernel asked again.
    func retryReconcile() async {
        metrics.reconcileRetries.increment()
        logger.info("reconciling again after the kernel refused a change")
        await reconcile()
    }

    private func record(errors: Int, lastError error: String?) {
        guard errors > 0 else { return }
        reconcileErrors += errors
        metrics.reconcileErrors.increment(by: Int64(errors))
        lastError = error
    }

    private func log(_ diff: FabricDiff) {
        // Routes as `ip route` shows them, with the device's name.
        func text(_ route: FabricRoute) -> String {
            let device =
                route.outputIndex == links?.vxlanIndex
                ? vxlanName
                : route.outputIndex == links?.ipv6VxlanIndex
                    ? vxlanName.map { $0.replacingOccurrences(of: "weft.", with: "weft-v6.") }
                    : route.outputIndex == underlay?.index ? underlay?.name : nil
            return "\(route.destination) via \(route.gateway) dev \(device ?? String(route.outputIndex))\(route.onlink ? " onlink" : "")"
        }
        for route in diff.routesToDelete { logger.info("removed route", metadata: ["route": "\(text(route))"]) }
        for route in diff.routesToSet { logger.info("set route", metadata: ["route": "\(text(route))"]) }
        for entry in diff.neighboursToDelete { logger.debug("removed neighbour", metadata: ["entry": "\(entry)"]) }
        for entry in diff.neighboursToSet { logger.debug("set neighbour", metadata: ["entry": "\(entry)"]) }
        for entry in diff.forwardingToDelete { logger.debug("removed fdb entry", metadata: ["entry": "\(entry)"]) }
        for entry in diff.forwardingToSet { logger.debug("set fdb entry", metadata: ["entry": "\(entry)"]) }
    }

    /// The state file behind `weftd status` and /healthz.
    func writeStatus() {
        guard let status = status() else { return }
        // The file first: once /healthz (the box) says a state, `weftd status` reads it too.
        do { try status.write(to: options.stateFile) } catch {
            logger.warning("cannot write the state file", metadata: ["path": "\(options.stateFile)", "error": "\(error)"])
        }
        healthBox.store(status)
    }

    public func status() -> AgentStatus? {
        // Without a lease there is nothing to say yet, unless it was lost before this start (standDown).
        guard let config, let underlay, acquired != nil || leaseLost != nil else { return nil }
        let ownSubnet = acquired?.lease.subnet ?? lostSubnet
        let peerList = peers.values.filter { $0.subnet != ownSubnet }.map { lease in
            AgentStatus.Peer(
                subnet: "\(lease.subnet)", publicIP: "\(lease.attributes.publicIP)", backendType: lease.attributes.backendType,
                vtepMAC: lease.attributes.vtepMAC.map(MAC.text),
                connected: lease.attributes.backendType == config.backend.typeName && !unreachable.contains(lease.subnet)
                    && !refused.contains(lease.subnet))
        }
        var status = AgentStatus(
            pid: getpid(), engine: engineName, backend: config.backend.typeName, network: "\(config.network)",
            subnet: ownSubnet.map { "\($0)" } ?? "none", publicIP: "\(underlay.publicIP)", underlay: underlay.name,
            device: vxlanName, vtepMAC: acquired?.lease.attributes.vtepMAC.map(MAC.text), mtu: mtu,
            leaseTTLSeconds: options.leaseTTL, leaseID: acquired.map { String($0.grant) } ?? "none",
            leaseExpiresAt: acquired == nil ? nil : leaseExpiresAt,
            peers: peerList, watching: watching, renewalFailure: renewalFailure, lastReconcileAt: lastReconcileAt,
            reconcileErrors: reconcileErrors, lastError: lastError, updatedAt: Date())
        status.leaseLost = leaseLost
        if let watchBrokenSince {
            status.watchBrokenSince = watchBrokenSince
            status.watchBrokenBy = watchBrokenBy
        }
        status.watchBrokenBoundSeconds = options.watchBrokenBound
        status.ipv6Subnet = acquired?.lease.ipv6Subnet.map { "\($0)" }
        status.publicIPv6 = underlay.publicIPv6.map { "\($0)" }
        return status
    }
}
