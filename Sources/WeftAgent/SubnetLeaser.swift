import WeftAddress

/// Takes this node's subnet from the engine, flanneld's way: the lease this node already holds
/// (same PublicIP), else its previous subnet if free, else a free one; always through the engine's
/// conditional writes, so two nodes never hold one subnet.
public struct SubnetLeaser: Sendable {
    public let store: ConditionalLeaseStore
    public let config: NetConf
    public let ttl: Int
    /// Attempts before giving up when other nodes keep taking the subnets chosen.
    public let attempts: Int

    public init(store: ConditionalLeaseStore, config: NetConf, ttl: Int, attempts: Int = 10) {
        self.store = store; self.config = config; self.ttl = ttl; self.attempts = attempts
    }

    public struct Acquired: Equatable, Sendable {
        public let lease: SubnetLease
        public let grant: Int64
        /// Whether the node took back a lease it held before (its own record, or its previous subnet).
        public let renewed: Bool
    }

    public func acquire(attributes: LeaseAttributes, previous: IPNetwork?, previousIPv6: IPNetwork? = nil) async throws -> Acquired {
        for _ in 0..<attempts {
            let (stored, _) = try await store.records()
            let grant = try await store.grant(ttl: ttl)
            do {
                if let acquired = try await attempt(stored, attributes: attributes, previous: previous, previousIPv6: previousIPv6, grant: grant) {
                    return acquired
                }
            } catch {
                await giveUp(grant, after: error)
                throw error
            }
            // Another node changed the records meanwhile: start over from a fresh list.
            try? await store.revoke(grant)
        }
        throw AgentError(.engine, "could not lease a subnet after \(attempts) attempts: other nodes kept taking the ones chosen")
    }

    /// The same subnets again under a new grant, after the old grant expired: this node's record if it
    /// is still there, else a new one; nil when another node's record holds either subnet.
    public func reclaim(_ lease: SubnetLease) async throws -> Acquired? {
        for _ in 0..<attempts {
            let (stored, _) = try await store.records()
            let own = stored.first { $0.lease.keyName == lease.keyName && $0.lease.attributes.publicIP == lease.attributes.publicIP }
            let taken = stored.contains { record in
                record != own
                    && (record.lease.subnet.overlaps(lease.subnet)
                        || (record.lease.ipv6Subnet.flatMap { theirs in lease.ipv6Subnet.map { theirs.overlaps($0) } } ?? false))
            }
            if taken { return nil }
            let grant = try await store.grant(ttl: ttl)
            let written: Bool
            do {
                if let own {
                    written = try await store.replace(lease, grant: grant, modRevision: own.modRevision)
                } else {
                    written = try await store.create(lease, grant: grant)
                }
            } catch {
                await giveUp(grant, after: error)
                throw error
            }
            if written { return Acquired(lease: lease, grant: grant, renewed: true) }
            // Someone wrote the key between list and write: look again.
            try? await store.revoke(grant)
        }
        throw AgentError(.engine, "could not take back \(lease.subnet) after \(attempts) attempts: its record kept changing")
    }

