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

    public func acquire(attributes: LeaseAttributes, previous: IPNetwork?) async throws -> Acquired {
        for _ in 0..<attempts {
            let (stored, _) = try await store.records()
            let grant = try await store.grant(ttl: ttl)
            do {
                if let acquired = try await attempt(stored, attributes: attributes, previous: previous, grant: grant) {
                    return acquired
                }
            } catch {
                try? await store.revoke(grant)
                throw error
            }
            // Another node changed the records meanwhile: start over from a fresh list.
            try? await store.revoke(grant)
        }
        throw AgentError(.engine, "could not lease a subnet after \(attempts) attempts: other nodes kept taking the ones chosen")
    }

    private func attempt(_ stored: [StoredLease], attributes: LeaseAttributes, previous: IPNetwork?, grant: Int64) async throws -> Acquired? {
        if let own = stored.first(where: { $0.lease.attributes.publicIP == attributes.publicIP }),
           SubnetChoice.isLeasable(own.lease.subnet, in: config) {
            let lease = SubnetLease(subnet: own.lease.subnet, attributes: attributes)
            guard try await store.replace(lease, grant: grant, modRevision: own.modRevision) else { return nil }
            return Acquired(lease: lease, grant: grant, renewed: true)
        }
        let taken = Set(stored.map(\.lease.subnet))
        guard let subnet = SubnetChoice.choose(config, taken: taken, preferred: previous) else {
            let total = SubnetChoice.all(config).count
            throw AgentError(.networkFull, "no free subnet: all \(total) /\(config.subnetLength) subnets of \(config.network) "
                             + "between SubnetMin \(config.subnetMin) and SubnetMax \(config.subnetMax) are leased")
        }
        let lease = SubnetLease(subnet: subnet, attributes: attributes)
        guard try await store.create(lease, grant: grant) else { return nil }
        return Acquired(lease: lease, grant: grant, renewed: subnet == previous?.canonical)
    }
}