    private func attempt(
        _ stored: [StoredLease], attributes: LeaseAttributes, previous: IPNetwork?, previousIPv6: IPNetwork?,
        grant: Int64
    ) async throws -> Acquired? {
        if let own = stored.first(where: { $0.lease.attributes.publicIP == attributes.publicIP }),
            SubnetChoice.isLeasable(own.lease.subnet, in: config), hasRightIPv6(own.lease)
        {
            let lease = SubnetLease(subnet: own.lease.subnet, ipv6Subnet: own.lease.ipv6Subnet, attributes: attributes)
            guard try await store.replace(lease, grant: grant, modRevision: own.modRevision) else { return nil }
            return Acquired(lease: lease, grant: grant, renewed: true)
        }
        // The node's previous subnets (its subnet.env outlived the lease: weftd was down past the TTL)
        // held by another node now: its running pods have addresses there, so leasing another subnet
        // would move the node under them. The caller gives the lease up instead (Agent.standDown).
        if let holder = stored.first(where: {
            $0.lease.attributes.publicIP != attributes.publicIP
                && Self.overlaps($0.lease, previous, previousIPv6)
        }) {
            let held = [previous, previousIPv6].compactMap { $0.map { "\($0.canonical)" } }.joined(separator: " and ")
            throw AgentError(.leaseLost, "subnet \(held) of this node's subnet.env is leased by \(holder.lease.attributes.publicIP) now")
        }
        let taken = Set(stored.map(\.lease.subnet))
        guard let subnet = SubnetChoice.choose(config, taken: taken, preferred: previous) else {
            let total = SubnetChoice.all(config).count
            throw AgentError(
                .networkFull,
                "no free subnet: all \(total) /\(config.subnetLength) subnets of \(config.network) "
                    + "between SubnetMin \(config.subnetMin) and SubnetMax \(config.subnetMax) are leased")
        }
        var ipv6Subnet: IPNetwork?
        if let ipv6 = config.ipv6 {
            ipv6Subnet = SubnetChoice.ipv6(for: subnet, config, taken: Set(stored.compactMap(\.lease.ipv6Subnet)), preferred: previousIPv6)
            guard ipv6Subnet != nil else {
                throw AgentError(
                    .networkFull,
                    "no free IPv6 subnet: all \(ipv6.count) /\(ipv6.subnetLength) subnets of \(ipv6.network) "
                        + "between IPv6SubnetMin \(ipv6.subnetMin) and IPv6SubnetMax \(ipv6.subnetMax) are leased")
            }
        }
        let lease = SubnetLease(subnet: subnet, ipv6Subnet: ipv6Subnet, attributes: attributes)
        guard try await store.create(lease, grant: grant) else { return nil }
        // A dual-stack key names both subnets, so the create-only write alone cannot stop another
        // node (a flanneld choosing its IPv6 subnet at random) from taking one of them under another
        // key: look again, and give way (the caller revokes the grant, which deletes the record).
        if ipv6Subnet != nil {
            let (after, _) = try await store.records()
            if after.contains(where: { $0.lease.keyName != lease.keyName && ($0.lease.subnet == subnet || $0.lease.ipv6Subnet == ipv6Subnet) }) {
                return nil
            }
        }
        return Acquired(lease: lease, grant: grant, renewed: subnet == previous?.canonical)
    }

    /// Revokes a grant a failed step leaves unused, unless the task was cancelled. Revoking a grant
    /// deletes every record attached to it, and a cancelled write (SIGTERM while weftd starts) may
    /// have landed before the reply was cut short: the node's own record, renewed under this grant,
    /// would be deleted with it, and its pods' subnet offered to other nodes. A cancelled step leaves
    /// the grant to expire by its TTL instead; the restarted weftd finds its record (same PublicIP)
    /// and renews it under a new grant.
    private func giveUp(_ grant: Int64, after error: any Error) async {
        if Task.isCancelled || error is CancellationError { return }
        try? await store.revoke(grant)
    }

    /// Whether `lease` (another node's) holds any of `previous`, `previousIPv6`.
    static func overlaps(_ lease: SubnetLease, _ previous: IPNetwork?, _ previousIPv6: IPNetwork?) -> Bool {
        (previous.map(lease.subnet.overlaps) ?? false)
            || (lease.ipv6Subnet.flatMap { theirs in previousIPv6.map(theirs.overlaps) } ?? false)
    }

    /// A record of this node's fits the network when it has an IPv6 subnet exactly when the network does.
    private func hasRightIPv6(_ lease: SubnetLease) -> Bool {
        guard let ipv6 = config.ipv6 else { return lease.ipv6Subnet == nil }
        return lease.ipv6Subnet.flatMap(ipv6.index(of:)) != nil
    }
}
